// QoS specs over HTTP (qos_specs_manage.py): create, show, list, set/unset keys, delete with force, associate,
// disassociate, disassociate_all, associations; the types' qos_specs_id; connection_info.qos_specs; and the
// back-end limits the volume host is told about for exported volumes of an associated type.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';
import type { RecordingHost } from '../workflow/fixture.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

const member = randomUUID().replace(/-/g, '');
const asMember = (method: string, path: string, body?: unknown) =>
  api.call(method, `/v3/${member}${path}`, body, { 'x-auth-token': `bob:${member}`, 'x-roles': 'member' });

test('create, show, list, set and unset keys, delete: Cinder bodies and faults', async () => {
  const created = await api.call('POST', '/qos-specs', { qos_specs: { name: 'gold', consumer: 'both', total_iops_sec: '500' } });
  assert.equal(created.status, 200);
  const id = created.body.qos_specs.id;
  assert.deepEqual(created.body.qos_specs, { id, name: 'gold', consumer: 'both', specs: { total_iops_sec: '500' } });
  assert.deepEqual(created.body.links.map((l: { rel: string }) => l.rel), ['self', 'bookmark']);
  assert.match(created.body.links[0].href, new RegExp(`/v3/${api.project}/qos-specs/${id}$`));

  const dflt = await api.call('POST', '/qos-specs', { qos_specs: { name: 'plain', read_bytes_sec: '1000' } });
  assert.equal(dflt.body.qos_specs.consumer, 'back-end', 'consumer defaults to back-end');
  assert.equal((await api.call('POST', '/qos-specs', { qos_specs: { name: 'gold' } })).status, 409);
  assert.deepEqual((await api.call('POST', '/qos-specs', { qos_specs: { name: 'bad', consumer: 'middle' } })).status, 400);
  assert.equal((await api.call('POST', '/qos-specs', { qos_specs: { consumer: 'both' } })).status, 400);
  assert.equal((await api.call('POST', '/qos-specs', { other: {} })).status, 400);

  const shown = await api.call('GET', `/qos-specs/${id}`);
  assert.deepEqual(shown.body.qos_specs, created.body.qos_specs);
  const missing = randomUUID();
  assert.deepEqual((await api.call('GET', `/qos-specs/${missing}`)).body, fault(404, 'itemNotFound', `No such QoS spec ${missing}.`));

  const list = await api.call('GET', '/qos-specs');
  assert.deepEqual(list.body.qos_specs.map((q: { name: string }) => q.name).sort(), ['gold', 'plain']);
  assert.deepEqual((await api.call('GET', '/qos-specs?consumer=both')).body.qos_specs.map((q: { id: string }) => q.id), [id]);

  const set = await api.call('PUT', `/qos-specs/${id}`, { qos_specs: { read_iops_sec: '100', consumer: 'front-end' } });
  assert.deepEqual(set.body, { qos_specs: { read_iops_sec: '100', consumer: 'front-end' } });
  assert.deepEqual((await api.call('GET', `/qos-specs/${id}`)).body.qos_specs, {
    id,
    name: 'gold',
    consumer: 'front-end',
    specs: { read_iops_sec: '100', total_iops_sec: '500' },
  });
  assert.equal((await api.call('PUT', `/qos-specs/${id}/delete_keys`, { keys: ['read_iops_sec'] })).status, 202);
  assert.deepEqual((await api.call('GET', `/qos-specs/${id}`)).body.qos_specs.specs, { total_iops_sec: '500' });
  assert.deepEqual(
    (await api.call('PUT', `/qos-specs/${id}/delete_keys`, { keys: ['nope'] })).body,
    fault(404, 'itemNotFound', `QoS spec ${id} has no spec with key nope.`),
  );
  assert.equal((await api.call('PUT', `/qos-specs/${id}/delete_keys`, { keys: 'x' })).status, 400);

  assert.equal((await asMember('GET', '/qos-specs')).status, 403, 'QoS specs are admin-only');
  assert.equal((await asMember('POST', '/qos-specs', { qos_specs: { name: 'm' } })).status, 403);

  assert.equal((await api.call('DELETE', `/qos-specs/${dflt.body.qos_specs.id}?force=maybe`)).status, 400);
  assert.equal((await api.call('DELETE', `/qos-specs/${dflt.body.qos_specs.id}`)).status, 202);
  assert.equal((await api.call('GET', `/qos-specs/${dflt.body.qos_specs.id}`)).status, 404);
  assert.equal((await api.call('DELETE', `/qos-specs/${id}`)).status, 202);
});

