// The reconciler: what makes embervol immune to Cinder's stuck states (docs/cinder-compatibility.md#known-weak-points).
//
// At start-up (before the API listens) and then periodically it
//   1. finishes host tasks (creating, extending, deleting) that no process is running: at start-up every one,
//      later only those whose lease ran out (a task this process runs is never touched);
//   2. rolls back expired leases: an unfinished attachment (reserved / attaching) is deleted, a detaching
//      attachment goes back to attached, a legacy reserve (attaching) is unreserved (with the connections
//      initialize_connection opened for it), a begin_detaching is rolled back (with its attachments' initiators
//      allowed again: its terminate_connection may have denied them), and pending connections whose attach never
//      came are dropped with their ACL entry;
//   3. restores the export of every volume that needs one (live attachment or pending connection; attaching
//      too, not only in-use) and removes targets that nothing needs;
//   4. removes backing files that have no live volume row.
// Every transition it makes is recorded as an event by the system actor, with the reason.
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import * as events from '../store/events.js';
import { nowTimestamp } from '../store/schema.js';
import type { Deps } from './deps.js';
import { cleanupAfterDetach, dropUnusedExport, regrantAttachedInitiators, restoreExport, restoreExports } from './exports.js';
import { hostTasks } from './host-tasks.js';
import { snapshotTasks } from './snapshot-tasks.js';
import * as snapshots from '../store/snapshots.js';
import * as groups from '../store/groups.js';
import { groupTasks } from './group-tasks.js';
import { SYSTEM_ACTOR, tracked } from './events.js';
import { ATTACHMENT_INTERIM, CLIENT_INTERIM_STATUSES, CONNECTION_EXPIRED, TASK_STATUSES } from './leases.js';
import type { ReconcileReport } from './model.js';
import type { VolumeHost } from '../host/types.js';

/** How many volumes (or exports, or files) a periodic pass looks at in each of its windows. */
export const RECONCILE_WINDOW = 1000;

/** Walks a list the host gives (exports, backing files) a window at a time, in id order, wrapping around. */
class WindowCursor {
  #after = '';
  take(ids: readonly string[]): string[] {
    const sorted = [...ids].sort();
    const batch = sorted.filter((id) => id > this.#after).slice(0, RECONCILE_WINDOW);
    this.#after = batch.length < RECONCILE_WINDOW ? '' : batch[batch.length - 1];
    return batch;
  }
}

function emptyReport(): ReconcileReport {
  return { tasksFinished: 0, leasesExpired: 0, pendingDropped: 0, exportsRestored: 0, exportsRemoved: 0, filesRemoved: 0, errors: 0 };
}

export function reconciler(deps: Deps) {
  const { store, logger } = deps;
  // An API process (role api) runs no host: pass() returns at once there, and only expireLeasesOf (which names its
  // host) runs; everything else here is the local host's.
  const host = deps.hosts.local as VolumeHost;
  const db = store.db;
  const tasks = hostTasks(deps);
  const snapTasks = snapshotTasks(deps);
  const groupTaskRunner = groupTasks(deps);
  const log = logger.child({ component: 'reconciler' });
  /** Targets found orphaned by the previous periodic pass: removed only when a second pass agrees. */
  let orphanSuspects = new Set<string>();
  /** Where the periodic passes' windows go on from (see reconcileExports). */
  let neededCursor = '';
  const exportCursor = new WindowCursor();
  const fileCursor = new WindowCursor();
  const snapshotFileCursor = new WindowCursor();
  let running: Promise<ReconcileReport> | null = null;

  async function step(report: ReconcileReport, what: string, volumeId: string | null, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      report.errors++;
      log.error({ err, volumeId, step: what }, 'reconcile step failed; the next pass retries');
    }
  }

