// A process killed in the middle of a snapshot task: what the rows and files look like after a kill -9 at each
// point is set up here on a real store and file backend, then a new process on the same directory reconciles at
// start-up. Every task ends finished or in error; no snapshot file is left without its row and no row without
// its file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { adminCtx } from '../workflow/fixture.js';
import { makeTempDir } from '../support/tmp.js';
import * as snapshots from '../../src/store/snapshots.js';
import * as volumes from '../../src/store/volumes.js';
import { fileExists, readAt, writeAt } from '../support/file-bytes.js';

const envs: ReliabilityEnv[] = [];
const dirs: { cleanup(): Promise<void> }[] = [];
after(async () => {
  for (const e of envs) await e.close();
  for (const d of dirs) await d.cleanup();
});

test('after a kill -9 in each snapshot task, the restart finishes it: create, delete, revert, volume from snapshot, orphans', async () => {
  const dir = await makeTempDir('embervol-snap-restart-');
  dirs.push(dir);
  const first = await makeReliabilityEnv({ dir });
  const ctx = adminCtx();
  const wf = first.workflow;
  const vol = (await wf.createVolume(ctx, { size: 1 })).id;
  await wf.drain();
  await writeAt(first.backend.devicePath(vol), 0, 'v1');
  const kept = (await wf.createSnapshot(ctx, { volumeId: vol })).id;
  await wf.drain();
  await writeAt(first.backend.devicePath(vol), 0, 'v2');
  const db = first.store.db;

  // 1. Killed after the snapshot row was committed, mid-copy: row creating, a partial temporary file.
  const creating = (await wf.createSnapshot(ctx, { volumeId: vol })).id;
  await wf.drain();
  await first.backend.deleteSnapshot(creating);
  await snapshots.casSnapshot(db, creating, { status: 'creating' }, {});
  await writeFile(join(first.backend.directory, `.tmp-snapshot-${creating}`), 'partial');
  // 2. Killed after the delete was claimed, before the file went: row deleting, file present.
  const deleting = (await wf.createSnapshot(ctx, { volumeId: vol })).id;
  await wf.drain();
  await snapshots.casSnapshot(db, deleting, { status: 'deleting' }, {});
  // 3. Killed during a volume create from a snapshot: row creating with snapshot_id, no volume file.
  const fromSnap = (await wf.createVolume(ctx, { size: 1, snapshotId: kept })).id;
  await wf.drain();
  await first.backend.delete(fromSnap);
  await volumes.casVolume(db, fromSnap, { status: 'creating' }, {});
  // 4. A snapshot file whose row never committed.
  await writeFile(first.backend.snapshotPath('orphan-snapshot'), 'x');
  await first.stop();

  // 5. Killed mid-revert: volume reverting, latest snapshot restoring, the volume file half rewritten.
  const second = await makeReliabilityEnv({ dir });
  envs.push(second);
  const latest = (await second.workflow.createSnapshot(ctx, { volumeId: vol })).id;
  await second.workflow.drain();
  await second.store.transaction(async (trx) => {
    await volumes.casVolume(trx, vol, { status: 'reverting' }, {});
    await snapshots.casSnapshot(trx, latest, { status: 'restoring' }, {});
  });
  await writeAt(second.backend.devicePath(vol), 0, 'xx');
  await second.stop();

  const third = await makeReliabilityEnv({ dir });
  envs.push(third);
  const report = await third.workflow.reconcile({ startup: true });
  await third.workflow.drain();
  const snap = (id: string) => third.workflow.getSnapshot(ctx, id);
  assert.equal((await snap(creating)).status, 'available');
  assert.equal(await readAt(third.backend.snapshotPath(creating), 0, 2), 'v2');
  assert.ok(!(await fileExists(join(third.backend.directory, `.tmp-snapshot-${creating}`))));
  await assert.rejects(snap(deleting), /could not be found/);
  assert.ok(!(await fileExists(third.backend.snapshotPath(deleting))));
  assert.equal((await third.workflow.getVolume(ctx, fromSnap)).status, 'available');
  assert.equal(await readAt(third.backend.devicePath(fromSnap), 0, 2), 'v1');
  assert.ok(!(await fileExists(third.backend.snapshotPath('orphan-snapshot'))));
  assert.equal((await third.workflow.getVolume(ctx, vol)).status, 'available');
  assert.equal((await snap(latest)).status, 'available');
  assert.equal(await readAt(third.backend.devicePath(vol), 0, 2), 'v2', 'the revert was finished');
  assert.ok(report.tasksFinished >= 4, JSON.stringify(report));
  // Every live snapshot row has its file, and every snapshot file its row.
  const rows = (await third.workflow.listSnapshots(ctx, { allTenants: true })).snapshots.map((s) => s.id).sort();
  assert.deepEqual(await third.backend.listSnapshots(), rows);
});
