// /attachments over real fastify routing and a real SQLite store (docs/cinder-compatibility.md#attachments-api): microversion gates, the
// new-flow state table, Nova's detach path, refusals with Cinder's codes and messages, multiattach rules,
// filters and project scoping. The host records calls (no bytes here; the interop tests use real targets).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';
import { connector, type RecordingHost } from '../workflow/fixture.js';

let api: Api;
let host: RecordingHost;
let multiType: string;
before(async () => {
  api = await makeApi();
  host = api.env.host as RecordingHost;
  const t = await api.call('POST', '/types', { volume_type: { name: 'multi', extra_specs: { multiattach: '<is> True' } } });
  assert.equal(t.status, 200, t.text);
  multiType = t.body.volume_type.id;
});
after(async () => {
  await api?.close();
});

const V = (minor: number) => ({ 'openstack-api-version': `volume 3.${minor}` });
const v344 = V(44);
const volume = async (id: string) => (await api.call('GET', `/volumes/${id}`, undefined, V(48))).body.volume;
const create = (body: Record<string, unknown>, headers: Record<string, string> = v344) => api.call('POST', '/attachments', { attachment: body }, headers);
const update = (id: string, connector: unknown, headers: Record<string, string> = v344) => api.call('PUT', `/attachments/${id}`, { attachment: { connector } }, headers);
const complete = (id: string, headers: Record<string, string> = v344) => api.call('POST', `/attachments/${id}/action`, { 'os-complete': null }, headers);
const remove = (id: string, headers: Record<string, string> = v344) => api.call('DELETE', `/attachments/${id}`, undefined, headers);
const NOT_FOUND = fault(404, 'itemNotFound', 'The resource could not be found.');

test('routes exist from 3.27, os-complete from 3.44, mode from 3.54; below that 404 / 400 as Cinder', async () => {
  const id = await api.create();
  const att = randomUUID();
  for (const headers of [{}, V(26)]) {
    assert.deepEqual((await create({ volume_uuid: id }, headers)).body, NOT_FOUND);
    assert.deepEqual((await api.call('GET', '/attachments', undefined, headers)).body, NOT_FOUND);
    assert.deepEqual((await api.call('GET', '/attachments/detail', undefined, headers)).body, NOT_FOUND);
    assert.deepEqual((await api.call('GET', `/attachments/${att}`, undefined, headers)).body, NOT_FOUND);
    assert.deepEqual((await update(att, connector('iqn.x:a'), headers)).body, NOT_FOUND);
    assert.deepEqual((await remove(att, headers)).body, NOT_FOUND);
  }
  assert.equal((await volume(id)).status, 'available', 'refused creates wrote nothing');

  const r = await create({ volume_uuid: id }, V(27));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await complete(r.body.attachment.id, V(43))).body, NOT_FOUND);
  assert.equal((await complete(r.body.attachment.id, V(44))).status, 204);
  assert.equal((await remove(r.body.attachment.id)).status, 200);

  const early = await create({ volume_uuid: id, mode: 'ro' }, V(53));
  assert.deepEqual(early.body, fault(400, 'badRequest', `Invalid input for field/attribute attachment. Value: {'volume_uuid': '${id}', 'mode': 'ro'}. Additional properties are not allowed ('mode' was unexpected)`));
  const late = await create({ volume_uuid: id, mode: 'ro' }, V(54));
  assert.equal(late.status, 200, late.text);
  assert.equal(late.body.attachment.attach_mode, 'ro');
  assert.equal((await remove(late.body.attachment.id)).status, 200);
  assert.equal((await volume(id)).status, 'available');
});