  async function finishTasks(report: ReconcileReport, startup: boolean): Promise<void> {
    const rows = await volumes.volumesInStatus(db, host.hostName, TASK_STATUSES, startup ? undefined : nowTimestamp());
    for (const row of rows) {
      if (deps.busy(row.id)) continue;
      // The volumes of a group being made from a source are copied together, by the group's task (below).
      if (row.status === 'creating' && row.group_id && (await groups.findGroup(db, row.group_id))?.status === 'creating') continue;
      const why = startup ? 'resumed at start-up: the process running it stopped' : 'lease expired and no process runs the task';
      await step(report, `finish ${row.status}`, row.id, async () => {
        if (row.status === 'creating') await tasks.finishCreate(SYSTEM_ACTOR, row, row.size, why);
        else if (row.status === 'deleting') await tasks.finishDelete(SYSTEM_ACTOR, row, why);
        else if (row.status === 'reverting') {
          const restoring = (await snapshots.snapshotsOfVolume(db, row.id)).find((s) => s.status === 'restoring');
          if (restoring) await snapTasks.finishRevert(SYSTEM_ACTOR, row, restoring.id, why);
          else {
            await tracked(deps, SYSTEM_ACTOR, 'revert', row.id, (trx) => volumes.casVolume(trx, row.id, { status: 'error' }, { status: ['reverting'] }), {
              reason: `${why}; no snapshot is being restored`,
            });
          }
        }
        else if (row.pending_size) await tasks.finishExtend(SYSTEM_ACTOR, row, row.pending_size, null, why);
        else {
          await tracked(deps, SYSTEM_ACTOR, 'extend', row.id, (trx) => volumes.casVolume(trx, row.id, { status: 'error_extending' }, { status: ['extending'] }), {
            reason: `${why}; the requested size is unknown`,
          });
        }
        report.tasksFinished++;
      });
    }
    // Snapshot tasks: a create or delete that no process runs is run again (both are idempotent on the host).
    for (const snap of await snapshots.snapshotsInStatus(db, host.hostName, ['creating', 'deleting'], startup ? undefined : nowTimestamp())) {
      if (deps.busy(snap.id)) continue;
      // Members of a group snapshot are taken and removed with their group snapshot (below).
      if (snap.group_snapshot_id) continue;
      await step(report, `finish snapshot ${snap.status}`, snap.volume_id, async () => {
        if (snap.status === 'creating') await snapTasks.finishSnapshotCreate(snap, snap.host);
        else await snapTasks.finishSnapshotDelete(snap, snap.host);
        report.tasksFinished++;
      });
    }
  }

  /** Group tasks no process runs: a group made from a source, a group delete, a group snapshot's create or delete. */
  async function finishGroupTasks(report: ReconcileReport, startup: boolean): Promise<void> {
    const expiredBefore = startup ? undefined : nowTimestamp();
    const why = startup ? 'resumed at start-up: the process running it stopped' : 'lease expired and no process runs the task';
    for (const g of await groups.groupsInStatus(db, host.hostName, ['creating', 'deleting'], expiredBefore)) {
      if (deps.busy(g.id)) continue;
      await step(report, `finish group ${g.status}`, null, async () => {
        if (g.status === 'creating') await groupTaskRunner.finishGroupFromSource(SYSTEM_ACTOR, g, why);
        else await groupTaskRunner.finishGroupDelete(SYSTEM_ACTOR, g, why);
        report.tasksFinished++;
      });
    }
    for (const gs of await groups.groupSnapshotsInStatus(db, host.hostName, ['creating', 'deleting'], expiredBefore)) {
      if (deps.busy(gs.id)) continue;
      await step(report, `finish group snapshot ${gs.status}`, null, async () => {
        if (gs.status === 'creating') await groupTaskRunner.finishGroupSnapshotCreate(gs, gs.host);
        else await groupTaskRunner.finishGroupSnapshotDelete(gs, gs.host);
        report.tasksFinished++;
      });
    }
  }

