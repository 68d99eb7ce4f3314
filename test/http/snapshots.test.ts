// /snapshots over the real volume host (file backend on this filesystem, private tgtd): the API as Cinder 21
// answers it, and the bytes behind it: a snapshot keeps the volume's content as it was, a volume made from
// it or cloned from a volume holds that content, revert puts it back, and a delete touches only its own file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { installCopyMethodMetric } from '../../src/http/metrics.js';
import { makeApi, fault, type Api } from './client.js';
import { fileExists, readAt, writeAt } from '../support/file-bytes.js';

let api: Api;
before(async () => {
  api = await makeApi({ real: true });
});
after(async () => {
  await api?.close();
});

const V = (minor: number) => ({ 'openstack-api-version': `volume 3.${minor}` });
const volumeFile = (id: string) => join(api.env.dir.path, 'volumes', `volume-${id}`);
const snapshotFile = (id: string) => join(api.env.dir.path, 'volumes', `snapshot-${id}`);
async function snapshot(volumeId: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>): Promise<string> {
  const r = await api.call('POST', '/snapshots', { snapshot: { volume_id: volumeId, ...extra } }, headers);
  assert.equal(r.status, 202, r.text);
  await api.env.workflow.drain();
  return r.body.snapshot.id as string;
}

const getSnap = async (id: string) => (await api.call('GET', `/snapshots/${id}`)).body.snapshot;
const getVol = async (id: string) => (await api.call('GET', `/volumes/${id}`)).body.volume;

test('create: 202 with the v3 view (no extended attributes), then available; show adds progress and project', async () => {
  const vol = await api.create();
  const r = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol, name: 'snap-a', description: 'd', metadata: { k: 'v' } } });
  assert.equal(r.status, 202);
  const s = r.body.snapshot;
  assert.deepEqual(Object.keys(s).sort(), ['created_at', 'description', 'id', 'metadata', 'name', 'size', 'status', 'updated_at', 'volume_id']);
  assert.equal(s.status, 'creating');
  assert.deepEqual(s.metadata, { k: 'v' });
  await api.env.workflow.drain();
  const shown = await getSnap(s.id);
  assert.equal(shown.status, 'available');
  assert.equal(shown.size, 1);
  assert.equal(shown['os-extended-snapshot-attributes:progress'], '100%');
  assert.equal(shown['os-extended-snapshot-attributes:project_id'], api.project);
  assert.ok(await fileExists(snapshotFile(s.id)));
  const v341 = (await api.call('GET', `/snapshots/${s.id}`, undefined, V(41))).body.snapshot;
  assert.equal(v341.group_snapshot_id, null);
  assert.equal(v341.user_id, 'tester');
});

test('create refusals: missing or null volume 404, error volume 400, in-use without force before 3.66, force=false at 3.66', async () => {
  const missing = randomUUID();
  assert.deepEqual((await api.call('POST', '/snapshots', { snapshot: { volume_id: missing } })).body, fault(404, 'itemNotFound', `Volume ${missing} could not be found.`));
  assert.equal((await api.call('POST', '/snapshots', { snapshot: { volume_id: null } })).status, 404);
  assert.equal((await api.call('POST', '/snapshots', { snapshot: {} })).status, 400);
  const vol = await api.create();
  assert.equal((await api.action(vol, 'os-reset_status', { status: 'error' })).status, 202);
  assert.deepEqual(
    (await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } })).body,
    fault(400, 'badRequest', 'Invalid volume: The snapshot cannot be created when the volume is in error status.'),
  );
  await api.action(vol, 'os-reset_status', { status: 'available' });
  // A reserved (attaching) volume: not available, not in-use.
  assert.equal((await api.action(vol, 'os-reserve')).status, 202);
  assert.deepEqual(
    (await api.call('POST', '/snapshots', { snapshot: { volume_id: vol, force: true } })).body,
    fault(400, 'badRequest', `Invalid volume: Volume ${vol} status must be available, in-use, but current status is: attaching.`),
  );
  await api.action(vol, 'os-unreserve');
  assert.deepEqual(
    (await api.call('POST', '/snapshots', { snapshot: { volume_id: vol, force: false } }, V(66))).body.badRequest.code,
    400,
  );
  const rows = (await api.call('GET', `/snapshots?volume_id=${vol}`)).body.snapshots;
  assert.equal(rows.length, 0, 'no refused request left a row');
});

