// The openstack CLI, unmodified, drives QoS specs against `embervol serve` (noauth): create, set, unset,
// associate with a type, show (with its associations), list, disassociate, delete.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunResult } from '../../src/util/exec.js';
import { noauthOpenstack } from './cinder-cli.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { CinderApi } from './api-client.js';

describe('openstack volume qos against embervol (noauth)', () => {
  let svc: ServiceProcess;
  let osc: (...args: string[]) => Promise<RunResult>;
  let api: CinderApi;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, 'admin', 'notused');
    osc = noauthOpenstack(svc.url);
  });
  after(async () => {
    await svc?.stop();
  });

  const ok = (r: RunResult) => {
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const json = (r: RunResult) => JSON.parse(ok(r));

  it('qos create/set/unset/associate/show/disassociate/delete', async () => {
    const q = json(await osc('volume', 'qos', 'create', '--consumer', 'both', '--property', 'total_iops_sec=2000', 'osc-qos', '-f', 'json'));
    assert.equal(q.name, 'osc-qos');
    assert.equal(q.consumer, 'both');
    assert.deepEqual(q.properties, { total_iops_sec: '2000' });

    ok(await osc('volume', 'qos', 'set', '--property', 'read_bytes_sec=1048576', '--property', 'write_iops_sec=100', 'osc-qos'));
    ok(await osc('volume', 'qos', 'unset', '--property', 'write_iops_sec', 'osc-qos'));
    const stored = (await api.call('GET', `/qos-specs/${q.id}`)).body.qos_specs;
    assert.deepEqual(stored.specs, { read_bytes_sec: '1048576', total_iops_sec: '2000' });

    const t = json(await osc('volume', 'type', 'create', 'osc-qos-type', '-f', 'json'));
    ok(await osc('volume', 'qos', 'associate', 'osc-qos', 'osc-qos-type'));
    assert.equal((await api.call('GET', `/types/${t.id}`)).body.volume_type.qos_specs_id, q.id);
    const shown = json(await osc('volume', 'qos', 'show', 'osc-qos', '-f', 'json'));
    assert.deepEqual(shown.associations, ['osc-qos-type']);
    const listed = json(await osc('volume', 'qos', 'list', '-f', 'json'));
    const row = listed.find((x: any) => x.ID === q.id);
    assert.ok(row, JSON.stringify(listed));
    assert.deepEqual(row.Associations, ['osc-qos-type']);

    // A spec still associated is not deleted without --force.
    const refused = await osc('volume', 'qos', 'delete', 'osc-qos');
    assert.notEqual(refused.code, 0);
    ok(await osc('volume', 'qos', 'disassociate', '--volume-type', 'osc-qos-type', 'osc-qos'));
    assert.equal((await api.call('GET', `/types/${t.id}`)).body.volume_type.qos_specs_id, null);
    ok(await osc('volume', 'qos', 'associate', 'osc-qos', 'osc-qos-type'));
    ok(await osc('volume', 'qos', 'disassociate', '--all', 'osc-qos'));
    assert.deepEqual((await api.call('GET', `/qos-specs/${q.id}/associations`)).body, { qos_associations: [] });
    ok(await osc('volume', 'qos', 'associate', 'osc-qos', 'osc-qos-type'));
    ok(await osc('volume', 'qos', 'delete', '--force', 'osc-qos'));
    assert.equal((await api.call('GET', `/qos-specs/${q.id}`)).status, 404);
    assert.equal((await api.call('GET', `/types/${t.id}`)).body.volume_type.qos_specs_id, null);
    ok(await osc('volume', 'type', 'delete', 'osc-qos-type'));
  });
});