  async function expireAttachments(hostName: string, report: ReconcileReport): Promise<void> {
    const now = nowTimestamp();
    for (const att of await attachments.expiredAttachments(db, hostName, ATTACHMENT_INTERIM, now)) {
      await step(report, 'expire attachment', att.volume_id, async () => {
        const reason = `lease of ${att.attach_status} expired at ${att.lease_expires_at}`;
        const gone = await tracked(
          deps,
          SYSTEM_ACTOR,
          'lease_expired',
          att.volume_id,
          async (trx) => {
            // Re-read in the transaction: the client may have finished the step meanwhile.
            const cur = await attachments.findLiveAttachment(trx, att.id);
            if (!cur || cur.attach_status !== att.attach_status || cur.lease_expires_at !== att.lease_expires_at) return null;
            if (cur.attach_status === 'detaching') {
              await attachments.updateAttachment(trx, cur.id, { attach_status: 'attached' });
              await attachments.recomputeVolumeStatus(trx, cur.volume_id);
              return null;
            }
            await attachments.softDeleteAttachment(trx, cur.id);
            await attachments.recomputeVolumeStatus(trx, cur.volume_id);
            return cur;
          },
          { reason, scope: 'volume' },
        );
        report.leasesExpired++;
        if (gone) {
          const row = await volumes.findVolume(db, att.volume_id);
          if (row) await cleanupAfterDetach(deps, row, gone);
        }
      });
    }
  }

  /**
   * Rolls back the volume states past their lease. A legacy reservation (os-reserve) of a volume nothing else uses
   * goes together with the connections os-initialize_connection opened for it (that call renews the lease, so they
   * are as old as the reservation's last progress), and the event says so (CONNECTION_EXPIRED): an os-attach that
   * comes next is refused instead of making the volume in-use with no export (workflow/attach.ts). `cleanup`: make
   * the host calls that follow (false for a host that is down: its start-up pass drops exports nothing needs).
   */
  async function expireVolumes(hostName: string, report: ReconcileReport, cleanup: boolean): Promise<void> {
    const rows = await volumes.volumesInStatus(db, hostName, CLIENT_INTERIM_STATUSES, nowTimestamp());
    for (const row of rows) {
      await step(report, `expire ${row.status}`, row.id, async () => {
        const reason = `lease of ${row.status} expired at ${row.lease_expires_at ?? row.updated_at}`;
        const closed = await store.volumeTransaction(row.id, async (trx) => {
          const cur = await volumes.findVolume(trx, row.id);
          if (!cur || cur.status !== row.status || cur.lease_expires_at !== row.lease_expires_at) return null;
          const live = await attachments.liveAttachments(trx, [row.id]);
          // An attachment still inside its own lease owns the status: leave the volume to it.
          if (live.some((a) => (ATTACHMENT_INTERIM as readonly string[]).includes(a.attach_status) && a.lease_expires_at && a.lease_expires_at >= nowTimestamp())) {
            return null;
          }
          const pending = cur.status === 'attaching' && live.length === 0 ? await connections.pendingFor(trx, row.id) : [];
          const changed = await tracked(
            deps,
            SYSTEM_ACTOR,
            pending.length > 0 ? CONNECTION_EXPIRED : 'lease_expired',
            row.id,
            async (t) => {
              if (cur.status === 'attaching' && !live.some((a) => a.attach_status === 'attaching' || a.attach_status === 'reserved')) {
                if (pending.length > 0) await connections.dropPending(t, row.id);
                return volumes.unreserve(t, row.id);
              }
              if (cur.status === 'detaching' && live.some((a) => a.attach_status === 'attached')) {
                return volumes.casVolume(t, row.id, { status: 'in-use' }, { status: ['detaching'] });
              }
              await attachments.recomputeVolumeStatus(t, row.id);
              return true;
            },
            { reason: pending.length > 0 ? `${reason}; the connection initialize_connection opened for it was closed` : reason, trx },
          );
          return changed ? pending : null;
        });
        if (!closed) return;
        report.leasesExpired++;
        report.pendingDropped += closed.length;
        if (!cleanup) return;
        if (row.status === 'detaching') await regrantAttachedInitiators(deps, row.id);
        for (const p of closed) {
          const now = await volumes.findVolume(db, row.id);
          if (now) await cleanupAfterDetach(deps, now, { initiator: p.initiator });
        }
      });
    }
  }

