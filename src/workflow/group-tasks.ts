// The host half of group operations: a group's delete (its volumes, then the row), a group snapshot's create
// and delete, and a group made from a source group or group snapshot. Started by a request (groups.ts,
// group-snapshots.ts), finished after a crash by the reconciler. Each host call is idempotent and every member
// changes state together with its group in one transaction, so a kill -9 at any point ends, after restart, in
// the finished operation or `error` — never a file without its row or a row without its file.
import * as volumes from '../store/volumes.js';
import * as snapshots from '../store/snapshots.js';
import * as groups from '../store/groups.js';
import { nowTimestamp } from '../store/schema.js';
import type { CopySource } from '../host/types.js';
import type { Deps } from './deps.js';
import { tracked, type Actor } from './events.js';
import { hostTasks, reasonOf } from './host-tasks.js';
import { deleteGroupRow, deleteSnapshotRow } from './quotas.js';
import { leftToHost } from './host-faults.js';

/** The lease of a group or group snapshot entering a host-task status (creating, deleting): Deps.leases.taskMs. */
export function groupLease(deps: Pick<Deps, 'leases'>): string {
  return nowTimestamp(new Date(Date.now() + deps.leases.taskMs));
}

/** What a volume of a group made from a source copies. */
function copySourceOf(v: volumes.VolumeRow): CopySource | null {
  if (v.snapshot_id) return { kind: 'snapshot', id: v.snapshot_id };
  if (v.source_volid) return { kind: 'volume', id: v.source_volid };
  return null;
}

export function groupTasks(deps: Deps) {
  const { logger, store } = deps;
  const db = store.db;

  const volumeTasks = hostTasks(deps);

  /** Members of a group snapshot and the group snapshot itself move from `from` to `to` together. */
  async function settleGroupSnapshot(id: string, from: string, to: string, memberChanges: snapshots.SnapshotChanges): Promise<void> {
    await store.transaction(async (trx) => {
      if (!(await groups.casGroupSnapshot(trx, id, { status: to, lease_expires_at: null }, { status: [from] }))) return;
      for (const s of await groups.snapshotsOfGroupSnapshot(trx, id)) {
        await snapshots.casSnapshot(trx, s.id, { ...memberChanges, lease_expires_at: null }, { status: [from] });
      }
    });
  }

  /** All members are taken in one host call, quiesced together; then all rows become available at once. */
  async function finishGroupSnapshotCreate(gs: { id: string }, host: string | null): Promise<void> {
    try {
      const members = await groups.snapshotsOfGroupSnapshot(db, gs.id);
      await deps.hosts.byName(host).createGroupSnapshot(members.map((s) => ({ volumeId: s.volume_id, snapshotId: s.id })));
      await settleGroupSnapshot(gs.id, 'creating', 'available', { status: 'available', progress: '100%' });
    } catch (err) {
      if (leftToHost(logger, err, gs.id)) return;
      logger.error({ err, groupSnapshotId: gs.id }, 'group snapshot create failed');
      await settleGroupSnapshot(gs.id, 'creating', 'error', { status: 'error' });
    }
  }

  /** Each member's file goes, then its row (with its quota charge); the group snapshot row goes last. */
  async function finishGroupSnapshotDelete(gs: { id: string }, host: string | null): Promise<void> {
    try {
      const h = deps.hosts.byName(host);
      for (const s of await groups.snapshotsOfGroupSnapshot(db, gs.id)) {
        await h.deleteSnapshot(s.volume_id, s.id);
        await store.transaction(async (trx) => {
          const now = await snapshots.findSnapshot(trx, s.id);
          if (now?.status === 'deleting') await deleteSnapshotRow(trx, s.id);
        });
      }
      await store.transaction(async (trx) => {
        const now = await groups.findGroupSnapshot(trx, gs.id);
        if (now?.status === 'deleting' && (await groups.snapshotsOfGroupSnapshot(trx, gs.id)).length === 0) await groups.softDeleteGroupSnapshot(trx, gs.id);
      });
    } catch (err) {
      if (leftToHost(logger, err, gs.id)) return;
      logger.error({ err, groupSnapshotId: gs.id }, 'group snapshot delete failed');
      await settleGroupSnapshot(gs.id, 'deleting', 'error_deleting', { status: 'error_deleting' });
    }
  }

  /**
   * The volumes marked deleting with the group are deleted (files, then rows with their quota), then the group
   * row with its `groups` charge. A volume that could not be deleted leaves the group in error (Cinder's manager).
   */
  async function finishGroupDelete(actor: Actor, group: { id: string; host: string | null }, reason?: string): Promise<void> {
    for (const v of await groups.volumesOfGroup(db, group.id)) {
      if (v.status === 'deleting') await volumeTasks.finishDelete(actor, v, reason);
    }
    await store.transaction(async (trx) => {
      const now = await groups.findGroup(trx, group.id);
      if (now?.status !== 'deleting') return;
      const left = await groups.volumesOfGroup(trx, group.id);
      if (left.length === 0) await deleteGroupRow(trx, group.id);
      else {
        logger.error({ groupId: group.id, volumeIds: left.map((v) => v.id) }, 'group delete failed: volumes are left');
        await groups.casGroup(trx, group.id, { status: 'error', lease_expires_at: null }, { status: ['deleting'] });
      }
    });
  }

  /** The group's new volumes are copied in one host call; then they and the group become available together. */
  async function finishGroupFromSource(actor: Actor, group: { id: string; host: string | null }, reason?: string): Promise<void> {
    const members = (await groups.volumesOfGroup(db, group.id)).filter((v) => v.status === 'creating');
    const settle = (status: 'available' | 'error', why: string | undefined) =>
      store.transaction(async (trx) => {
        if (!(await groups.casGroup(trx, group.id, { status, lease_expires_at: null }, { status: ['creating'] }))) return;
        for (const v of members) {
          await tracked(deps, actor, 'create', v.id, (t) => volumes.casVolume(t, v.id, { status }, { status: ['creating'] }), { reason: why, trx });
        }
      });
    try {
      const copies = members.map((v) => {
        const source = copySourceOf(v);
        if (!source) throw new Error(`volume ${v.id} of group ${group.id} has no source to copy`);
        return { volumeId: v.id, source, sizeGiB: v.size };
      });
      await deps.hosts.byName(group.host).createVolumesFrom(copies);
      await settle('available', reason);
    } catch (err) {
      if (leftToHost(logger, err, group.id)) return;
      logger.error({ err, groupId: group.id }, 'group create from source failed');
      await settle('error', `group ${group.id} from its source failed: ${reasonOf(err)}`);
    }
  }

  return { finishGroupSnapshotCreate, finishGroupSnapshotDelete, finishGroupDelete, finishGroupFromSource };
}