test('Nova sequence: reserve -> update(connector+mountpoint) -> complete -> begin_detaching -> delete, with the state table', async () => {
  const id = await api.create();
  const instance = randomUUID();
  const created = await create({ volume_uuid: id, instance_uuid: instance, connector: null });
  assert.equal(created.status, 200, created.text);
  const a = created.body.attachment;
  assert.deepEqual(a, { id: a.id, status: 'reserved', instance, volume_id: id, attached_at: '', detached_at: '', attach_mode: 'null', connection_info: null });
  const lease = async () => (await api.env.store.db.selectFrom('volume_attachment').select('lease_expires_at').where('id', '=', a.id).executeTakeFirstOrThrow()).lease_expires_at;
  assert.ok(await lease(), 'a reserved attachment carries a lease, so an abandoned reserve is rolled back');
  let v = await volume(id);
  assert.deepEqual([v.status, v.attach_status ?? 'hidden'], ['reserved', 'hidden']);
  assert.deepEqual(v.attachments, [], 'reserved attachments are not listed on the volume');

  const up = await update(a.id, connector('iqn.1994-05.com.redhat:nova-1', { mountpoint: '/dev/vdb' }));
  assert.equal(up.status, 200, up.text);
  const ci = up.body.attachment.connection_info;
  assert.equal(up.body.attachment.status, 'attaching');
  assert.equal(up.body.attachment.attach_mode, 'rw');
  assert.match(up.body.attachment.attached_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  for (const key of ['target_discovered', 'target_portal', 'target_iqn', 'target_lun', 'volume_id', 'auth_method', 'auth_username', 'auth_password', 'encrypted', 'qos_specs', 'access_mode', 'driver_volume_type', 'attachment_id']) {
    assert.ok(key in ci, `flattened connection_info lacks ${key}`);
  }
  assert.equal(ci.driver_volume_type, 'iscsi');
  assert.equal(ci.attachment_id, a.id);
  assert.equal(ci.access_mode, 'rw');
  assert.equal(ci.volume_id, id);
  assert.equal((await volume(id)).status, 'attaching');

  assert.equal((await complete(a.id)).status, 204);
  assert.equal(await lease(), null, 'an attached attachment needs no lease');
  v = await volume(id);
  assert.equal(v.status, 'in-use');
  assert.equal(v.attachments.length, 1);
  assert.deepEqual(
    { attachment_id: v.attachments[0].attachment_id, server_id: v.attachments[0].server_id, device: v.attachments[0].device, host_name: v.attachments[0].host_name },
    { attachment_id: a.id, server_id: instance, device: '/dev/vdb', host_name: 'nova-1' },
  );
  const shown = await api.call('GET', `/attachments/${a.id}`, undefined, v344);
  assert.equal(shown.body.attachment.status, 'attached');
  assert.deepEqual(shown.body.attachment.connection_info, ci);

  // A failed host-side disconnect: Nova rolls the detach back, and tries again later.
  assert.equal((await api.action(id, 'os-begin_detaching', null, v344)).status, 202);
  assert.equal((await volume(id)).status, 'detaching');
  assert.equal((await api.action(id, 'os-roll_detaching', null, v344)).status, 202);
  assert.equal((await volume(id)).status, 'in-use');
  assert.equal((await api.action(id, 'os-begin_detaching', null, v344)).status, 202);
  const del = await remove(a.id);
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.body, { attachments: [] });
  v = await volume(id);
  assert.equal(v.status, 'available');
  assert.deepEqual(v.attachments, []);
  // The second allow is os-roll_detaching's: a terminate_connection during the detach may have denied the initiator
  // (workflow/exports.ts regrantAttachedInitiators), and the rolled-back attachment needs it again.
  assert.deepEqual(host.ops(id).slice(1), ['createExport', 'initializeConnection:iqn.1994-05.com.redhat:nova-1', 'initializeConnection:iqn.1994-05.com.redhat:nova-1', 'removeExport']);
  assert.deepEqual((await api.call('GET', `/attachments/${a.id}`, undefined, v344)).body, fault(404, 'itemNotFound', `Volume attachment could not be found with filter: attachment_id = ${a.id}.`));
});

test('create with a connector connects at once; a connector without initiator is 400 and leaves nothing behind', async () => {
  const id = await api.create();
  for (const bad of [{ host: 'h', ip: '1.2.3.4' }, { initiator: '', host: 'h' }]) {
    const r = await create({ volume_uuid: id, connector: bad });
    assert.deepEqual(r.body, fault(400, 'badRequest', "Invalid input received: Connector doesn't have required information: initiator"));
  }
  assert.equal((await volume(id)).status, 'available');
  assert.deepEqual((await api.call('GET', `/attachments?volume_id=${id}`, undefined, v344)).body, { attachments: [] });

  const r = await create({ volume_uuid: id, connector: connector('iqn.x:direct') });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.attachment.status, 'attaching');
  assert.equal(r.body.attachment.connection_info.attachment_id, r.body.attachment.id);
  assert.equal((await volume(id)).status, 'attaching');

  // PUT with a connector that lacks the initiator: 400, and the attachment keeps its connection.
  const bad = await update(r.body.attachment.id, { host: 'h' });
  assert.deepEqual(bad.body, fault(400, 'badRequest', "Invalid input received: Connector doesn't have required information: initiator"));
  assert.equal((await update(r.body.attachment.id, {})).status, 400, 'an empty connector is refused by the schema');
  const still = await api.call('GET', `/attachments/${r.body.attachment.id}`, undefined, v344);
  assert.equal(still.body.attachment.status, 'attaching');
  assert.equal(still.body.attachment.connection_info.attachment_id, r.body.attachment.id);
  assert.equal((await remove(r.body.attachment.id)).status, 200);
});