test('list and detail: filters, sort, limit/marker/offset, with_count; bad parameters are 400/404', async () => {
  const vol = await api.create();
  const ids: string[] = [];
  for (const name of ['l-b', 'l-a', 'l-c']) ids.push(await snapshot(vol, { name, metadata: { tag: name } }));
  const list = (q: string, h?: Record<string, string>) => api.call('GET', `/snapshots${q}`, undefined, h);
  const summary = (await list(`?volume_id=${vol}`)).body.snapshots;
  assert.deepEqual(summary.map((s: { id: string }) => s.id), [...ids].reverse(), 'created_at desc by default');
  assert.ok(!('os-extended-snapshot-attributes:progress' in summary[0]));
  const detail = (await list(`/detail?volume_id=${vol}`)).body.snapshots;
  assert.equal(detail[0]['os-extended-snapshot-attributes:progress'], '100%');
  assert.deepEqual((await list(`?volume_id=${vol}&sort=name:asc`)).body.snapshots.map((s: { name: string }) => s.name), ['l-a', 'l-b', 'l-c']);
  assert.deepEqual((await list(`?volume_id=${vol}&sort_key=id&sort_dir=asc`)).body.snapshots.map((s: { id: string }) => s.id), [...ids].sort());
  assert.deepEqual((await list('?name=l-c')).body.snapshots.map((s: { id: string }) => s.id), [ids[2]]);
  assert.deepEqual((await list(`?metadata={'tag': 'l-a'}`, V(22))).body.snapshots.map((s: { id: string }) => s.id), [ids[1]]);
  const page = await list(`?volume_id=${vol}&limit=2`);
  assert.equal(page.body.snapshots.length, 2);
  assert.match(page.body.snapshots_links[0].href, new RegExp(`marker=${page.body.snapshots[1].id}`));
  const next = await list(`?volume_id=${vol}&limit=2&marker=${page.body.snapshots[1].id}`);
  assert.deepEqual(next.body.snapshots.map((s: { id: string }) => s.id), [ids[0]]);
  assert.equal((await list(`?volume_id=${vol}&offset=1`)).body.snapshots.length, 2);
  assert.equal((await list(`?volume_id=${vol}&limit=0`)).body.snapshots.length, 0);
  assert.equal((await list(`?volume_id=${vol}&with_count=true`, V(45))).body.count, 3);
  assert.equal((await list('?limit=invalid')).status, 400);
  assert.equal((await list('?sort_key=invalid')).status, 400);
  assert.equal((await list(`?marker=${randomUUID()}`)).status, 404);
});

test('update and metadata subresource (tempest test_crud_snapshot_metadata shapes)', async () => {
  const vol = await api.create();
  const id = await snapshot(vol);
  const up = await api.call('PUT', `/snapshots/${id}`, { snapshot: { name: 'renamed', description: 'new' } });
  assert.equal(up.status, 200);
  assert.equal(up.body.snapshot.name, 'renamed');
  assert.equal((await api.call('PUT', `/snapshots/${id}`, { snapshot: {} })).status, 400);
  assert.deepEqual((await api.call('PUT', `/snapshots/${id}/metadata`, { metadata: { a: '1', b: '2' } })).body, { metadata: { a: '1', b: '2' } });
  assert.deepEqual((await api.call('POST', `/snapshots/${id}/metadata`, { metadata: { c: '3' } })).body, { metadata: { a: '1', b: '2', c: '3' } });
  assert.deepEqual((await api.call('PUT', `/snapshots/${id}/metadata`, { metadata: { a: 'x' } })).body, { metadata: { a: 'x' } });
  assert.deepEqual((await api.call('PUT', `/snapshots/${id}/metadata/b`, { meta: { b: 'y' } })).body, { meta: { b: 'y' } });
  assert.deepEqual((await api.call('GET', `/snapshots/${id}/metadata/b`)).body, { meta: { b: 'y' } });
  assert.equal((await api.call('PUT', `/snapshots/${id}/metadata/b`, { meta: { c: 'y' } })).status, 400);
  assert.equal((await api.call('DELETE', `/snapshots/${id}/metadata/b`)).status, 200);
  assert.deepEqual((await api.call('GET', `/snapshots/${id}/metadata/b`)).body, fault(404, 'itemNotFound', `Snapshot ${id} has no metadata with key b.`));
  assert.deepEqual((await api.call('GET', `/snapshots/${id}/metadata`)).body, { metadata: { a: 'x' } });
  assert.equal((await api.call('PUT', `/snapshots/${id}/metadata`, { nothing: 1 })).status, 400);
});

