// The legacy attach/detach actions (docs/cinder-compatibility.md#legacy-attach-and-detach). Each precondition is one conditional UPDATE;
// the message for a failed swap re-reads the status only to say what it is.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import * as volumeEvents from '../store/events.js';
import { dbBool, nowTimestamp, toBool } from '../store/schema.js';
import type { Deps } from './deps.js';
import { MIGRATION_AT_REST, orList } from './states.js';
import { loadRow } from './loader.js';
import { requireAdmin, requireMember } from './policy.js';
import type { connectionActions } from './connection-actions.js';
import { deletionAllowed } from './deletion-guard.js';
import { cleanupAfterDetach, regrantAttachedInitiators } from './exports.js';
import type { AttachRequest } from './model.js';
import { actorOf, tracked, type Actor } from './events.js';
import { CONNECTION_EXPIRED } from './leases.js';
import { messageOrigin, recordMessage } from './message-record.js';
import { Action, Detail } from './message-fields.js';

/** The readonly flag refuses the requested mode (Cinder's InvalidVolumeAttachMode). */
class AttachModeInvalid extends CinderFault {}

/**
 * Statuses in which os-attach is refused besides maintenance: a host task owns the volume (Cinder lets an
 * attach land on an extending or deleting volume, and the task's final swap then loses the attach or the size).
 */
export const ATTACH_REFUSED_STATUSES = ['creating', 'deleting', 'error_deleting', 'extending'] as const;

/** Cinder's sanitize_hostname: what attached_host stores for a host attach. */
export function sanitizeHostname(name: string): string {
  return name
    .replace(/[ _]/g, '-')
    .replace(/[^\w.-]+/g, '')
    .toLowerCase()
    .replace(/^[.-]+|[.-]+$/g, '');
}

