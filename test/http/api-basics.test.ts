// The HTTP surface outside the actions: discovery, microversions, request ids, noauth, faults,
// volumes CRUD and its JSON view, volume types and extra specs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';
import { MAX_BODY_BYTES } from '../../src/http/app.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

const REQ_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/;

test('version discovery: GET / is 300, GET /v3/ 200 with the same entry, GET /v3 redirects', async () => {
  const root = await api.call('GET', '/');
  assert.equal(root.status, 300);
  assert.match(String(root.headers['x-openstack-request-id']), REQ_ID);
  const [v] = root.body.versions;
  assert.equal(v.id, 'v3.0');
  assert.equal(v.status, 'CURRENT');
  assert.equal(v.version, '3.70');
  assert.equal(v.min_version, '3.0');
  assert.ok(v.updated && v.links.some((l: any) => l.rel === 'self' && l.href.endsWith('/v3/')));
  assert.deepEqual(v['media-types'], [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }]);
  const v3 = await api.call('GET', '/v3/');
  assert.equal(v3.status, 200);
  assert.equal(v3.body.versions[0].id, v.id);
  const redirect = await api.call('GET', '/v3');
  assert.equal(redirect.status, 302);
  assert.match(String(redirect.headers.location), /^http:\/\/[^/]+\/v3\/$/);
});