test('bytes: a snapshot keeps the content it was taken with; volumes from it and clones hold it; sizes >= source', async () => {
  const vol = await api.create();
  await writeAt(volumeFile(vol), 4096, 'first');
  const snap = await snapshot(vol);
  await writeAt(volumeFile(vol), 4096, 'later');
  assert.equal(await readAt(snapshotFile(snap), 4096, 5), 'first');

  const small = await api.call('POST', '/volumes', { volume: { snapshot_id: snap, size: 0 } });
  assert.equal(small.status, 400);
  const fromSnap = await api.call('POST', '/volumes', { volume: { snapshot_id: snap } });
  assert.equal(fromSnap.status, 202, fromSnap.text);
  assert.equal(fromSnap.body.volume.snapshot_id, snap);
  assert.equal(fromSnap.body.volume.size, 1);
  const bigger = await api.call('POST', '/volumes', { volume: { snapshot_id: snap, size: 2 } });
  assert.equal(bigger.status, 202);
  const clone = await api.call('POST', '/volumes', { volume: { source_volid: vol, size: 1 } });
  assert.equal(clone.status, 202);
  assert.equal(clone.body.volume.source_volid, vol);
  await api.env.workflow.drain();
  for (const id of [fromSnap.body.volume.id, bigger.body.volume.id, clone.body.volume.id]) assert.equal((await getVol(id)).status, 'available');
  assert.equal(await readAt(volumeFile(fromSnap.body.volume.id), 4096, 5), 'first');
  assert.equal(await readAt(volumeFile(bigger.body.volume.id), 4096, 5), 'first');
  assert.equal((await stat(volumeFile(bigger.body.volume.id))).size, 2 * 1024 ** 3);
  assert.equal(await readAt(volumeFile(clone.body.volume.id), 4096, 5), 'later');

  const snap2 = await snapshot(vol, { name: 'two' });
  assert.deepEqual(
    (await api.call('POST', '/volumes', { volume: { snapshot_id: snap2, size: 0 } })).status,
    400,
  );
  const tooSmall = await api.call('POST', '/volumes', { volume: { source_volid: bigger.body.volume.id, size: 1 } });
  assert.deepEqual(
    tooSmall.body,
    fault(400, 'badRequest', "Invalid input received: Volume size '1'GB cannot be smaller than original volume size  2GB. They must be >= original volume size."),
  );
  const missing = randomUUID();
  assert.deepEqual((await api.call('POST', '/volumes', { volume: { snapshot_id: missing, size: 1 } })).body, fault(404, 'itemNotFound', `Snapshot ${missing} could not be found.`));
});

test('delete: refused while the volume has snapshots, cascade removes both; a snapshot delete leaves the volume file alone', async () => {
  const vol = await api.create();
  await writeAt(volumeFile(vol), 0, 'keep');
  const snap = await snapshot(vol);
  const refused = await api.call('DELETE', `/volumes/${vol}`);
  assert.equal(refused.status, 400);
  assert.match(refused.body.badRequest.message, /have snapshots/);
  assert.equal((await api.call('DELETE', `/snapshots/${snap}`)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/snapshots/${snap}`)).status, 404);
  assert.ok(!(await fileExists(snapshotFile(snap))));
  assert.equal(await readAt(volumeFile(vol), 0, 4), 'keep');

  const s1 = await snapshot(vol);
  const s2 = await snapshot(vol);
  const fromS1 = await api.create({ snapshot_id: s1 });
  assert.equal((await api.call('DELETE', `/volumes/${vol}?cascade=true`)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${vol}`)).status, 404);
  for (const s of [s1, s2]) {
    assert.equal((await api.call('GET', `/snapshots/${s}`)).status, 404);
    assert.ok(!(await fileExists(snapshotFile(s))));
  }
  assert.equal(await readAt(volumeFile(fromS1), 0, 4), 'keep', 'a volume made from a deleted snapshot keeps its bytes');
});