test('associations: one spec per type, qos_specs_id on type views, disassociate, disassociate_all, forced delete', async () => {
  const q = (await api.call('POST', '/qos-specs', { qos_specs: { name: 'assoc', consumer: 'back-end', total_bytes_sec: '1048576' } })).body.qos_specs;
  const other = (await api.call('POST', '/qos-specs', { qos_specs: { name: 'assoc-other' } })).body.qos_specs;
  const t1 = (await api.call('POST', '/types', { volume_type: { name: 'qos-t1' } })).body.volume_type;
  const t2 = (await api.call('POST', '/types', { volume_type: { name: 'qos-t2' } })).body.volume_type;

  assert.deepEqual((await api.call('GET', `/qos-specs/${q.id}/associate`)).body, fault(400, 'badRequest', 'Volume Type id must not be None.'));
  assert.equal((await api.call('GET', `/qos-specs/${q.id}/associate?vol_type_id=${randomUUID()}`)).status, 404);
  for (const t of [t1, t2]) assert.equal((await api.call('GET', `/qos-specs/${q.id}/associate?vol_type_id=${t.id}`)).status, 202);
  assert.equal((await api.call('GET', `/qos-specs/${q.id}/associate?vol_type_id=${t1.id}`)).status, 202, 'associating again is a no-op');
  const taken = await api.call('GET', `/qos-specs/${other.id}/associate?vol_type_id=${t1.id}`);
  assert.equal(taken.status, 400);
  assert.match(taken.body.badRequest.message, /already associated with another qos specs/);

  const assoc = (await api.call('GET', `/qos-specs/${q.id}/associations`)).body.qos_associations;
  assert.deepEqual(
    assoc.sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)),
    [
      { association_type: 'volume_type', id: t1.id, name: 'qos-t1' },
      { association_type: 'volume_type', id: t2.id, name: 'qos-t2' },
    ],
  );
  assert.equal((await api.call('GET', `/types/${t1.id}`)).body.volume_type.qos_specs_id, q.id);
  const listed = (await api.call('GET', '/types')).body.volume_types.find((t: { id: string }) => t.id === t2.id);
  assert.equal(listed.qos_specs_id, q.id);

  assert.equal((await api.call('GET', `/qos-specs/${q.id}/disassociate?vol_type_id=${t1.id}`)).status, 202);
  assert.equal((await api.call('GET', `/types/${t1.id}`)).body.volume_type.qos_specs_id, null);
  assert.deepEqual((await api.call('DELETE', `/qos-specs/${q.id}`)).body, fault(400, 'badRequest', 'Qos specs still in use.'));
  assert.equal((await api.call('GET', `/qos-specs/${q.id}/disassociate_all`)).status, 202);
  assert.deepEqual((await api.call('GET', `/qos-specs/${q.id}/associations`)).body, { qos_associations: [] });

  assert.equal((await api.call('GET', `/qos-specs/${other.id}/associate?vol_type_id=${t2.id}`)).status, 202);
  assert.equal((await api.call('DELETE', `/qos-specs/${other.id}?force=true`)).status, 202);
  assert.equal((await api.call('GET', `/types/${t2.id}`)).body.volume_type.qos_specs_id, null, 'a forced delete disassociates');
  assert.equal((await api.call('DELETE', `/qos-specs/${q.id}`)).status, 202);
});

test('connection_info.qos_specs carries front-end and both specs (per-GB scaled); the host gets back-end limits live', async () => {
  const host = api.env.host as unknown as RecordingHost;
  const type = (await api.call('POST', '/types', { volume_type: { name: 'qos-conn' } })).body.volume_type;
  const q = (
    await api.call('POST', '/qos-specs', {
      qos_specs: { name: 'conn', consumer: 'front-end', read_iops_sec_per_gb: '100', read_iops_sec_per_gb_min: '50', total_bytes_sec: '2000' },
    })
  ).body.qos_specs;
  await api.call('GET', `/qos-specs/${q.id}/associate?vol_type_id=${type.id}`);
  const vol = await api.create({ size: 3, volume_type: type.id });
  const connector = { initiator: 'iqn.1994-05.com.redhat:qos', host: 'compute-1', ip: '10.0.0.9' };
  const conn = await api.action(vol, 'os-initialize_connection', { connector });
  assert.equal(conn.status, 200);
  assert.deepEqual(conn.body.connection_info.data.qos_specs, { read_iops_sec: 300, total_bytes_sec: '2000' });
  assert.equal(host.qos.get(vol) ?? null, null, 'a front-end spec sets no limit on the target');

  await api.call('PUT', `/qos-specs/${q.id}`, { qos_specs: { consumer: 'both' } });
  assert.deepEqual(host.qos.get(vol), { read_iops_sec: 300, total_bytes_sec: 2000 }, 'a change reaches the exported volume');
  const again = await api.action(vol, 'os-initialize_connection', { connector });
  assert.deepEqual(again.body.connection_info.data.qos_specs, { read_iops_sec: 300, total_bytes_sec: '2000' });

  await api.call('PUT', `/qos-specs/${q.id}`, { qos_specs: { consumer: 'back-end', total_bytes_sec_max: '4000', total_bytes_sec_max_length: '3' } });
  assert.deepEqual(host.qos.get(vol), { read_iops_sec: 300, total_bytes_sec: 2000, total_bytes_sec_max: 4000, total_bytes_sec_max_length: 3 });
  assert.equal((await api.action(vol, 'os-initialize_connection', { connector })).body.connection_info.data.qos_specs, null);

  await api.call('GET', `/qos-specs/${q.id}/disassociate?vol_type_id=${type.id}`);
  assert.equal(host.qos.get(vol), null, 'disassociating lifts the limits');
});

test('per-GB back-end limits follow an extend of an exported volume', async () => {
  const host = api.env.host as unknown as RecordingHost;
  const type = (await api.call('POST', '/types', { volume_type: { name: 'qos-pergb' } })).body.volume_type;
  const q = (await api.call('POST', '/qos-specs', { qos_specs: { name: 'pergb', total_iops_sec_per_gb: '10' } })).body.qos_specs;
  await api.call('GET', `/qos-specs/${q.id}/associate?vol_type_id=${type.id}`);
  const vol = await api.create({ size: 2, volume_type: type.id });
  await api.action(vol, 'os-initialize_connection', { connector: { initiator: 'iqn.1994-05.com.redhat:pergb', host: 'c2' } });
  assert.deepEqual(host.qos.get(vol), { total_iops_sec: 20 });
  assert.equal((await api.action(vol, 'os-extend', { new_size: 5 })).status, 202);
  await api.env.workflow.drain();
  assert.deepEqual(host.qos.get(vol), { total_iops_sec: 50 });
});