  async function dropStalePending(report: ReconcileReport): Promise<void> {
    const before = nowTimestamp(new Date(Date.now() - deps.leases.attachingMs));
    for (const p of await connections.stalePending(db, before)) {
      await step(report, 'drop pending connection', p.volume_id, async () => {
        const dropped = await store.volumeTransaction(p.volume_id, async (trx) => {
          const again = (await connections.pendingFor(trx, p.volume_id)).find((x) => x.initiator === p.initiator);
          if (!again || again.created_at !== p.created_at) return false;
          // The connections of a legacy reservation go with its lease (expireVolumes), which they renewed when made.
          const volume = await volumes.findVolume(trx, p.volume_id);
          if (volume?.status === 'attaching') return false;
          // With a live attachment, a connection from another host may be a live migration's destination
          // (Nova initializes there and never calls os-attach): it stays until the volume's last detach.
          if ((await attachments.liveAttachments(trx, [p.volume_id])).length > 0) return false;
          await connections.dropPending(trx, p.volume_id, p.initiator);
          // Recorded although the status stays: an os-attach without os-reserve that comes next would otherwise
          // make the volume in-use with nothing its initiator can log in to (workflow/attach.ts refuses it).
          if (volume) {
            await events.insertEvents(trx, [
              {
                ...SYSTEM_ACTOR,
                volumeId: p.volume_id,
                resourceType: 'volume',
                resourceId: p.volume_id,
                action: CONNECTION_EXPIRED,
                from: volume.status,
                to: volume.status,
                reason: `the connection initialize_connection opened for ${p.initiator} at ${p.created_at} expired unused and was closed`,
              },
            ]);
          }
          return true;
        });
        if (!dropped) return;
        report.pendingDropped++;
        const row = await volumes.findVolume(db, p.volume_id);
        if (!row) return;
        // The same cleanup as a detach of an attachment that came through this initiator.
        await cleanupAfterDetach(deps, row, { initiator: p.initiator });
        log.info({ volumeId: p.volume_id, initiator: p.initiator }, 'pending connection expired; its access was removed');
      });
    }
  }

  /**
   * Exports: recreate what live attachments need and the target lost; remove what nothing needs. At start-up
   * every volume is looked at; a periodic pass looks at one window of the volumes that need an export and one
   * of the exports (plus the previous pass's orphan suspects), and goes on from there the next time, so its
   * cost does not grow with the number of volumes. A window that had to restore something is followed by the
   * next one in the same pass (a target daemon that lost every export gets them all back at once).
   */
  async function reconcileExports(report: ReconcileReport, startup: boolean): Promise<void> {
    // Listed before the database is read: a detach commits before it removes its export, so an export that is
    // missing here and needed below was not just removed by a detach.
    const exported = new Set(await host.listExports());
    for (;;) {
      const needed = await volumes.volumesNeedingExport(db, host.hostName, startup ? {} : { afterId: neededCursor, limit: RECONCILE_WINDOW });
      if (!startup) neededCursor = needed.size < RECONCILE_WINDOW ? '' : [...needed.keys()].pop()!;
      const restoredBefore = report.exportsRestored;
      for (const [id, need] of needed) {
        // A row that names no export has nothing to restore (its next initialize_connection makes one).
        if (exported.has(id) || !need.exported) continue;
        await step(report, 'restore export', id, async () => {
          const row = await volumes.findVolume(db, id);
          if (!row || !row.provider_location) return;
          await restoreExport(deps, row);
          report.exportsRestored++;
          log.warn({ volumeId: id }, 'export was missing for a volume with live attachments; restored');
        });
      }
      if (startup || neededCursor === '' || report.exportsRestored === restoredBefore) break;
    }
    const candidates = startup ? [...exported] : [...new Set([...orphanSuspects, ...exportCursor.take([...exported])])].filter((id) => exported.has(id));
    const needed = await volumes.volumesNeedingExport(db, host.hostName, { ids: candidates });
    const suspects = new Set<string>();
    const lease = nowTimestamp(new Date(Date.now() - deps.leases.attachingMs));
    const known = await volumes.knownVolumeIds(db, candidates);
    for (const id of candidates) {
      if (needed.has(id)) continue;
      const k = known.get(id);
      // A live volume touched recently may be in the middle of initialize_connection: not an orphan yet.
      const settled = !k || k.deleted || (k.updatedAt !== null && k.updatedAt < lease);
      if (!settled) continue;
      if (!startup && !orphanSuspects.has(id)) {
        suspects.add(id);
        continue;
      }
      await step(report, 'remove orphan export', id, async () => {
        const row = await volumes.findVolume(db, id);
        if (row) await dropUnusedExport(deps, row, null);
        else await host.disconnect({ id, sizeGiB: 0, providerLocation: null, providerAuth: null }, null, { dropExport: true });
        report.exportsRemoved++;
        log.warn({ volumeId: id }, 'removed a target that no live attachment needs');
      });
    }
    orphanSuspects = suspects;
  }

