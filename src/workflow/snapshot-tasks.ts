// The host half of snapshot create / delete, revert, and a volume's create from a copy: started by a request
// (snapshots.ts, lifecycle.ts), finished after a crash by the reconciler. Each host call is idempotent, so
// running a task again after a kill -9 finishes it; each ends in one conditional swap of the row(s).
import * as volumes from '../store/volumes.js';
import * as snapshots from '../store/snapshots.js';
import { nowTimestamp } from '../store/schema.js';
import type { Deps } from './deps.js';
import { tracked, type Actor } from './events.js';
import { reasonOf, type TaskVolume } from './host-tasks.js';
import { deleteSnapshotRow } from './quotas.js';
import { leftToHost } from './host-faults.js';

/** The lease of a snapshot entering a host-task status (creating, deleting, restoring): Deps.leases.taskMs. */
export function snapshotLease(deps: Pick<Deps, 'leases'>): string {
  return nowTimestamp(new Date(Date.now() + deps.leases.taskMs));
}

export function snapshotTasks(deps: Deps) {
  const { logger } = deps;


  async function finishSnapshotCreate(snap: { id: string; volume_id: string }, host: string | null): Promise<void> {
    try {
      await deps.hosts.byName(host).createSnapshot(snap.volume_id, snap.id);
      await snapshots.casSnapshot(deps.store.db, snap.id, { status: 'available', progress: '100%', lease_expires_at: null }, { status: ['creating'] });
    } catch (err) {
      if (leftToHost(logger, err, snap.id)) return;
      logger.error({ err, snapshotId: snap.id, volumeId: snap.volume_id }, 'snapshot create failed');
      await snapshots.casSnapshot(deps.store.db, snap.id, { status: 'error', lease_expires_at: null }, { status: ['creating'] });
    }
  }

  async function finishSnapshotDelete(snap: { id: string; volume_id: string }, host: string | null): Promise<void> {
    try {
      await deps.hosts.byName(host).deleteSnapshot(snap.volume_id, snap.id);
      await deps.store.transaction(async (trx) => {
        const now = await snapshots.findSnapshot(trx, snap.id);
        // The quota charge goes back with the row.
        if (now?.status === 'deleting') await deleteSnapshotRow(trx, snap.id);
      });
    } catch (err) {
      if (leftToHost(logger, err, snap.id)) return;
      logger.error({ err, snapshotId: snap.id }, 'snapshot delete failed');
      await snapshots.casSnapshot(deps.store.db, snap.id, { status: 'error_deleting', lease_expires_at: null }, { status: ['deleting'] });
    }
  }

  /** Volume reverting + snapshot restoring -> both available; on failure the volume is error (Cinder's manager). */
  async function finishRevert(actor: Actor, volume: TaskVolume, snapshotId: string, reason?: string): Promise<void> {
    /** The snapshot back to available and the volume from reverting to `status`, as one tracked transition. */
    const settle = (status: 'available' | 'error', why: string | undefined) =>
      tracked(
        deps,
        actor,
        'revert',
        volume.id,
        async (trx) => {
          await snapshots.casSnapshot(trx, snapshotId, { status: 'available', lease_expires_at: null }, { status: ['restoring'] });
          return volumes.casVolume(trx, volume.id, { status }, { status: ['reverting'] });
        },
        { reason: why },
      );
    try {
      await deps.hosts.byName(volume.host).revertToSnapshot(volume.id, snapshotId);
      await settle('available', reason);
    } catch (err) {
      if (leftToHost(logger, err, volume.id)) return;
      logger.error({ err, volumeId: volume.id, snapshotId }, 'revert failed');
      await settle('error', `revert to snapshot ${snapshotId} failed: ${reasonOf(err)}`);
    }
  }

  return { finishSnapshotCreate, finishSnapshotDelete, finishRevert };
}