test('a backend failure while creating with a connector is rolled back: no row, volume available, export undone', async () => {
  const id = await api.create();
  host.failNext.initializeConnection = new Error('target refused');
  const r = await create({ volume_uuid: id, connector: connector('iqn.x:fails') });
  assert.equal(r.status, 500);
  assert.deepEqual(Object.keys(r.body), ['computeFault']);
  assert.doesNotMatch(r.text, /target refused/, 'backend details stay in the log');
  assert.equal((await volume(id)).status, 'available');
  assert.deepEqual((await api.call('GET', `/attachments?volume_id=${id}`, undefined, v344)).body, { attachments: [] });
  assert.equal(host.exports.has(id), false);
});

test('refusals: unknown volume 404, error volume 400, second reserve of a non-multiattach volume 400, duplicate connector 409', async () => {
  const missing = randomUUID();
  assert.deepEqual((await create({ volume_uuid: missing })).body, fault(404, 'itemNotFound', `Volume ${missing} could not be found.`));
  assert.equal((await create({ volume_uuid: 'not-a-uuid' })).status, 400);
  assert.equal((await create({})).status, 400);

  const broken = await api.create();
  assert.equal((await api.action(broken, 'os-reset_status', { status: 'error' })).status, 202);
  assert.deepEqual(
    (await create({ volume_uuid: broken })).body,
    fault(400, 'badRequest', `Invalid volume: Volume attachments can not be created if the volume is in an error state. The Volume ${broken} currently has a status of: error `),
  );

  const id = await api.create();
  const first = (await create({ volume_uuid: id })).body.attachment.id;
  assert.deepEqual(
    (await create({ volume_uuid: id })).body,
    fault(400, 'badRequest', `Invalid volume: Volume ${id} status must be available or downloading to reserve, but the current status is reserved.`),
  );
  // Same instance again (Nova live migration) is allowed on an in-use volume.
  const instance = randomUUID();
  const id2 = await api.create();
  const a = (await create({ volume_uuid: id2, instance_uuid: instance, connector: connector('iqn.x:src') })).body.attachment.id;
  assert.equal((await complete(a)).status, 204);
  const b = await create({ volume_uuid: id2, instance_uuid: instance, connector: connector('iqn.x:dst') });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.body.attachment.connection_info.attachment_id, b.body.attachment.id);
  // A PUT that would connect a second host to the non-multiattach volume: 409, and nothing changes.
  const c = await update(b.body.attachment.id, connector('iqn.x:third'));
  assert.equal(c.status, 409, c.text);
  assert.match(c.body.conflictingRequest.message, /^duplicate connectors detected on volume /);
  assert.equal((await api.call('GET', `/attachments/${b.body.attachment.id}`, undefined, v344)).body.attachment.connection_info.target_iqn.endsWith(id2), true);
  for (const x of [a, b.body.attachment.id, first]) assert.equal((await remove(x)).status, 200);
  assert.equal((await volume(id2)).status, 'available');
});

test('multiattach: concurrent reserves, an in-use volume stays in-use while another host attaches, export goes with the last', async () => {
  const id = await api.create({ volume_type: 'multi' });
  assert.equal((await volume(id)).multiattach, true);
  // Three hosts reserve and connect at once (Cinder refuses the second reserve while one is in flight).
  const hosts = ['iqn.x:m1', 'iqn.x:m2', 'iqn.x:m3'];
  const created = await Promise.all(hosts.map(() => create({ volume_uuid: id, instance_uuid: randomUUID() })));
  assert.deepEqual(created.map((r) => r.status), [200, 200, 200]);
  const ids = created.map((r) => r.body.attachment.id as string);
  const ups = await Promise.all(ids.map((a, i) => update(a, connector(hosts[i]!))));
  assert.deepEqual(ups.map((r) => r.status), [200, 200, 200]);
  assert.equal((await complete(ids[0]!)).status, 204);
  assert.equal((await volume(id)).status, 'in-use', 'one attached row makes the volume in-use while the others attach');
  assert.equal((await complete(ids[1]!)).status, 204);
  assert.equal((await complete(ids[2]!)).status, 204);
  assert.equal((await volume(id)).attachments.length, 3);
  assert.deepEqual([...(host.acl.get(id) ?? [])].sort(), hosts);

  const del = await remove(ids[1]!);
  assert.equal(del.status, 200);
  assert.deepEqual(del.body.attachments.map((a: any) => a.id).sort(), [ids[0], ids[2]].sort());
  assert.deepEqual(Object.keys(del.body.attachments[0]).sort(), ['id', 'instance', 'status', 'volume_id']);
  assert.equal((await volume(id)).status, 'in-use');
  assert.deepEqual([...(host.acl.get(id) ?? [])].sort(), [hosts[0], hosts[2]], 'only the detached host left the ACL');
  assert.equal(host.exports.has(id), true);
  await remove(ids[0]!);
  await remove(ids[2]!);
  assert.equal((await volume(id)).status, 'available');
  assert.equal(host.exports.has(id), false, 'the export went with the last attachment');
  assert.equal(host.ops(id).filter((o) => o === 'removeExport').length, 1);
});

