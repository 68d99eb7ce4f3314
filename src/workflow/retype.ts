// os-retype without migration (cinder/volume/api.py retype, scheduler and volume manager retype). A file volume's
// bytes do not depend on its type, so a retype that stays on this backend is only a row change and happens in one
// conditional UPDATE: no interim 'retyping' state that a crash could strand. What Cinder refuses up front is a 4xx
// here too; what Cinder accepts and then fails in its scheduler or manager (no valid backend, migration needed)
// is accepted here and leaves the volume as it was, with the reason in the volume's event history.
import { CinderFault, invalidInput } from '../errors.js';
import type { RequestContext } from './context.js';
import * as volumes from '../store/volumes.js';
import * as encryption from '../store/encryption.js';
import * as events from '../store/events.js';
import { dbBool, toBool } from '../store/schema.js';
import type { Deps } from './deps.js';
import { MIGRATION_AT_REST } from './states.js';
import type { RetypeWorkflow } from './types-services-model.js';
import { loadRow } from './loader.js';
import { requireMember } from './policy.js';
import { resolveType, isMultiattachType, provisionFilterOnSize } from './volume-types.js';
import { actorOf, tracked } from './events.js';
import { servicesActions } from './services.js';
import { frontEndSpecsOfType, pushQosToVolume } from './qos-specs.js';
import { withVolumeCharge } from './quotas.js';

const RETYPE_REFUSED =
  'Retype needs volume to be in available or in-use state, not be part of an active migration or a consistency group, ' +
  'requested type has to be different that the one from the volume, and for in-use volumes front-end qos specs cannot change.';

/** Cinder's volume_types_diff on encryption: the fields that, when they differ, need the data rewritten. */
function encryptionKey(e: encryption.EncryptionRow | undefined): string | null {
  return e ? JSON.stringify([e.provider, e.cipher, e.key_size, e.control_location]) : null;
}

export function retypeActions(deps: Deps): RetypeWorkflow {
  const db = deps.store.db;
  return {
    async retype(ctx, volumeId, newType, migrationPolicy) {
      requireMember(ctx, 'volume:retype');
      const row = await loadRow(db, ctx, volumeId);
      // The API looks the type up elevated: any type, private or not, by id or name.
      const target = await resolveType(db, newType, null);
      provisionFilterOnSize(target, row.size);
      const srcMulti = toBool(row.multiattach);
      const tgtMulti = isMultiattachType(target.extraSpecs);
      if (srcMulti !== tgtMulti && row.status !== 'available') {
        throw invalidInput(
          `Invalid volume_type passed, retypes affecting multiattach are only allowed on available volumes, the specified volume however currently has a status of: ${row.status}.`,
        );
      }
      const [oldEnc, newEnc] = await Promise.all([
        row.volume_type_id ? encryption.findEncryption(db, row.volume_type_id) : Promise.resolve(undefined),
        encryption.findEncryption(db, target.id),
      ]);
      if (tgtMulti && newEnc) throw invalidInput('Retype requested both encryption and multi-attach, which is not supported.');
      if (row.volume_type_id === target.id) throw new CinderFault(400, `Invalid volume: ${RETYPE_REFUSED}`);
      // volume/api.py retype: an in-use volume keeps its front-end QoS (Nova applied it at attach).
      if (row.status === 'in-use' && (await frontEndSpecsOfType(db, row.volume_type_id, row.size)) !== (await frontEndSpecsOfType(db, target.id, row.size))) {
        throw new CinderFault(400, `Invalid volume: ${RETYPE_REFUSED}`);
      }
      const actor = actorOf(ctx);

      // What Cinder's scheduler and manager decide after the API accepted the request.
      let failure = await servicesActions(deps).placementProblem({ extraSpecs: target.extraSpecs, zone: row.availability_zone, host: row.host });
      if (failure) failure = `No valid backend was found. ${failure}`;
      else if (encryptionKey(oldEnc) !== encryptionKey(newEnc)) {
        // A changed encryption means rewriting the data (manager.py never calls driver.retype for it); embervol
        // has no volume migration, so with either policy the volume stays as it is.
        failure = migrationPolicy === 'on-demand' ? 'Retype requires migration, which this service does not support.' : 'Retype requires migration but is not allowed.';
      }

      await tracked(deps, actor, 'retype', row.id, async (trx) => {
        const values = failure ? {} : { volume_type_id: target.id, multiattach: dbBool(tgtMulti) };
        // The conditional update Cinder makes to claim the volume (not in a group: group_id None), with the type change folded in.
        // The quota charge moves from the old type's counters to the new type's in the same transaction (413 when
        // the new type's per-type limits are full).
        const ok = await withVolumeCharge(trx, row.id, () =>
          volumes.casVolume(
            trx,
            row.id,
            { ...values },
            { status: ['available', 'in-use'], migrationStatus: MIGRATION_AT_REST, multiattach: srcMulti, groupId: null },
          ),
        );
        if (!ok) throw new CinderFault(400, `Invalid volume: ${RETYPE_REFUSED}`);
        const current = await volumes.findVolume(trx, row.id);
        if (current && failure) {
          await events.insertEvents(trx, [
            {
              volumeId: row.id,
              action: 'retype',
              resourceType: 'volume',
              resourceId: row.id,
              from: current.status,
              to: current.status,
              userId: actor.userId,
              projectId: actor.projectId,
              requestId: actor.requestId,
              reason: `retype to ${target.name} failed: ${failure}`,
            },
          ]);
        }
      });
      if (failure) deps.logger.warn({ volumeId: row.id, newType: target.id, reason: failure }, 'retype not done');
      // The back-end limits of the new type reach the live export.
      else await pushQosToVolume(deps, row.id);
    },
  };
}
