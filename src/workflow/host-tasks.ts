// The host half of create / delete / extend: started by a request (lifecycle.ts), finished after a crash by
// the reconciler. Each is idempotent on the host and ends in one tracked swap.
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import * as snapshots from '../store/snapshots.js';
import type { Deps } from './deps.js';
import { pushQosToVolume } from './qos-specs.js';
import { SYSTEM_ACTOR, tracked, type Actor } from './events.js';
import { recordMessage, type MessageOrigin } from './message-record.js';
import { Action, Detail } from './message-fields.js';
import { deleteSnapshotRow, withVolumeCharge } from './quotas.js';
import { leftToHost } from './host-faults.js';

/** Error text kept in an event's reason: the first line of the message, no stack. */
export function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 500);
}

/** The volume a task is for, the host that holds it (volumes.host), and what a create copies from. */
export interface TaskVolume {
  id: string;
  host: string | null;
  snapshot_id?: string | null;
  source_volid?: string | null;
}

export function hostTasks(deps: Deps) {
  const { logger } = deps;
  const db = deps.store.db;

  /** Who a task's user message belongs to: the request that started it, else (after a restart) the volume's project. */
  async function originOf(actor: Actor, id: string): Promise<MessageOrigin> {
    const projectId = actor.projectId ?? (await volumes.findVolume(db, id))?.project_id ?? '';
    return { projectId, requestId: actor.requestId ?? SYSTEM_ACTOR.requestId! };
  }


  async function finishCreate(actor: Actor, { id, host, snapshot_id, source_volid }: TaskVolume, size: number, reason?: string): Promise<void> {
    try {
      const h = deps.hosts.byName(host);
      if (snapshot_id) await h.createVolumeFrom(id, { kind: 'snapshot', id: snapshot_id }, size);
      else if (source_volid) await h.createVolumeFrom(id, { kind: 'volume', id: source_volid }, size);
      else await h.createVolume(id, size);
      await tracked(deps, actor, 'create', id, (trx) => volumes.casVolume(trx, id, { status: 'available' }, { status: ['creating'] }), { reason });
    } catch (err) {
      if (leftToHost(logger, err, id)) return;
      logger.error({ err, volumeId: id }, 'volume create failed');
      await recordMessage(deps, await originOf(actor, id), { action: Action.CREATE_VOLUME_FROM_BACKEND, detail: Detail.DRIVER_FAILED_CREATE, resourceUuid: id });
      await tracked(deps, actor, 'create', id, (trx) => volumes.casVolume(trx, id, { status: 'error' }, { status: ['creating'] }), {
        reason: `create failed: ${reasonOf(err)}`,
      });
    }
  }

  async function finishDelete(actor: Actor, { id, host }: TaskVolume, reason?: string): Promise<void> {
    try {
      const h = deps.hosts.byName(host);
      // A cascade delete marked the snapshots deleting with the volume; their files go first, each row once its file is gone.
      for (const snap of await snapshots.snapshotsOfVolume(deps.store.db, id)) {
        if (snap.status !== 'deleting') continue;
        await h.deleteSnapshot(id, snap.id);
        await deps.store.transaction((trx) => deleteSnapshotRow(trx, snap.id));
      }
      await h.deleteVolume(id);
      await tracked(
        deps,
        actor,
        'delete',
        id,
        async (trx) => {
          const now = await volumes.findVolume(trx, id);
          if (now?.status !== 'deleting') return;
          for (const a of await attachments.liveAttachments(trx, [id])) await attachments.softDeleteAttachment(trx, a.id);
          await connections.dropPending(trx, id);
          // The quota goes back with the row, in its transaction.
          await withVolumeCharge(trx, id, () => volumes.softDeleteVolume(trx, id));
        },
        { reason },
      );
    } catch (err) {
      if (leftToHost(logger, err, id)) return;
      logger.error({ err, volumeId: id }, 'volume delete failed');
      await tracked(deps, actor, 'delete', id, (trx) => volumes.casVolume(trx, id, { status: 'error_deleting' }, { status: ['deleting'] }), {
        reason: `delete failed: ${reasonOf(err)}`,
      });
    }
  }

  /** `from` is the status to return to; null derives it from the live attachments (restart recovery). */
  async function finishExtend(actor: Actor, { id, host }: TaskVolume, newSize: number, from: string | null, reason?: string): Promise<void> {
    try {
      await deps.hosts.byName(host).extendVolume(id, newSize);
      await tracked(
        deps,
        actor,
        'extend',
        id,
        (trx) =>
          // Already charged when the extend was accepted; check: false because finishing must not be refused.
          withVolumeCharge(
            trx,
            id,
            async () => {
              if (from !== null) return volumes.casVolume(trx, id, { status: from, size: newSize, pending_size: null }, { status: ['extending'] });
              if (!(await volumes.casVolume(trx, id, { size: newSize, pending_size: null }, { status: ['extending'] }))) return false;
              await attachments.recomputeVolumeStatus(trx, id);
              return true;
            },
            { check: false },
          ),
        { reason },
      );
      // Per-GB limits follow the new size.
      await pushQosToVolume(deps, id);
    } catch (err) {
      if (leftToHost(logger, err, id)) return;
      logger.error({ err, volumeId: id }, 'volume extend failed');
      await recordMessage(deps, await originOf(actor, id), { action: Action.EXTEND_VOLUME, detail: Detail.DRIVER_FAILED_EXTEND, resourceUuid: id });
      await tracked(
        deps,
        actor,
        'extend',
        id,
        // The size the extend was charged for is given back with the status change.
        (trx) => withVolumeCharge(trx, id, () => volumes.casVolume(trx, id, { status: 'error_extending', pending_size: null }, { status: ['extending'] })),
        { reason: `extend to ${newSize} GiB failed: ${reasonOf(err)}` },
      );
    }
  }

  return { finishCreate, finishDelete, finishExtend };
}