test('multiattach: two attachments from one initiator share its ACL entry until both are gone', async () => {
  const id = await api.create({ volume_type: 'multi' });
  const a = (await create({ volume_uuid: id, instance_uuid: randomUUID(), connector: connector('iqn.x:shared') })).body.attachment.id;
  const b = (await create({ volume_uuid: id, instance_uuid: randomUUID(), connector: connector('iqn.x:shared', { mountpoint: '/dev/vdc' }) })).body.attachment.id;
  await complete(a);
  await complete(b);
  await remove(a);
  assert.equal(host.acl.get(id)?.has('iqn.x:shared'), true);
  assert.equal(host.ops(id).some((o) => o.startsWith('terminateConnection')), false, 'the shared entry stayed');
  await remove(b);
  assert.equal(host.exports.has(id), false);
});

test('read-only: 3.54 mode, connector mode and the readonly flag all give access_mode ro', async () => {
  const id = await api.create();
  const r = await create({ volume_uuid: id, mode: 'ro', connector: connector('iqn.x:ro') }, V(54));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.attachment.attach_mode, 'ro');
  assert.equal(r.body.attachment.connection_info.access_mode, 'ro');
  await remove(r.body.attachment.id);

  const viaConnector = (await create({ volume_uuid: id })).body.attachment.id;
  const up = await update(viaConnector, connector('iqn.x:ro', { mode: 'ro' }));
  assert.equal(up.body.attachment.connection_info.access_mode, 'ro');
  assert.equal(up.body.attachment.attach_mode, 'ro');
  await remove(viaConnector);

  assert.equal((await api.action(id, 'os-update_readonly_flag', { readonly: true })).status, 202);
  const flagged = await create({ volume_uuid: id, mode: 'rw', connector: connector('iqn.x:ro') }, V(54));
  assert.equal(flagged.body.attachment.attach_mode, 'ro', 'the readonly flag overrides the requested mode');
  assert.equal(flagged.body.attachment.connection_info.access_mode, 'ro');
  await remove(flagged.body.attachment.id);
});