  async function removeOrphanFiles(report: ReconcileReport, startup: boolean): Promise<void> {
    const all = await host.listBackingVolumes();
    const ids = startup ? all : fileCursor.take(all);
    const known = await volumes.knownVolumeIds(db, ids);
    for (const id of ids) {
      const k = known.get(id);
      if (k && !k.deleted) continue;
      if (deps.busy(id)) continue;
      await step(report, 'remove orphan file', id, async () => {
        await host.deleteVolume(id);
        report.filesRemoved++;
        log.warn({ volumeId: id, known: k !== undefined }, 'removed a backing file that has no live volume row');
      });
    }
  }

  /** Snapshot files without a live snapshot row (a create whose row was rolled back, a delete cut off). */
  async function removeOrphanSnapshotFiles(report: ReconcileReport, startup: boolean): Promise<void> {
    const all = await host.listBackingSnapshots();
    const ids = startup ? all : snapshotFileCursor.take(all);
    const live = await snapshots.liveSnapshotIds(db, ids);
    for (const id of ids) {
      if (live.has(id) || deps.busy(id)) continue;
      await step(report, 'remove orphan snapshot file', null, async () => {
        await host.deleteSnapshot(id, id);
        report.filesRemoved++;
        log.warn({ snapshotId: id }, 'removed a snapshot file that has no live snapshot row');
      });
    }
  }

  async function pass(startup: boolean): Promise<ReconcileReport> {
    const started = performance.now();
    const report = emptyReport();
    if (!deps.hosts.local) return report;
    await step(report, 'host tasks', null, () => finishTasks(report, startup));
    await step(report, 'group tasks', null, () => finishGroupTasks(report, startup));
    await step(report, 'attachment leases', null, () => expireAttachments(host.hostName, report));
    await step(report, 'volume leases', null, () => expireVolumes(host.hostName, report, true));
    await step(report, 'pending connections', null, () => dropStalePending(report));
    if (startup) {
      await step(report, 'restore exports', null, async () => {
        await restoreExports(deps);
      });
    }
    await step(report, 'exports', null, () => reconcileExports(report, startup));
    await step(report, 'files', null, () => removeOrphanFiles(report, startup));
    await step(report, 'snapshot files', null, () => removeOrphanSnapshotFiles(report, startup));
    const acted = Object.entries(report).some(([, n]) => n > 0);
    (acted ? log.info.bind(log) : log.debug.bind(log))({ startup, ...report, ms: Math.round((performance.now() - started) * 100) / 100 }, 'reconcile pass done');
    return report;
  }

  return {
    /** One pass; concurrent callers share the pass that is running. */
    reconcile(opts: { startup?: boolean } = {}): Promise<ReconcileReport> {
      if (running) return running;
      running = pass(opts.startup === true).finally(() => {
        running = null;
      });
      return running;
    },
    /**
     * Expires the interim states (attachments and volumes past their lease) of the volumes of a host that is
     * down, whose own reconciler is not running: what the clients see moves on; the host's export cleanup is
     * retried by the host's startup pass when it comes back (its exports are gone with it meanwhile).
     */
    async expireLeasesOf(hostName: string): Promise<ReconcileReport> {
      const report = emptyReport();
      await step(report, 'attachment leases', null, () => expireAttachments(hostName, report));
      await step(report, 'volume leases', null, () => expireVolumes(hostName, report, false));
      return report;
    },
  };
}
