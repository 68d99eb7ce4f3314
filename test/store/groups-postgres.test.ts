// Groups and group snapshots on both engines: the same workflow over SQLite and a private PostgreSQL cluster (the
// recording host stands in for the bytes, which test/http/groups.test.ts covers). The conditional updates with
// their EXISTS filters, the list filters and paging, and the `groups` quota recount must agree on both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';
import { createWorkflow } from '../../src/workflow/index.js';
import { localHostDirectory } from '../../src/host/directory.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';
import { silentLogger } from '../../src/log.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { adminCtx, RecordingHost } from '../workflow/fixture.js';

let cluster: PostgresCluster;
let dir: TempDir;
before(async () => {
  cluster = await startPostgres();
  dir = await makeTempDir();
});
after(async () => {
  await cluster?.stop();
  await dir?.cleanup();
});

async function scenario(store: Store): Promise<void> {
  const host = new RecordingHost();
  const wf = createWorkflow({ store, hosts: localHostDirectory(host), logger: silentLogger() });
  const ctx = adminCtx('p-groups');
  const vt = (await wf.createType(ctx, { name: 'g-vt' })).id;
  const gt = (await wf.createGroupType(ctx, { name: 'g-gt' })).id;
  const g = (await wf.createGroup(ctx, { groupType: gt, volumeTypes: [vt], name: 'alpha' })).id;
  await wf.createGroup(ctx, { groupType: 'g-gt', volumeTypes: ['g-vt'], name: 'beta' });
  const a = (await wf.createVolume(ctx, { size: 1, volumeType: vt, groupId: g })).id;
  const b = (await wf.createVolume(ctx, { size: 2, volumeType: vt, groupId: g })).id;
  await wf.drain();

  const page = await wf.listGroups(ctx, { filters: { 'name~': 'lph' }, sort: [{ key: 'name', dir: 'asc' }] });
  assert.deepEqual(page.items.map((x) => x.name), ['alpha']);
  assert.deepEqual(page.items[0]!.volumeIds.sort(), [a, b].sort());
  const first = await wf.listGroups(ctx, { filters: {}, sort: [{ key: 'name', dir: 'asc' }], limit: 1 });
  assert.equal(first.items[0]!.name, 'alpha');
  const second = await wf.listGroups(ctx, { filters: {}, sort: [{ key: 'name', dir: 'asc' }], limit: 1, marker: first.nextMarker });
  assert.equal(second.items[0]!.name, 'beta');

  const gs = (await wf.createGroupSnapshot(ctx, { groupId: g })).id;
  await wf.drain();
  assert.equal((await wf.getGroupSnapshot(ctx, gs)).status, 'available');
  assert.deepEqual(host.calls.filter((c) => c.op === 'createSnapshot').map((c) => c.volumeId).sort(), [a, b].sort());
  // The group snapshot blocks the group's delete (NOT EXISTS on group_snapshots) on both engines.
  await assert.rejects(wf.deleteGroup(ctx, g, true), /Group has existing snapshots/);
  const copy = (await wf.createGroupFromSource(ctx, { groupSnapshotId: gs })).id;
  await wf.drain();
  assert.equal((await wf.getGroup(ctx, copy)).status, 'available');
  assert.equal((await wf.getGroup(ctx, copy)).volumeIds.length, 2);

  await wf.updateGroup(ctx, g, { removeVolumes: b });
  assert.deepEqual((await wf.getGroup(ctx, g)).volumeIds, [a]);
  await wf.updateGroup(ctx, g, { addVolumes: b });
  assert.equal((await wf.getVolume(ctx, b)).groupId, g);

  await wf.deleteGroupSnapshot(ctx, gs);
  await wf.drain();
  await wf.deleteGroup(ctx, g, true);
  await wf.deleteGroup(ctx, copy, true);
  await wf.drain();
  assert.deepEqual((await wf.listGroups(ctx, { filters: {} })).items.map((x) => x.name), ['beta']);
  assert.deepEqual(usageFingerprint(await storedUsage(store.db)), usageFingerprint(await recountUsage(store.db)));
  const usage = (await storedUsage(store.db, 'p-groups')).get('p-groups') ?? [];
  assert.equal(usage.find((u) => u.resource === 'groups')?.inUse, 1);
  assert.equal(usage.find((u) => u.resource === 'snapshots' && u.typeId === '')?.inUse ?? 0, 0);
  await wf.drain();
}

test('groups, group snapshots and groups from sources on SQLite', async () => {
  const store = await openStore({ url: join(dir.path, 'groups.sqlite') });
  try {
    await scenario(store);
  } finally {
    await store.close();
  }
});

test('the same on PostgreSQL', async () => {
  const store = await openStore({ url: await cluster.createDatabase() });
  try {
    await scenario(store);
  } finally {
    await store.close();
  }
});