test('list and show: filters, summary vs detail, paging, project scoping, all_tenants for admin', async () => {
  const project = api.project;
  const other = 'beef0002';
  const mine = await api.create();
  const instance = randomUUID();
  const a = (await create({ volume_uuid: mine, instance_uuid: instance })).body.attachment.id;
  const foreignVol = (await api.call('POST', `/v3/${other}/volumes`, { volume: { size: 1 } }, { 'x-auth-token': `bob:${other}`, 'x-roles': 'member' })).body.volume.id;
  await api.env.workflow.drain();
  const foreignHeaders = { ...v344, 'x-auth-token': `bob:${other}`, 'x-roles': 'member' };
  const f = await api.call('POST', `/v3/${other}/attachments`, { attachment: { volume_uuid: foreignVol } }, foreignHeaders);
  assert.equal(f.status, 200, f.text);
  const fid = f.body.attachment.id;

  const summary = await api.call('GET', `/attachments?volume_id=${mine}`, undefined, v344);
  assert.deepEqual(summary.body, { attachments: [{ id: a, status: 'reserved', instance, volume_id: mine }] });
  const detail = await api.call('GET', `/attachments/detail?instance_id=${instance}`, undefined, v344);
  assert.deepEqual(detail.body.attachments.map((x: any) => [x.id, x.attach_mode, x.connection_info]), [[a, 'null', null]]);
  assert.deepEqual((await api.call('GET', `/attachments?volume_id=${mine}&status=attached`, undefined, v344)).body.attachments, []);
  assert.equal((await api.call('GET', `/attachments?volume_id=${mine}&attach_status=reserved`, undefined, v344)).body.attachments.length, 1);
  const badFilter = await api.call('GET', '/attachments?colour=blue', undefined, v344);
  assert.equal(badFilter.status, 400);
  assert.match(badFilter.body.badRequest.message, /^Invalid filters colour are found in query options/);

  // The member of the other project sees only its own; our attachment is 404 to it, and the reverse for a member here.
  const theirs = await api.call('GET', `/v3/${other}/attachments`, undefined, foreignHeaders);
  assert.deepEqual(theirs.body.attachments.map((x: any) => x.id), [fid]);
  assert.equal((await api.call('GET', `/v3/${other}/attachments/${a}`, undefined, foreignHeaders)).status, 404);
  assert.equal((await api.call('DELETE', `/v3/${other}/attachments/${a}`, undefined, foreignHeaders)).status, 404);
  const memberHere = { ...v344, 'x-roles': 'member' };
  assert.equal((await api.call('GET', `/attachments/${fid}`, undefined, memberHere)).status, 404);
  // Admin: own project by default, every project with all_tenants, one project with all_tenants + project_id.
  const ownIds = (await api.call('GET', '/attachments', undefined, v344)).body.attachments.map((x: any) => x.id);
  assert.ok(ownIds.includes(a) && !ownIds.includes(fid));
  const all = (await api.call('GET', '/attachments?all_tenants=1', undefined, v344)).body.attachments.map((x: any) => x.id);
  assert.ok(all.includes(a) && all.includes(fid));
  assert.deepEqual((await api.call('GET', `/attachments?all_tenants=1&project_id=${other}`, undefined, v344)).body.attachments.map((x: any) => x.id), [fid]);

  const page = await api.call('GET', '/attachments?all_tenants=1&limit=1&sort=created_at:asc', undefined, v344);
  assert.equal(page.body.attachments.length, 1);
  assert.match(page.body.attachments_links[0].href, /marker=/);
  const marker = new URL(page.body.attachments_links[0].href).searchParams.get('marker');
  const next = await api.call('GET', `/attachments?all_tenants=1&limit=1&sort=created_at:asc&marker=${marker}`, undefined, v344);
  assert.notEqual(next.body.attachments[0].id, page.body.attachments[0].id);
  assert.equal(project, api.project);
  await remove(a);
  await api.call('DELETE', `/v3/${other}/attachments/${fid}`, undefined, foreignHeaders);
});

test('CVE-2023-2088 guard: a user may not delete an attachment Nova uses; a service may', async () => {
  const id = await api.create();
  const a = (await create({ volume_uuid: id, instance_uuid: randomUUID(), connector: connector('iqn.x:guard') })).body.attachment;
  await complete(a.id);
  const user = await remove(a.id, { ...v344, 'x-roles': 'member' });
  assert.deepEqual(user.body, fault(409, 'conflictingRequest', `ConflictNovaUsingAttachment: Detach volume from instance ${a.instance} using the Compute API`));
  assert.equal((await volume(id)).status, 'in-use', 'the refused delete changed nothing');
  const reader = await remove(a.id, { ...v344, 'x-roles': 'reader' });
  assert.equal(reader.status, 403);
  const service = await remove(a.id, { ...v344, 'x-roles': 'member,service' });
  assert.equal(service.status, 200, service.text);
  assert.equal((await volume(id)).status, 'available');

  // Without an instance (a bare host attach) the user may delete its own attachment.
  const bare = (await create({ volume_uuid: id, connector: connector('iqn.x:guard') })).body.attachment.id;
  assert.equal((await remove(bare, { ...v344, 'x-roles': 'member' })).status, 200);
});

test('os-complete: unknown action 400, unknown attachment 404', async () => {
  const id = await api.create();
  const a = (await create({ volume_uuid: id })).body.attachment.id;
  assert.deepEqual(
    (await api.call('POST', `/attachments/${a}/action`, { 'os-finish': null }, v344)).body,
    fault(400, 'badRequest', 'There is no such action: os-finish. Verify the request body and Content-Type header and try again.'),
  );
  const missing = randomUUID();
  assert.equal((await complete(missing)).status, 404);
  assert.equal((await remove(missing)).status, 404);
  assert.equal((await update(missing, connector('iqn.x:y'))).status, 404);
  await remove(a);
});