export function attachActions(deps: Deps, conn: ReturnType<typeof connectionActions>) {
  const { store, logger } = deps;
  const db = store.db;

  async function currentStatus(id: string): Promise<string> {
    return (await volumes.findVolume(db, id))?.status ?? 'deleted';
  }

  async function reserve(ctx: RequestContext, id: string): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:reserve');
    const multiattach = toBool(row.multiattach);
    const allowed = multiattach ? ['available', 'in-use'] : ['available'];
    if (!(await tracked(deps, actorOf(ctx), 'reserve', id, (trx) => volumes.casVolume(trx, id, { status: 'attaching' }, { status: allowed, multiattach }), { scope: 'volume' }))) {
      throw invalidVolume(`Volume status must be ${orList(allowed)} to reserve, but the status is ${await currentStatus(id)}.`);
    }
  }

  async function unreserve(ctx: RequestContext, id: string): Promise<void> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:unreserve');
    // Never fails: a volume that is not attaching is left alone (docs/cinder-compatibility.md#reserve-and-unreserve).
    await tracked(deps, actorOf(ctx), 'unreserve', id, (trx) => volumes.unreserve(trx, id), { scope: 'volume' });
  }

  async function beginDetaching(ctx: RequestContext, id: string): Promise<void> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:begin_detaching');
    const ok = await tracked(deps, actorOf(ctx), 'begin_detaching', id, (trx) =>
      volumes.casVolume(trx, id, { status: 'detaching' }, { status: ['in-use'], attachStatus: ['attached'], migrationStatus: MIGRATION_AT_REST }), { scope: 'volume' },
    );
    if (ok) return;
    const now = await volumes.findVolume(db, id);
    // A migrating volume answers 202 and stays as it is, so the user never sees it detaching.
    if (now && !MIGRATION_AT_REST.includes(now.migration_status)) return;
    throw invalidVolume("Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.");
  }

  async function rollDetaching(ctx: RequestContext, id: string): Promise<void> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:roll_detaching');
    const rolled = await tracked(deps, actorOf(ctx), 'roll_detaching', id, (trx) => volumes.casVolume(trx, id, { status: 'in-use' }, { status: ['detaching'] }), { scope: 'volume' });
    if (rolled) await regrantAttachedInitiators(deps, id);
  }

  async function attach(ctx: RequestContext, id: string, req: AttachRequest): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:attach');
    if (row.status === 'maintenance') throw invalidVolume('The volume cannot be attached in maintenance mode.');
    const mode = req.mode ?? 'rw';
    const hostName = req.hostName ? sanitizeHostname(req.hostName) : null;
    const instanceUuid = req.instanceUuid ?? null;
    try {
      await attachInTransaction();
    } catch (err) {
      // Cinder's manager records a user message when the mode does not fit the readonly flag
      // (cinder/volume/manager.py attach_volume: InvalidVolumeAttachMode maps to VOLUME_ATTACH_MODE_INVALID).
      if (err instanceof AttachModeInvalid) {
        await recordMessage(deps, messageOrigin(ctx), { action: Action.ATTACH_VOLUME, detail: Detail.VOLUME_ATTACH_MODE_INVALID, resourceUuid: id });
      }
      throw err;
    }

    async function attachInTransaction() {
      await tracked(deps, actorOf(ctx), 'attach', id, async (trx, before) => {
        const admin = (await volumes.getMetadata(trx, 'volume_admin_metadata', [id])).get(id) ?? {};
        const readonly = admin.readonly ?? (await volumes.setMetadataDefault(trx, 'volume_admin_metadata', id, 'readonly', 'False'));
        if (readonly === 'True' && mode !== 'ro') throw new AttachModeInvalid(400, `Invalid attaching mode '${mode}' for volume ${id}.`);
        if (before.volume?.status === 'attaching' && admin.attached_mode && admin.attached_mode !== mode) {
          throw invalidVolume('being attached by different mode');
        }
        // Idempotent: the same instance (or host) attaching again gets its existing attachment back.
        const live = [...before.attachments.values()];
        const same = live.find((a) => (instanceUuid ? a.instance_uuid === instanceUuid : hostName !== null && a.attached_host === hostName && !a.instance_uuid));
        if (same) {
          await volumes.updateVolume(trx, id, { status: 'in-use' });
          return;
        }
        // The precondition as one swap: a non-multiattach volume must not already be in use
        // (unless it is migrating), and maintenance is re-checked against the committed row.
        const ok = await volumes.claimForAttach(trx, id, { refused: ['maintenance', ...ATTACH_REFUSED_STATUSES], migrationAtRest: MIGRATION_AT_REST });
        if (!ok) {
          const cur = await volumes.findVolume(trx, id);
          if (cur?.status === 'maintenance') throw invalidVolume('The volume cannot be attached in maintenance mode.');
          if (cur && (ATTACH_REFUSED_STATUSES as readonly string[]).includes(cur.status)) {
            throw invalidVolume(`The volume cannot be attached while its status is ${cur.status}.`);
          }
          throw invalidVolume('volume is already attached and multiple attachments are not enabled');
        }
        const claimed = await connections.claimNewest(trx, id);
        // Unlike Cinder (docs/cinder-compatibility.md#attach): os-attach on an available volume is accepted without
        // os-reserve or a connection (tempest does so), but not right after the reconciler rolled back a reservation
        // whose initialize_connection had made an export, or closed such a connection of an unreserved volume that
        // nobody attached in time: that client would hold a volume in-use that its initiator cannot log in to. It is
        // told to start over; any later event of the volume (a reserve) or a new connection lifts this.
        const last = claimed ? undefined : await volumeEvents.lastEvent(trx, id);
        if (last?.action === CONNECTION_EXPIRED) {
          throw invalidVolume(
            last.from_status === 'attaching'
              ? 'The reservation of the volume expired and its connection was closed; reserve it and initialize the connection again before attaching.'
              : 'The connection initialize_connection opened for the volume expired unused and was closed; initialize the connection again before attaching.',
          );
        }
        const ts = nowTimestamp();
        await attachments.insertAttachment(trx, {
          id: randomUUID(),
          volume_id: id,
          instance_uuid: instanceUuid,
          attached_host: hostName,
          mountpoint: req.mountpoint,
          attach_time: ts,
          detach_time: null,
          attach_status: 'attached',
          attach_mode: mode,
          connection_info: null,
          connector: claimed?.connector ?? null,
          initiator: claimed?.initiator ?? null,
          created_at: ts,
          updated_at: null,
          deleted_at: null,
          deleted: dbBool(false),
        });
        await volumes.setMetadataItems(trx, 'volume_admin_metadata', id, { attached_mode: mode });
        await attachments.recomputeVolumeStatus(trx, id);
      }, { scope: 'volume' });
    }
  }

  /** detach_volume of the manager, after the API checks; returns nothing, errors are CinderFaults. */
  async function finishDetach(actor: Actor, action: string, id: string, attachmentId: string | null | undefined): Promise<void> {
    const gone = await tracked(deps, actor, action, id, async (trx, before) => {
      let target: attachments.AttachmentRow | undefined;
      if (attachmentId) {
        target = await attachments.findLiveAttachment(trx, attachmentId);
        if (!target || target.volume_id !== id) {
          // Unknown attachment: only the status is recomputed (Cinder's manager does the same).
          await attachments.recomputeVolumeStatus(trx, id);
          return undefined;
        }
      } else {
        const live = [...before.attachments.values()];
        if (live.length > 1) throw invalidVolume('Detach volume failed: More than one attachment, but no attachment_id provided.');
        if (live.length === 0) {
          await volumes.updateVolume(trx, id, { status: 'available', attach_status: 'detached' });
          return undefined;
        }
        target = live[0];
      }
      await attachments.softDeleteAttachment(trx, target.id);
      await volumes.deleteMetadataKey(trx, 'volume_admin_metadata', id, 'attached_mode');
      await attachments.recomputeVolumeStatus(trx, id);
      return target;
    }, { scope: 'volume' });
    if (!gone) return;
    const row = await volumes.findVolume(db, id);
    if (row) await cleanupAfterDetach(deps, row, gone);
  }

  async function detach(ctx: RequestContext, id: string, attachmentId?: string | null): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:detach');
    await deletionAllowed(deps, ctx, id, attachmentId);
    if (row.status === 'maintenance') throw invalidVolume('The volume cannot be detached in maintenance mode.');
    await finishDetach(actorOf(ctx), 'detach', id, attachmentId);
  }

  async function forceDetach(ctx: RequestContext, id: string, req: { connector?: unknown; attachmentId?: string | null }): Promise<void> {
    await loadRow(db, ctx, id);
    requireAdmin(ctx, 'volume_extension:volume_admin_actions:force_detach');
    await deletionAllowed(deps, ctx, id, null);
    const row = (await volumes.findVolume(db, id))!;
    await conn.revokeInitiator(row, req.connector ?? null);
    await tracked(deps, actorOf(ctx), 'force_detach', id, (trx) => volumes.unreserve(trx, id), { scope: 'volume' });
    await deletionAllowed(deps, ctx, id, req.attachmentId);
    try {
      await finishDetach(actorOf(ctx), 'force_detach', id, req.attachmentId);
    } catch (err) {
      if (err instanceof CinderFault && err.status === 400) {
        logger.info({ volumeId: id }, 'force detach refused');
        throw new CinderFault(400, `Error force detaching volume - ${err.message}`);
      }
      throw err;
    }
  }

  return { reserve, unreserve, beginDetaching, rollDetaching, attach, detach, forceDetach };
}
