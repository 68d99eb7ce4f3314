// os-initialize_connection / os-terminate_connection (docs/cinder-compatibility.md#export-pipeline, 4.5); the export and ACL bookkeeping
// they share with the other attach paths is in exports.ts.
import { invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import type { Deps } from './deps.js';
import { loadRow, volumeRef } from './loader.js';
import { requireMember } from './policy.js';
import type { ConnectionInfo } from './model.js';
import { accessModeFor, initiatorOf, validateConnector } from './connector.js';
import { deletionAllowed } from './deletion-guard.js';
import { allowedInitiators, hostOf, openConnection, removeExportIfUnused } from './exports.js';
import { hostFault, isClientFault } from './host-faults.js';
import { actorOf, tracked } from './events.js';
import { leaseDeadline } from './leases.js';

/** No export may be made for a volume whose backing file is being made or removed. */
const CONNECT_REFUSED_STATUSES = ['creating', 'deleting', 'error_deleting'];

export function connectionActions(deps: Deps) {
  const { store, logger } = deps;
  const db = store.db;

  async function initializeConnection(ctx: RequestContext, id: string, connector: unknown): Promise<ConnectionInfo> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:initialize_connection');
    if (row.status === 'maintenance') throw invalidVolume('The volume connection cannot be initialized in maintenance mode.');
    if (CONNECT_REFUSED_STATUSES.includes(row.status)) {
      throw invalidVolume(`The volume connection cannot be initialized while its status is ${row.status}.`);
    }
    const valid = validateConnector(connector);
    const adminMeta = (await volumes.getMetadata(db, 'volume_admin_metadata', [id])).get(id) ?? {};
    const mode = accessModeFor(adminMeta);
    // The pending connection carries the mode it was opened in; the initiator's entry also serves its other attachments.
    const pendingConnector = JSON.stringify({ ...valid.connector, mode });
    const [live, pending] = await Promise.all([attachments.liveAttachments(db, [id]), connections.pendingFor(db, id)]);
    const aclMode = allowedInitiators(live, [...pending, { initiator: valid.initiator, connector: pendingConnector }]).get(valid.initiator)!;
    // Progress on a legacy reservation (os-reserve -> here -> os-attach): its lease starts again, so only a client
    // that stalls a whole lease after its last step has the reservation, and the connection made here, rolled back.
    try {
      // Recorded before the host is called, so that an ACL refresh running meanwhile sees this initiator as
      // in use; a delete that raced ahead leaves nothing to record, and the host call below then fails.
      // One transaction with the lease renewal: one durable commit before the host call, not two.
      await store.volumeTransaction(id, async (trx) => {
        await volumes.renewLease(trx, id, 'attaching', leaseDeadline(deps.leases, 'attaching')!);
        await connections.recordPending(trx, id, valid.initiator, pendingConnector);
      });
      return await openConnection(deps, row, valid, { aclMode, accessMode: mode });
    } catch (err) {
      await connections.dropPending(db, id, valid.initiator);
      if (!isClientFault(err)) {
        logger.error({ err, volumeId: id }, 'initialize_connection failed');
        // A delete that won the race is the client's problem to hear about, not a backend failure.
        const now = await volumes.findVolume(db, id);
        if (!now || CONNECT_REFUSED_STATUSES.includes(now.status)) {
          throw invalidVolume(`The volume connection cannot be initialized while its status is ${now?.status ?? 'deleted'}.`);
        }
      }
      throw hostFault(err, 'Unable to fetch connection information from backend.');
    }
  }

  async function terminateConnection(ctx: RequestContext, id: string, connector: unknown): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:terminate_connection');
    await deletionAllowed(deps, ctx, id, null);
    await revokeInitiator(row, connector);
    // Cinder's API unreserves after terminate, so a failed attach rolls back (attaching -> available/in-use).
    await tracked(deps, actorOf(ctx), 'terminate_connection', id, (trx) => volumes.unreserve(trx, id), { scope: 'volume' });
    // Better than Cinder: a rolled-back attach leaves no target behind when nothing else needs it.
    await removeExportIfUnused(deps, id);
  }

  /** terminate_connection's backend half, shared with os-force_detach. */
  async function revokeInitiator(row: volumes.VolumeRow, connector: unknown): Promise<void> {
    const initiator = initiatorOf(connector);
    if (!initiator) return;
    const revoke = await store.volumeTransaction(row.id, async (trx) => {
      await connections.dropPending(trx, row.id, initiator);
      const now = await volumes.transitionState(trx, row.id);
      const live = [...now.attachments.values()];
      const pending = await connections.pendingFor(trx, row.id);
      // While detaching, one attachment of this initiator is on its way out (os-detach follows) and keeps
      // nothing; otherwise (a failed attach rolling back) any live user keeps the entry.
      const leaving = now.volume && !now.volume.deleted && now.volume.status === 'detaching' ? live.findIndex((a) => a.initiator === initiator && !a.attach_status.startsWith('error_')) : -1;
      return !allowedInitiators(live.filter((_, i) => i !== leaving), pending).has(initiator);
    });
    if (!revoke || !row.provider_location) return;
    try {
      await hostOf(deps, row).disconnect(volumeRef(row), initiator, { dropExport: false });
    } catch (err) {
      logger.error({ err, volumeId: row.id }, 'terminate_connection failed');
      throw hostFault(err, 'Unable to terminate volume connection from backend.');
    }
  }

  return { initializeConnection, terminateConnection, revokeInitiator };
}