test('microversions: none is 3.0, latest is 3.70, out of range 406, malformed 400; echoed with Vary', async () => {
  const none = await api.call('GET', '/volumes');
  assert.equal(none.status, 200);
  assert.equal(none.headers['openstack-api-version'], 'volume 3.0');
  assert.equal(none.headers.vary, 'OpenStack-API-Version');
  assert.match(String(none.headers['x-compute-request-id']), REQ_ID);
  assert.equal(none.headers['x-compute-request-id'], none.headers['x-openstack-request-id']);
  const latest = await api.call('GET', '/volumes', undefined, { 'OpenStack-API-Version': 'volume latest' });
  assert.equal(latest.headers['openstack-api-version'], 'volume 3.70');
  const mixed = await api.call('GET', '/volumes', undefined, { 'OpenStack-API-Version': 'compute 2.1, volume 3.44' });
  assert.equal(mixed.headers['openstack-api-version'], 'volume 3.44');
  const high = await api.call('GET', '/volumes', undefined, { 'OpenStack-API-Version': 'volume 3.71' });
  assert.equal(high.status, 406);
  assert.deepEqual(high.body, fault(406, 'computeFault', 'Version 3.71 is not supported by the API. Minimum is 3.0 and maximum is 3.70.'));
  assert.equal(high.headers.vary, 'OpenStack-API-Version');
  const bad = await api.call('GET', '/volumes', undefined, { 'OpenStack-API-Version': 'volume three' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.badRequest.code, 400);
});

test('noauth: token names user and project; URL project must match; "notused" takes the URL project', async () => {
  const id = await api.create({ name: 'mine' });
  const other = await api.call('GET', `/v3/ffff0000/volumes/${id}`, undefined, { 'x-auth-token': 'tester:ffff0000' });
  assert.equal(other.status, 200, 'noauth callers are admin and see every project');
  const mismatch = await api.call('GET', `/v3/ffff0000/volumes/${id}`);
  assert.deepEqual(mismatch.body, fault(400, 'badRequest', 'Malformed request url'));
  const osc = await api.call('GET', `/volumes/${id}`, undefined, { 'x-auth-token': 'notused' });
  assert.equal(osc.status, 200);
  assert.equal(osc.body.volume['os-vol-tenant-attr:tenant_id'], api.project);
  const noProject = await api.call('GET', `/v3/volumes/${id}`);
  assert.equal(noProject.status, 200, 'routes answer without the project segment too');
  assert.equal(noProject.body.volume.id, id);
  const handshake = await api.app.inject({ method: 'GET', url: `/v3/${api.project}/volumes` });
  assert.equal(handshake.statusCode, 204);
  assert.equal(handshake.headers['x-auth-token'], `admin:${api.project}`);
});

test('X-Roles member: project isolation is 404, admin-only is 403', async () => {
  const id = await api.create();
  const member = { 'x-auth-token': 'bob:beef0001', 'x-roles': 'member' };
  const seen = await api.call('GET', `/v3/beef0001/volumes/${id}`, undefined, member);
  assert.deepEqual(seen.body, fault(404, 'itemNotFound', `Volume ${id} could not be found.`));
  const act = await api.call('POST', `/v3/beef0001/volumes/${id}/action`, { 'os-reserve': null }, member);
  assert.equal(act.status, 404);
  const listed = await api.call('GET', '/v3/beef0001/volumes', undefined, member);
  assert.deepEqual(listed.body.volumes, []);
  const own = await api.call('POST', '/v3/beef0001/volumes', { volume: { size: 1 } }, member);
  assert.equal(own.status, 202);
  const ownId = own.body.volume.id;
  const reset = await api.call('POST', `/v3/beef0001/volumes/${ownId}/action`, { 'os-reset_status': { status: 'error' } }, member);
  assert.deepEqual(reset.body, fault(403, 'forbidden', "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed."));
  assert.equal(own.body.volume.attachments.length, 0);
  assert.equal('os-vol-host-attr:host' in own.body.volume, false, 'host is admin-only');
  const reader = await api.call('POST', `/v3/beef0001/volumes/${ownId}/action`, { 'os-reserve': null }, { 'x-auth-token': 'r:beef0001', 'x-roles': 'reader' });
  assert.deepEqual(reader.body, fault(403, 'forbidden', "Policy doesn't allow volume_extension:volume_actions:reserve to be performed."));
  await api.env.workflow.drain();
});

test('faults: unknown route and volume 404, non-JSON 415, malformed JSON 400, oversized 413 — never 500', async () => {
  assert.deepEqual((await api.call('GET', '/nothing-here')).body, fault(404, 'itemNotFound', 'The resource could not be found.'));
  const missing = randomUUID();
  assert.deepEqual((await api.call('GET', `/volumes/${missing}`)).body, fault(404, 'itemNotFound', `Volume ${missing} could not be found.`));
  assert.deepEqual((await api.call('GET', '/volumes/xxx')).body, fault(404, 'itemNotFound', 'Volume xxx could not be found.'));
  const id = await api.create();
  const text = await api.call('POST', `/volumes/${id}/action`, 'os-reserve', { 'content-type': 'text/plain' });
  assert.deepEqual(text.body, fault(415, 'badMediaType', 'Unsupported Content-Type'));
  const broken = await api.call('POST', '/volumes', '{"volume": {"size": 1', {});
  assert.deepEqual(broken.body, fault(400, 'badRequest', 'Malformed request body'));
  const big = await api.call('POST', '/volumes', { volume: { size: 1, description: 'x'.repeat(MAX_BODY_BYTES) } });
  assert.deepEqual(big.body, fault(413, 'overLimit', 'Request is too large.'));
  const empty = await api.call('POST', '/volumes', '', {});
  assert.deepEqual(empty.body, fault(400, 'badRequest', "'volume' is a required property"));
  assert.equal((await api.call('GET', '/volumes')).status, 200, 'nothing half-written by the refused requests');
});

test('create: 202 creating with the full view, then available; validation messages as Cinder', async () => {
  const r = await api.call('POST', '/volumes', { volume: { size: '2', name: 'vol-a', description: 'd', metadata: { k: 'v' } } });
  assert.equal(r.status, 202);
  const v = r.body.volume;
  assert.equal(v.status, 'creating');
  assert.equal(v.size, 2);
  for (const key of ['attachments', 'links', 'encrypted', 'updated_at', 'replication_status', 'id', 'size', 'user_id', 'availability_zone', 'metadata', 'status', 'description', 'multiattach', 'consistencygroup_id', 'name', 'bootable', 'created_at', 'volume_type', 'snapshot_id', 'source_volid']) {
    assert.ok(key in v, `view has ${key}`);
  }
  assert.equal(v.volume_type, '__DEFAULT__');
  assert.equal(v.bootable, 'false');
  assert.equal(v.multiattach, false);
  assert.deepEqual(v.metadata, { k: 'v' });
  assert.match(v.created_at, TS);
  assert.equal('volume_type_id' in v, false, 'no 3.63 field at 3.0');
  assert.deepEqual(v.links.map((l: any) => l.rel), ['self', 'bookmark']);
  await api.env.workflow.drain();
  const shown = await api.call('GET', `/volumes/${v.id}`, undefined, { 'OpenStack-API-Version': 'volume 3.65' });
  assert.equal(shown.body.volume.status, 'available');
  assert.ok(shown.body.volume.volume_type_id);
  assert.equal(shown.body.volume.consumes_quota, true);
  assert.equal(shown.body.volume.shared_targets, false);

  const cases: [unknown, number, string][] = [
    [{ volume: { size: 'abc' } }, 400, "Invalid input for field/attribute size. Value: 'abc'. 'abc' does not match '^[0-9]+$'"],
    [{ volume: { size: 0 } }, 400, 'Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1'],
    [{ volume: { size: 1, multiattach: true } }, 400, ''],
    [{ volume: { size: 1, volume_type: 'no-such-type' } }, 404, 'Volume type with name no-such-type could not be found.'],
    [{ volume: { size: 1, availability_zone: 'mars' } }, 400, "Availability zone 'mars' is invalid."],
    [{ vol: {} }, 400, "'volume' is a required property"],
    [{ volume: { size: 1 }, extra: 1 }, 400, "Additional properties are not allowed ('extra' was unexpected)"],
  ];
  for (const [body, status, message] of cases) {
    const res = await api.call('POST', '/volumes', body);
    assert.equal(res.status, status, JSON.stringify(body));
    const f = Object.values(res.body)[0] as { message: string };
    if (message) assert.equal(f.message, message);
    else assert.match(f.message, /^multiattach parameter has been removed/);
  }
});

test('list, detail, filters, sort, limit/marker paging with a next link', async () => {
  const project = 'abcd0002';
  const h = { 'x-auth-token': `u:${project}` };
  const ids: string[] = [];
  for (const name of ['p1', 'p2', 'p3']) {
    const r = await api.call('POST', `/v3/${project}/volumes`, { volume: { size: 1, name } }, h);
    ids.push(r.body.volume.id);
  }
  await api.env.workflow.drain();
  const summary = await api.call('GET', `/v3/${project}/volumes`, undefined, h);
  assert.equal(summary.body.volumes.length, 3);
  assert.deepEqual(Object.keys(summary.body.volumes[0]).sort(), ['id', 'links', 'name']);
  const byName = await api.call('GET', `/v3/${project}/volumes/detail?name=p2`, undefined, h);
  assert.deepEqual(byName.body.volumes.map((v: any) => v.name), ['p2']);
  const sorted = await api.call('GET', `/v3/${project}/volumes?sort=name:asc`, undefined, h);
  assert.deepEqual(sorted.body.volumes.map((v: any) => v.name), ['p1', 'p2', 'p3']);
  const page1 = await api.call('GET', `/v3/${project}/volumes?sort=name:asc&limit=2`, undefined, h);
  assert.deepEqual(page1.body.volumes.map((v: any) => v.name), ['p1', 'p2']);
  const next = new URL(page1.body.volumes_links[0].href);
  assert.equal(next.searchParams.get('marker'), page1.body.volumes[1].id);
  const page2 = await api.call('GET', `${next.pathname}${next.search}`, undefined, h);
  assert.deepEqual(page2.body.volumes.map((v: any) => v.name), ['p3']);
  assert.equal(page2.body.volumes_links, undefined);
  const counted = await api.call('GET', `/v3/${project}/volumes?with_count=true`, undefined, { ...h, 'OpenStack-API-Version': 'volume 3.45' });
  assert.equal(counted.body.count, 3);
  const badLimit = await api.call('GET', `/v3/${project}/volumes?limit=x`, undefined, h);
  assert.deepEqual(badLimit.body, fault(400, 'badRequest', 'limit param must be an integer'));
  const badDir = await api.call('GET', `/v3/${project}/volumes?sort=name:up`, undefined, h);
  assert.equal(badDir.status, 400);
});

test('update returns 200 with the new view; delete is a CAS to deleting, then the volume is gone', async () => {
  const id = await api.create({ name: 'before' });
  const up = await api.call('PUT', `/volumes/${id}`, { volume: { name: 'after', metadata: { a: '1' } } });
  assert.equal(up.status, 200);
  assert.equal(up.body.volume.name, 'after');
  assert.deepEqual(up.body.volume.metadata, { a: '1' });
  const extra = await api.call('PUT', `/volumes/${id}`, { volume: { size: 3 } });
  assert.equal(extra.status, 400);

  await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' });
  const refused = await api.call('DELETE', `/volumes/${id}`);
  assert.deepEqual(
    refused.body,
    fault(400, 'badRequest', 'Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.'),
  );
  await api.action(id, 'os-detach', {});
  const del = await api.call('DELETE', `/volumes/${id}`);
  assert.equal(del.status, 202);
  assert.equal(del.text, '');
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${id}`)).status, 404);
});

test('types: default type, admin create/show/list/delete, 409 duplicate, extra specs CRUD', async () => {
  const list = await api.call('GET', '/types');
  assert.ok(list.body.volume_types.some((t: any) => t.name === '__DEFAULT__'));
  const def = await api.call('GET', '/types/default');
  assert.equal(def.body.volume_type.name, '__DEFAULT__');
  assert.deepEqual(Object.keys(def.body.volume_type).sort(), ['description', 'extra_specs', 'id', 'is_public', 'name', 'os-volume-type-access:is_public', 'qos_specs_id']);

  const created = await api.call('POST', '/types', { volume_type: { name: 'gold', description: 'fast', extra_specs: { speed: 'high' } } });
  assert.equal(created.status, 200);
  const t = created.body.volume_type;
  assert.equal(t.is_public, true);
  assert.deepEqual(t.extra_specs, { speed: 'high' });
  const dup = await api.call('POST', '/types', { volume_type: { name: 'gold' } });
  assert.deepEqual(dup.body, fault(409, 'conflictingRequest', 'Volume Type gold already exists.'));
  assert.equal((await api.call('POST', '/types', { volume_type: { name: 'x' } }, { 'x-roles': 'member' })).status, 403);

  const set = await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: { multiattach: '<is> True' } });
  assert.deepEqual(set.body, { extra_specs: { multiattach: '<is> True' } });
  assert.deepEqual((await api.call('GET', `/types/${t.id}/extra_specs`)).body, { extra_specs: { multiattach: '<is> True', speed: 'high' } });
  assert.deepEqual((await api.call('GET', `/types/${t.id}/extra_specs/speed`)).body, { speed: 'high' });
  assert.deepEqual((await api.call('PUT', `/types/${t.id}/extra_specs/speed`, { speed: 'low' })).body, { speed: 'low' });
  assert.deepEqual((await api.call('PUT', `/types/${t.id}/extra_specs/speed`, { other: 'x' })).body, fault(400, 'badRequest', 'Request body and URI mismatch'));
  assert.equal((await api.call('DELETE', `/types/${t.id}/extra_specs/speed`)).status, 202);
  assert.equal((await api.call('GET', `/types/${t.id}/extra_specs/speed`)).status, 404);

  const vol = await api.create({ volume_type: 'gold' });
  assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.multiattach, true, 'multiattach comes from the type');
  assert.deepEqual((await api.call('DELETE', `/types/${t.id}`)).body, fault(400, 'badRequest', 'Target volume type is still in use.'));
  assert.equal((await api.call('DELETE', `/types/${def.body.volume_type.id}`)).status, 400);
  await api.call('DELETE', `/volumes/${vol}`);
  await api.env.workflow.drain();
  assert.equal((await api.call('DELETE', `/types/${t.id}`)).status, 202);
  assert.deepEqual((await api.call('GET', `/types/${t.id}`)).body, fault(404, 'itemNotFound', `Volume type ${t.id} could not be found.`));
});