test('extend with a snapshot; revert (3.40): latest only, sizes equal, volume available; content is put back', async () => {
  const vol = await api.create();
  await writeAt(volumeFile(vol), 512, 'before');
  const old = await snapshot(vol);
  const latest = await snapshot(vol);
  await writeAt(volumeFile(vol), 512, 'after!');
  assert.equal((await api.action(vol, 'revert', { snapshot_id: latest })).status, 404, 'no revert before 3.40');
  assert.deepEqual(
    (await api.action(vol, 'revert', { snapshot_id: old }, V(40))).body,
    fault(400, 'badRequest', `Specified snapshot ${old} is None or not the latest one of volume ${vol}.`),
  );
  assert.equal((await api.action(vol, 'revert', { snapshot_id: latest }, V(40))).status, 202);
  await api.env.workflow.drain();
  assert.equal((await getVol(vol)).status, 'available');
  assert.equal((await getSnap(latest)).status, 'available');
  assert.equal(await readAt(volumeFile(vol), 512, 6), 'before');

  assert.equal((await api.action(vol, 'os-extend', { new_size: 2 })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await getVol(vol)).size, 2);
  assert.equal((await stat(snapshotFile(latest))).size, 1024 ** 3, 'extend leaves the snapshot as it was');
  assert.deepEqual(
    (await api.action(vol, 'revert', { snapshot_id: latest }, V(40))).body,
    fault(400, 'badRequest', `Can't revert volume ${vol} to its latest snapshot ${latest}. The volume size must be equal to the snapshot size.`),
  );
  const bare = await api.create();
  assert.deepEqual((await api.action(bare, 'revert', { snapshot_id: latest }, V(40))).body, fault(400, 'badRequest', `Volume ${bare} doesn't have any snapshots.`));
});

test('admin actions: os-reset_status, os-force_delete from any status, os-update_snapshot_status; members get 403', async () => {
  const vol = await api.create();
  const id = await snapshot(vol);
  const act = (name: string, value: unknown, h?: Record<string, string>) => api.call('POST', `/snapshots/${id}/action`, { [name]: value }, h);
  assert.equal((await act('os-reset_status', { status: 'error' })).status, 202);
  assert.equal((await getSnap(id)).status, 'error');
  assert.equal((await act('os-reset_status', { status: 'bogus' })).status, 400);
  assert.equal((await act('os-reset_status', { status: 'creating' })).status, 202);
  assert.equal((await act('os-update_snapshot_status', { status: 'available', progress: '80%' })).status, 202);
  const s = await getSnap(id);
  assert.equal(s.status, 'available');
  assert.equal(s['os-extended-snapshot-attributes:progress'], '80%');
  assert.deepEqual(
    (await act('os-update_snapshot_status', { status: 'error' })).body,
    fault(400, 'badRequest', 'Snapshot status available not allowed for update_snapshot_status'),
  );
  assert.equal((await act('os-reset_status', { status: 'error' }, { 'x-roles': 'member' })).status, 403);
  assert.equal((await act('os-fly', {})).status, 400);
  await act('os-reset_status', { status: 'creating' });
  assert.equal((await api.call('DELETE', `/snapshots/${id}`)).status, 400, 'a creating snapshot is not deletable');
  assert.equal((await act('os-force_delete', {})).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/snapshots/${id}`)).status, 404);
  assert.ok(!(await fileExists(snapshotFile(id))));
  assert.ok(await readFile(volumeFile(vol)).then(() => true));
});

test('the copy method detected at start is in the pool capabilities and matches what the backend uses', async () => {
  const pool = (await api.call('GET', '/scheduler-stats/get_pools?detail=true')).body.pools[0];
  const method = await api.env.host.copyMethod();
  assert.ok(method === 'reflink' || method === 'sparse-copy');
  assert.equal(pool.capabilities.copy_method, method);
});

test('/metrics reports the copy method as embervol_copy_method{method} 1', async () => {
  const registry = new Registry();
  installCopyMethodMetric(registry, () => api.env.host.copyMethod());
  const text = await registry.metrics();
  assert.match(text, new RegExp(`embervol_copy_method\\{method="${await api.env.host.copyMethod()}"\\} 1`));
});
