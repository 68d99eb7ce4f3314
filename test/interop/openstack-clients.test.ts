// The openstack CLI (python3-openstackclient) and openstacksdk, unmodified, in noauth mode against
// `embervol serve`: volumes and volume types created, listed, shown and deleted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { noauthOpenstack } from './cinder-cli.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { CinderApi } from './api-client.js';

// Debian's openstacksdk lives in the system python, whatever python3 is first on PATH.
const SYSTEM_PYTHON = '/usr/bin/python3';

const SDK_SCRIPT = `
import json, sys
import openstack
conn = openstack.connect(auth_type='none', auth={'endpoint': sys.argv[1]})
bs = conn.block_storage
out = {}
t = bs.create_type(name='sdk-type', extra_specs={'multiattach': '<is> True'})
out['type_id'] = t.id
out['type_names'] = sorted(x.name for x in bs.types())
out['type_get'] = bs.get_type(t.id).name
v = bs.create_volume(size=1, name='sdk-vol', volume_type='sdk-type')
v = bs.wait_for_status(v, 'available', failures=['error'], wait=60)
out['volume_status'] = v.status
out['volume_names'] = sorted(x.name for x in bs.volumes())
got = bs.get_volume(v.id)
# sdk 0.101 has no multiattach attribute on Volume; the raw body still carries it.
out['volume_get'] = {'name': got.name, 'size': got.size, 'type': got.volume_type, 'status': got.status}
bs.delete_volume(v.id)
bs.wait_for_delete(v, wait=60)
out['volume_names_after'] = sorted(x.name for x in bs.volumes())
bs.delete_type(t.id)
out['type_names_after'] = sorted(x.name for x in bs.types())
print(json.dumps(out))
`;

describe('openstack CLI and openstacksdk against embervol (noauth)', { concurrency: true }, () => {
  let svc: ServiceProcess;
  let osc: (...args: string[]) => Promise<RunResult>;
  let api: CinderApi;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    // OSC without a project in the endpoint: embervol takes the default project, as real Cinder's noauth does.
    api = new CinderApi(svc.url, 'admin', 'notused');
    osc = noauthOpenstack(svc.url);
  });
  after(async () => {
    await svc?.stop();
  });

  const json = (r: RunResult) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  it('openstack volume type create/list/show/delete, then volume create/list/show/delete with that type', async () => {
    const t = json(await osc('volume', 'type', 'create', 'osc-type', '--property', 'multiattach=<is> True', '-f', 'json'));
    assert.equal(t.name, 'osc-type');
    assert.deepEqual(t.properties, { multiattach: '<is> True' });
    const types = json(await osc('volume', 'type', 'list', '-f', 'json'));
    assert.deepEqual(types.map((x: any) => x.Name).sort(), ['__DEFAULT__', 'osc-type', ...(types.some((x: any) => x.Name === 'sdk-type') ? ['sdk-type'] : [])].sort());
    assert.equal(json(await osc('volume', 'type', 'show', 'osc-type', '-f', 'json')).id, t.id);

    const v = json(await osc('volume', 'create', '--size', '1', '--type', 'osc-type', 'osc-vol', '-f', 'json'));
    assert.equal(v.name, 'osc-vol');
    assert.equal(v.multiattach, true);
    // Each openstack process costs seconds of CPU, so waiting happens over plain HTTP.
    await api.waitStatus(v.id, 'available');
    const shown = json(await osc('volume', 'show', 'osc-vol', '-f', 'json'));
    assert.deepEqual([shown.id, shown.status, shown.type, shown.size], [v.id, 'available', 'osc-type', 1]);
    const listed = json(await osc('volume', 'list', '-f', 'json'));
    assert.ok(listed.some((x: any) => x.ID === v.id && x.Name === 'osc-vol' && x.Size === 1), JSON.stringify(listed));

    const del = await osc('volume', 'delete', 'osc-vol');
    assert.equal(del.code, 0, del.stderr);
    for (let i = 0; i < 200 && (await api.call('GET', `/volumes/${v.id}`)).status !== 404; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await api.call('GET', `/volumes/${v.id}`)).status, 404, 'the volume is gone');
    const typeDel = await osc('volume', 'type', 'delete', 'osc-type');
    assert.equal(typeDel.code, 0, typeDel.stderr);
    assert.equal((await api.call('GET', `/types/${t.id}`)).status, 404, 'the type is gone');
  });

  it('openstacksdk creates, lists, gets and deletes a type and a volume', async () => {
    const r = await runProcess(SYSTEM_PYTHON, ['-c', SDK_SCRIPT, `${svc.url}/v3`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(out.type_names.includes('sdk-type') && out.type_names.includes('__DEFAULT__'), JSON.stringify(out));
    assert.equal(out.type_get, 'sdk-type');
    assert.equal(out.volume_status, 'available');
    assert.ok(out.volume_names.includes('sdk-vol'));
    assert.deepEqual(out.volume_get, { name: 'sdk-vol', size: 1, type: 'sdk-type', status: 'available' });
    assert.ok(!out.volume_names_after.includes('sdk-vol'));
    assert.ok(!out.type_names_after.includes('sdk-type'));
  });
});
