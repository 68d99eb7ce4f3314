// A process killed in the middle of a group task: the rows and files a kill -9 leaves at each point are set up on a
// real store and file backend, then a new process on the same directory reconciles at start-up. Every group task
// ends finished or in `error`; no file is left without its row and no live row without its file, the usage
// counters equal a recount, and a group snapshot that is finished after the restart is still consistent as a whole.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { adminCtx } from '../workflow/fixture.js';
import { makeTempDir } from '../support/tmp.js';
import * as groups from '../../src/store/groups.js';
import * as snapshots from '../../src/store/snapshots.js';
import * as volumes from '../../src/store/volumes.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';
import { deleteSnapshotRow } from '../../src/workflow/quotas.js';
import { fileExists, readAt, writeAt } from '../support/file-bytes.js';

const envs: ReliabilityEnv[] = [];
const dirs: { cleanup(): Promise<void> }[] = [];
after(async () => {
  for (const e of envs) await e.close();
  for (const d of dirs) await d.cleanup();
});

test('after a kill -9 in each group task, the restart finishes it or ends it in error, with no orphan file or fileless row', async () => {
  const dir = await makeTempDir('embervol-group-restart-');
  dirs.push(dir);
  const first = await makeReliabilityEnv({ dir });
  envs.push(first);
  const ctx = adminCtx();
  const wf = first.workflow;
  const db = first.store.db;
  const vt = (await wf.createType(ctx, { name: 'grp-vt' })).id;
  const gt = (await wf.createGroupType(ctx, { name: 'grp-gt' })).id;
  const newGroup = async () => (await wf.createGroup(ctx, { groupType: gt, volumeTypes: [vt] })).id;
  const newMember = async (groupId: string) => {
    const id = (await wf.createVolume(ctx, { size: 1, volumeType: vt, groupId })).id;
    await wf.drain();
    return id;
  };
  const membersOf = async (gsId: string) => groups.snapshotsOfGroupSnapshot(db, gsId);

  // 1. Killed during a group snapshot create, after one member's file was made: all rows creating, one file, which
  //    holds what the volume had before the kill (v1); the volumes hold v2 when the new process starts.
  const g1 = await newGroup();
  const [a1, b1] = [await newMember(g1), await newMember(g1)];
  await writeAt(first.backend.devicePath(a1), 0, 'v1');
  await writeAt(first.backend.devicePath(b1), 0, 'v1');
  const creating = (await wf.createGroupSnapshot(ctx, { groupId: g1 })).id;
  await wf.drain();
  const creatingMembers = await membersOf(creating);
  await first.store.transaction(async (trx) => {
    await groups.casGroupSnapshot(trx, creating, { status: 'creating' });
    for (const s of creatingMembers) await snapshots.casSnapshot(trx, s.id, { status: 'creating' }, {});
  });
  await first.backend.deleteSnapshot(creatingMembers[1]!.id);
  await writeAt(first.backend.devicePath(a1), 0, 'v2');
  await writeAt(first.backend.devicePath(b1), 0, 'v2');

  // 2. Killed during a group snapshot delete, after the first member (file and row) was gone.
  const deleting = (await wf.createGroupSnapshot(ctx, { groupId: g1 })).id;
  await wf.drain();
  const deletingMembers = await membersOf(deleting);
  await first.store.transaction(async (trx) => {
    await groups.casGroupSnapshot(trx, deleting, { status: 'deleting' });
    for (const s of deletingMembers) await snapshots.casSnapshot(trx, s.id, { status: 'deleting' }, {});
  });
  await first.backend.deleteSnapshot(deletingMembers[0]!.id);
  await first.store.transaction((trx) => deleteSnapshotRow(trx, deletingMembers[0]!.id));

  // 3. Killed while a group was copied from a source group: group and volumes creating, one copy made.
  const g3 = await newGroup();
  const a3 = await newMember(g3);
  await writeAt(first.backend.devicePath(a3), 0, 'src');
  const b3 = await newMember(g3);
  await writeAt(first.backend.devicePath(b3), 0, 'src');
  const copied = (await wf.createGroupFromSource(ctx, { sourceGroupId: g3 })).id;
  await wf.drain();
  const copies = await groups.volumesOfGroup(db, copied);
  await first.store.transaction(async (trx) => {
    await groups.casGroup(trx, copied, { status: 'creating' });
    for (const v of copies) await volumes.casVolume(trx, v.id, { status: 'creating' }, {});
  });
  await first.backend.delete(copies[0]!.id);

  // 4. Killed during a group delete with its volumes, after the first volume was gone.
  const g4 = await newGroup();
  const [a4, b4] = [await newMember(g4), await newMember(g4)];
  await wf.deleteGroup(ctx, g4, true);
  await wf.drain();
  assert.equal(await groups.findGroup(db, g4), undefined, 'the group delete finishes when nothing is killed');
  const g4b = await newGroup();
  const [a4b, b4b] = [await newMember(g4b), await newMember(g4b)];
  await first.store.transaction(async (trx) => {
    await groups.casGroup(trx, g4b, { status: 'deleting' });
    await volumes.casVolume(trx, a4b, { status: 'deleting' }, {});
    await volumes.casVolume(trx, b4b, { status: 'deleting' }, {});
  });
  await first.backend.delete(a4b);

  // 5. A group from a group snapshot whose member file is lost: the copy cannot be made, so it ends in error.
  const g5 = await newGroup();
  await newMember(g5);
  const gs5 = (await wf.createGroupSnapshot(ctx, { groupId: g5 })).id;
  await wf.drain();
  const broken = (await wf.createGroupFromSource(ctx, { groupSnapshotId: gs5 })).id;
  await wf.drain();
  const brokenVolumes = await groups.volumesOfGroup(db, broken);
  await first.store.transaction(async (trx) => {
    await groups.casGroup(trx, broken, { status: 'creating' });
    for (const v of brokenVolumes) await volumes.casVolume(trx, v.id, { status: 'creating' }, {});
  });
  for (const v of brokenVolumes) await first.backend.delete(v.id);
  const lostOnPurpose = (await membersOf(gs5))[0]!.id;
  await first.backend.deleteSnapshot(lostOnPurpose);
  await first.stop();

  const second = await makeReliabilityEnv({ dir });
  envs.push(second);
  const report = await second.workflow.reconcile({ startup: true });
  await second.workflow.drain();
  const db2 = second.store.db;
  const wf2 = second.workflow;

  // 1: finished, and consistent: both members were taken anew at the restart (v2), not one old and one new.
  assert.equal((await wf2.getGroupSnapshot(ctx, creating)).status, 'available');
  for (const s of creatingMembers) {
    assert.equal((await wf2.getSnapshot(ctx, s.id)).status, 'available');
    assert.equal(await readAt(second.backend.snapshotPath(s.id), 0, 2), 'v2');
  }
  // 2: finished.
  await assert.rejects(wf2.getGroupSnapshot(ctx, deleting), /could not be found/);
  for (const s of deletingMembers) assert.ok(!(await fileExists(second.backend.snapshotPath(s.id))));
  // 3: finished, both copies hold the source's content.
  assert.equal((await wf2.getGroup(ctx, copied)).status, 'available');
  for (const v of copies) {
    assert.equal((await wf2.getVolume(ctx, v.id)).status, 'available');
    assert.equal(await readAt(second.backend.devicePath(v.id), 0, 3), 'src');
  }
  // 4: finished.
  await assert.rejects(wf2.getGroup(ctx, g4b), /could not be found/);
  for (const v of [a4, b4, a4b, b4b]) {
    await assert.rejects(wf2.getVolume(ctx, v), /could not be found/);
    assert.ok(!(await fileExists(second.backend.devicePath(v))));
  }
  // 5: error, with no file for its volumes.
  assert.equal((await wf2.getGroup(ctx, broken)).status, 'error');
  for (const v of brokenVolumes) {
    assert.equal((await wf2.getVolume(ctx, v.id)).status, 'error');
    assert.ok(!(await fileExists(second.backend.devicePath(v.id))));
  }
  assert.ok(report.tasksFinished >= 5, JSON.stringify(report));

  // Every live snapshot row has its file and every file its row; the same for volumes whose create finished.
  const liveSnaps = (await wf2.listSnapshots(ctx, { allTenants: true })).snapshots.map((s) => s.id).sort();
  const snapFiles = (await second.backend.listSnapshots()).sort();
  assert.deepEqual(snapFiles, liveSnaps.filter((id) => id !== lostOnPurpose));
  const withFiles = (await wf2.listVolumes(ctx, { filters: { all_tenants: '1' } })).volumes.filter((v) => v.status !== 'error').map((v) => v.id).sort();
  assert.deepEqual((await second.backend.list()).sort(), withFiles);
  assert.deepEqual(usageFingerprint(await storedUsage(db2)), usageFingerprint(await recountUsage(db2)));
});
