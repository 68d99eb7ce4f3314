// Snapshots through unmodified clients against `embervol serve` (noauth): python3-cinderclient, the openstack
// CLI and openstacksdk create, list, show and delete snapshots and create volumes from them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { field, noauthCinder, noauthOpenstack } from './cinder-cli.js';
import { CinderApi } from './api-client.js';

const SYSTEM_PYTHON = '/usr/bin/python3';

const SDK_SCRIPT = `
import json, sys
import openstack
conn = openstack.connect(auth_type='none', auth={'endpoint': sys.argv[1]})
bs = conn.block_storage
out = {}
v = bs.wait_for_status(bs.create_volume(size=1, name='sdk-src'), 'available', failures=['error'], wait=60)
s = bs.create_snapshot(volume_id=v.id, name='sdk-snap')
s = bs.wait_for_status(s, 'available', failures=['error'], wait=60)
out['snapshot_status'] = s.status
out['snapshot_names'] = sorted(x.name for x in bs.snapshots())
out['snapshot_get'] = {'name': bs.get_snapshot(s.id).name, 'volume_id': bs.get_snapshot(s.id).volume_id == v.id}
c = bs.wait_for_status(bs.create_volume(snapshot_id=s.id, name='sdk-from-snap'), 'available', failures=['error'], wait=60)
out['from_snapshot'] = {'status': c.status, 'size': c.size, 'snapshot_id': c.snapshot_id == s.id}
bs.delete_snapshot(s.id)
bs.wait_for_delete(s, wait=60)
out['snapshot_names_after'] = sorted(x.name for x in bs.snapshots())
for vol in (c, v):
    bs.delete_volume(vol.id)
    bs.wait_for_delete(vol, wait=60)
print(json.dumps(out))
`;

describe('snapshots through cinderclient, the openstack CLI and openstacksdk (noauth)', () => {
  let svc: ServiceProcess;
  let api: CinderApi;
  const project = '5a4b3c2d1e0f';

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, 'admin', project);
  });
  after(async () => {
    await svc?.stop();
  });

  async function waitSnapshot(id: string, status: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const r = await api.call('GET', `/snapshots/${id}`);
      if (r.status === 200 && r.body.snapshot.status === status) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`snapshot ${id} never became ${status}`);
  }

  it('cinderclient: snapshot-create, snapshot-list, snapshot-show, create --snapshot-id, snapshot-delete', async () => {
    const cinder = noauthCinder(svc.url, project);
    const vol = await api.createVolume(1);
    const created = await cinder('snapshot-create', '--name', 'cc-snap', vol);
    assert.equal(created.code, 0, created.stderr);
    const snap = field(created.stdout, 'id')!;
    assert.match(snap, /^[0-9a-f-]{36}$/);
    await waitSnapshot(snap, 'available');
    const listed = await cinder('snapshot-list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${snap}.*${vol}.*available.*cc-snap`));
    const shown = await cinder('snapshot-show', snap);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(field(shown.stdout, 'status'), 'available');
    assert.equal(field(shown.stdout, 'volume_id'), vol);
    const fromSnap = await cinder('create', '--snapshot-id', snap, '--name', 'cc-from-snap', '1');
    assert.equal(fromSnap.code, 0, fromSnap.stderr);
    const fromId = field(fromSnap.stdout, 'id')!;
    assert.equal(field(fromSnap.stdout, 'snapshot_id'), snap);
    await api.waitStatus(fromId, 'available');
    const refused = await cinder('delete', vol);
    assert.match(refused.stdout + refused.stderr, /snapshots/);
    const deleted = await cinder('snapshot-delete', snap);
    assert.equal(deleted.code, 0, deleted.stderr);
    for (let i = 0; i < 200 && (await api.call('GET', `/snapshots/${snap}`)).status !== 404; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await api.call('GET', `/snapshots/${snap}`)).status, 404);
    assert.equal((await cinder('delete', vol, fromId)).code, 0);
  });

  it('openstack CLI: volume snapshot create/list/show/delete and volume create --snapshot', async () => {
    const osc = noauthOpenstack(svc.url, project);
    const json = (r: RunResult) => {
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const vol = await api.createVolume(1);
    const s = json(await osc('volume', 'snapshot', 'create', '--volume', vol, 'osc-snap', '-f', 'json'));
    assert.equal(s.name, 'osc-snap');
    await waitSnapshot(s.id, 'available');
    const list = json(await osc('volume', 'snapshot', 'list', '-f', 'json'));
    assert.ok(list.some((x: any) => x.ID === s.id && x.Name === 'osc-snap' && x.Status === 'available'), JSON.stringify(list));
    const shown = json(await osc('volume', 'snapshot', 'show', s.id, '-f', 'json'));
    assert.equal(shown.volume_id, vol);
    const v = json(await osc('volume', 'create', '--snapshot', s.id, '--size', '2', 'osc-from-snap', '-f', 'json'));
    assert.equal(v.snapshot_id, s.id);
    await api.waitStatus(v.id, 'available');
    assert.equal((await osc('volume', 'snapshot', 'delete', s.id)).code, 0);
  });

  it('openstacksdk: create_snapshot, snapshots, get_snapshot, create_volume(snapshot_id), delete_snapshot', async () => {
    const r = await runProcess(SYSTEM_PYTHON, ['-c', SDK_SCRIPT, `${svc.url}/v3/${project}`], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.snapshot_status, 'available');
    assert.ok(out.snapshot_names.includes('sdk-snap'));
    assert.deepEqual(out.snapshot_get, { name: 'sdk-snap', volume_id: true });
    assert.deepEqual(out.from_snapshot, { status: 'available', size: 1, snapshot_id: true });
    assert.ok(!out.snapshot_names_after.includes('sdk-snap'));
  });
});
