// Volumes as tempest sees them: which keys each response carries, list filters and paging by Cinder's rules,
// the 3.12 summary, the metadata subresource, user messages, availability zones, extensions, resource filters,
// and request validation by Cinder's schemas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApi, fault, type Api } from './client.js';
import type { RecordingHost } from '../workflow/fixture.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

const mv = (v: string) => ({ 'OpenStack-API-Version': `volume ${v}` });
const member = (project: string, extra: Record<string, string> = {}) => ({ 'x-auth-token': `m:${project}`, 'x-roles': 'member', ...extra });

/** The keys of tempest's create_volume / update_volume schema (tempest/lib/api_schema/response/volume/volumes.py). */
const CREATE_UPDATE_KEYS = [
  'migration_status', 'attachments', 'links', 'availability_zone', 'encrypted', 'updated_at', 'replication_status', 'snapshot_id',
  'id', 'size', 'user_id', 'metadata', 'status', 'description', 'multiattach', 'source_volid', 'consistencygroup_id', 'name',
  'bootable', 'created_at', 'volume_type', 'group_id', 'provider_id', 'service_uuid', 'shared_targets',
];

test('create and update carry no os-vol-* keys; show and detail add them (tenant for all, host and migration for admin)', async () => {
  for (const [who, headers] of [['admin', {}], ['member', member('keys0001')]] as const) {
    const path = who === 'admin' ? '/volumes' : '/v3/keys0001/volumes';
    const created = await api.call('POST', path, { volume: { size: 1, name: 'k' } }, headers);
    assert.equal(created.status, 202);
    const extra = Object.keys(created.body.volume).filter((k) => !CREATE_UPDATE_KEYS.includes(k));
    assert.deepEqual(extra, [], `${who} create has keys outside tempest's create_volume schema`);
    const id = created.body.volume.id;
    const updated = await api.call('PUT', `${path}/${id}`, { volume: { name: 'k2' } }, headers);
    assert.equal(updated.status, 200);
    assert.deepEqual(Object.keys(updated.body.volume).filter((k) => !CREATE_UPDATE_KEYS.includes(k)), []);
    const shown = (await api.call('GET', `${path}/${id}`, undefined, headers)).body.volume;
    const detail = (await api.call('GET', `${path}/detail`, undefined, headers)).body.volumes.find((v: any) => v.id === id);
    for (const v of [shown, detail]) {
      const osVol = Object.keys(v).filter((k) => k.startsWith('os-vol-')).sort();
      assert.deepEqual(
        osVol,
        who === 'admin'
          ? ['os-vol-host-attr:host', 'os-vol-mig-status-attr:migstat', 'os-vol-mig-status-attr:name_id', 'os-vol-tenant-attr:tenant_id']
          : ['os-vol-tenant-attr:tenant_id'],
      );
    }
    assert.equal(shown['os-vol-tenant-attr:tenant_id'], who === 'admin' ? api.project : 'keys0001');
  }
  await api.env.workflow.drain();
});

test('paging: a next link on every full page, also the last; the empty page after it has none', async () => {
  const project = 'page0001';
  const h = { 'x-auth-token': `u:${project}` };
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await api.call('POST', `/v3/${project}/volumes`, { volume: { size: 1 } }, h)).body.volume.id);
  await api.env.workflow.drain();
  const seen: string[] = [];
  let url: string | undefined = `/v3/${project}/volumes/detail?limit=1`;
  let pages = 0;
  while (url) {
    const r = await api.call('GET', url, undefined, h);
    assert.equal(r.status, 200);
    pages++;
    seen.push(...r.body.volumes.map((v: any) => v.id));
    const next = r.body.volumes_links?.find((l: any) => l.rel === 'next')?.href;
    if (r.body.volumes.length === 1) assert.ok(next, 'a full page has a next link');
    else assert.equal(next, undefined);
    url = next ? new URL(next).pathname + new URL(next).search : undefined;
  }
  assert.equal(pages, 4);
  assert.deepEqual([...seen].sort(), [...ids].sort());
  const unlimited = await api.call('GET', `/v3/${project}/volumes`, undefined, h);
  assert.equal(unlimited.body.volumes_links, undefined, 'without limit, a page shorter than 1000 has no link');
});

test('filters: metadata dict, name, status, bootable, zone; unknown non-admin filters dropped before 3.33, refused from it', async () => {
  const project = 'filt0001';
  const h = member(project);
  const p = `/v3/${project}`;
  const a = (await api.call('POST', `${p}/volumes`, { volume: { size: 1, name: 'alpha', metadata: { Type: 'work' } } }, h)).body.volume.id;
  const b = (await api.call('POST', `${p}/volumes`, { volume: { size: 2, name: 'beta', metadata: { Type: 'play' } } }, h)).body.volume.id;
  await api.env.workflow.drain();
  const ids = async (q: string, headers: Record<string, string> = h, path = 'volumes') =>
    (await api.call('GET', `${p}/${path}?${q}`, undefined, headers)).body.volumes?.map((v: any) => v.id).sort();
  assert.deepEqual(await ids(new URLSearchParams({ metadata: "{'Type': 'work'}" }).toString()), [a]);
  assert.deepEqual(await ids('name=beta'), [b]);
  assert.deepEqual(await ids('status=null'), []);
  assert.deepEqual(await ids('status=available&bootable=false', h, 'volumes/detail'), [a, b].sort());
  assert.deepEqual(await ids('availability_zone=nova'), [a, b].sort());
  assert.deepEqual(await ids('size=2'), [b], 'size=2 is the integer 2 (literal_eval)');
  assert.deepEqual(await ids('bogus=1'), [a, b].sort(), 'before 3.33 a non-admin filter Cinder does not allow is dropped');
  const refused = await api.call('GET', `${p}/volumes?bogus=1&all_tenants=1`, undefined, { ...h, ...mv('3.33') });
  assert.deepEqual(refused.body, fault(400, 'badRequest', 'Invalid filters bogus are found in query options.'));
  const likeMember = await api.call('GET', `${p}/volumes?name~=alp`, undefined, { ...h, ...mv('3.34') });
  assert.deepEqual(likeMember.body, fault(400, 'badRequest', 'Invalid filters name~ are found in query options.'));
  assert.deepEqual(await ids('name~=alp', { 'x-auth-token': `admin:${project}`, ...mv('3.34') }), [a], 'admins may use like filters');
  // Inexact filters ignore case and compare numbers and flags as text, on every engine (store/text-match.ts).
  const likeAdmin = { 'x-auth-token': `admin:${project}`, ...mv('3.34') };
  assert.deepEqual(await ids('name~=ALP', likeAdmin), [a], 'case does not matter');
  assert.deepEqual(await ids('size~=2', likeAdmin), [b], 'an integer column matches by its digits');
  assert.deepEqual(await ids('bootable~=0', likeAdmin), [a, b].sort(), 'a flag matches as 1/0');
  const badBool = await api.call('GET', `${p}/volumes?bootable=maybe`, undefined, { ...h, ...mv('3.2') });
  assert.deepEqual(badBool.body, fault(400, 'badRequest', "Invalid input received: 'bootable = maybe'"));
  // admin/test_volumes_list: all_tenants with project_id lists exactly that project's volumes.
  const admin = { 'x-auth-token': 'admin:admin' };
  const listed = await api.call('GET', `/v3/admin/volumes/detail?all_tenants=1&project_id=${project}`, undefined, admin);
  assert.deepEqual(listed.body.volumes.map((v: any) => v.id).sort(), [a, b].sort());
  assert.ok(listed.body.volumes.every((v: any) => v['os-vol-tenant-attr:tenant_id'] === project));
  const counted = await api.call('GET', `${p}/volumes?with_count=true&name=alpha`, undefined, { ...h, ...mv('3.45') });
  assert.equal(counted.body.count, 1);
  const created = await api.call('GET', `${p}/volumes?created_at=gt:2000-01-01T00:00:00`, undefined, { ...h, ...mv('3.60') });
  assert.equal(created.body.volumes.length, 2);
  const badTime = await api.call('GET', `${p}/volumes?created_at=after:2000-01-01`, undefined, { ...h, ...mv('3.60') });
  assert.deepEqual(badTime.body, fault(400, 'badRequest', 'Invalid after operator'));
});

test('summary: 404 before 3.12, totals from 3.12, distinct metadata from 3.36', async () => {
  const project = 'summ0001';
  const h = member(project);
  const p = `/v3/${project}`;
  await api.call('POST', `${p}/volumes`, { volume: { size: 1, metadata: { k: 'a' } } }, h);
  await api.call('POST', `${p}/volumes`, { volume: { size: 3, metadata: { k: 'b', z: 'c' } } }, h);
  await api.env.workflow.drain();
  const old = await api.call('GET', `${p}/volumes/summary`, undefined, h);
  assert.deepEqual(old.body, fault(404, 'itemNotFound', 'Volume summary could not be found.'));
  const v312 = await api.call('GET', `${p}/volumes/summary`, undefined, { ...h, ...mv('3.12') });
  assert.deepEqual(v312.body, { 'volume-summary': { total_count: 2, total_size: 4 } });
  const v336 = await api.call('GET', `${p}/volumes/summary`, undefined, { ...h, ...mv('3.36') });
  assert.deepEqual(v336.body, { 'volume-summary': { total_count: 2, total_size: 4, metadata: { k: ['a', 'b'], z: ['c'] } } });
  const empty = await api.call('GET', '/v3/summ0002/volumes/summary', undefined, { ...member('summ0002'), ...mv('3.36') });
  assert.deepEqual(empty.body, { 'volume-summary': { total_count: 0, total_size: 0, metadata: {} } });
});

test('metadata subresource: create merges, update replaces, item show/update/delete, Cinder errors', async () => {
  const id = await api.create();
  const m = `/volumes/${id}/metadata`;
  const created = await api.call('POST', m, { metadata: { key1: 'value1', key2: 'value2', key4: '<value&special_chars>' } });
  assert.deepEqual(created.body, { metadata: { key1: 'value1', key2: 'value2', key4: '<value&special_chars>' } });
  const merged = await api.call('POST', m, { metadata: { key3: 'value3' } });
  assert.deepEqual(merged.body.metadata, { key1: 'value1', key2: 'value2', key3: 'value3', key4: '<value&special_chars>' });
  const replaced = await api.call('PUT', m, { metadata: { key4: 'value4', key1: 'value1_update' } });
  assert.deepEqual(replaced.body, { metadata: { key1: 'value1_update', key4: 'value4' } });
  assert.deepEqual((await api.call('GET', m)).body, { metadata: { key1: 'value1_update', key4: 'value4' } });
  assert.deepEqual((await api.call('PUT', `${m}/key4`, { meta: { key4: 'v4' } })).body, { meta: { key4: 'v4' } });
  assert.deepEqual((await api.call('GET', `${m}/key4`)).body, { meta: { key4: 'v4' } });
  const del = await api.call('DELETE', `${m}/key1`);
  assert.equal(del.status, 200);
  assert.deepEqual((await api.call('GET', m)).body, { metadata: { key4: 'v4' } });
  assert.deepEqual((await api.call('GET', `/volumes/${id}`)).body.volume.metadata, { key4: 'v4' }, 'the volume view shows it');

  assert.deepEqual((await api.call('GET', `${m}/nope`)).body, fault(404, 'itemNotFound', `Volume ${id} has no metadata with key nope.`));
  assert.deepEqual((await api.call('DELETE', `${m}/nope`)).body, fault(404, 'itemNotFound', `Volume ${id} has no metadata with key nope.`));
  assert.deepEqual((await api.call('PUT', `${m}/key4`, { meta: { other: 'x' } })).body, fault(400, 'badRequest', 'Request body and URI mismatch'));
  const two = await api.call('PUT', `${m}/key4`, { meta: { key4: 'x', b: 'y' } });
  assert.deepEqual(two.body, fault(400, 'badRequest', "Invalid input for field/attribute meta. Value: {'key4': 'x', 'b': 'y'}. {'key4': 'x', 'b': 'y'} has too many properties"));
  const longKey = 'k'.repeat(300);
  const tooLong = await api.call('POST', m, { metadata: { [longKey]: 'v' } });
  assert.deepEqual(
    tooLong.body,
    fault(400, 'badRequest', `Invalid input for field/attribute metadata. Value: {'${longKey}': 'v'}. '${longKey}' does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'`),
  );
  const longValue = await api.call('PUT', m, { metadata: { k: 'v'.repeat(256) } });
  assert.equal(longValue.status, 400);
  assert.match(longValue.body.badRequest.message, /^Invalid input for field\/attribute k\. Value: 'v+'\. 'v+' is too long$/);
  assert.deepEqual((await api.call('GET', '/volumes/00000000-0000-4000-8000-00000000dead/metadata')).status, 404);
  assert.deepEqual((await api.call('GET', m)).body, { metadata: { key4: 'v4' } }, 'refused writes changed nothing');

  // 3.26: ETag on GET; a stale If-Match is 412 and writes nothing.
  const tagged = await api.call('GET', m, undefined, mv('3.26'));
  const etag = String(tagged.headers.etag);
  assert.match(etag, /^[0-9a-f]{32}$/);
  const stale = await api.call('PUT', m, { metadata: { a: 'b' } }, { ...mv('3.26'), 'if-match': 'deadbeef' });
  assert.equal(stale.status, 412);
  const fresh = await api.call('PUT', m, { metadata: { a: 'b' } }, { ...mv('3.26'), 'if-match': etag });
  assert.deepEqual(fresh.body, { metadata: { a: 'b' } });

  await api.action(id, 'os-reset_status', { status: 'maintenance' });
  const frozen = await api.call('POST', m, { metadata: { x: 'y' } });
  assert.deepEqual(frozen.body, fault(400, 'badRequest', 'Invalid volume: Updating volume metadata is not allowed for volumes in maintenance status.'));
  const frozenDel = await api.call('DELETE', `${m}/a`);
  assert.deepEqual(frozenDel.body, fault(400, 'badRequest', 'Invalid volume: Deleting volume metadata is not allowed for volumes in maintenance status.'));
  await api.action(id, 'os-reset_status', { status: 'available' });
});

test('validation as Cinder: size bounds, name and description lengths after trimming, unicode names', async () => {
  const big = await api.call('POST', '/volumes', { volume: { size: 2147483648 } });
  assert.deepEqual(big.body, fault(400, 'badRequest', 'Invalid input for field/attribute size. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647'));
  const bigString = await api.call('POST', '/volumes', { volume: { size: '99999999999' } });
  assert.equal(bigString.status, 400);
  for (const size of ['#$%', '', '0', '-1']) assert.equal((await api.call('POST', '/volumes', { volume: { size } })).status, 400, `size ${JSON.stringify(size)}`);
  const long = await api.call('POST', '/volumes', { volume: { size: 1, name: 'n'.repeat(256) } });
  assert.deepEqual(long.body, fault(400, 'badRequest', 'Invalid input received: name has 256 characters, more than 255.'));
  const longDesc = await api.call('PUT', `/volumes/${await api.create()}`, { volume: { description: 'd'.repeat(300) } });
  assert.deepEqual(longDesc.body, fault(400, 'badRequest', 'Invalid input received: description has 300 characters, more than 255.'));
  const padded = await api.call('POST', '/volumes', { volume: { size: 1, name: ` ${'n'.repeat(255)} ` } });
  assert.equal(padded.status, 202, 'the length is counted after trimming');
  const name = 'ボリューム-€-😀'.repeat(10);
  const uni = await api.call('POST', '/volumes', { volume: { size: 1, name, description: 'описание' } });
  assert.equal(uni.status, 202);
  const shown = await api.call('GET', `/volumes/${uni.body.volume.id}`);
  assert.equal(shown.body.volume.name, name);
  assert.equal(shown.body.volume.description, 'описание');
  const listed = await api.call('GET', `/volumes?name=${encodeURIComponent(name)}`);
  assert.deepEqual(listed.body.volumes.map((v: any) => v.id), [uni.body.volume.id]);
  const unknown353 = await api.call('POST', '/volumes', { volume: { size: 1, junk: 1 } }, mv('3.53'));
  assert.deepEqual(unknown353.body, fault(400, 'badRequest', "Invalid input for field/attribute volume. Value: {'size': 1, 'junk': 1}. Additional properties are not allowed ('junk' was unexpected)"));
  assert.equal((await api.call('POST', '/volumes', { volume: { size: 1, junk: 1 } })).status, 202, 'ignored before 3.53');
  const vol = await api.create();
  const extend = await api.action(vol, 'os-extend', { new_size: 2147483648 });
  assert.equal(extend.status, 400);
  // parameter_types.boolean is an exact list of spellings, and its type is checked first.
  assert.equal((await api.action(vol, 'os-set_bootable', { bootable: 'Yes' })).status, 200);
  const y = await api.action(vol, 'os-set_bootable', { bootable: 'Y' });
  assert.match(y.body.badRequest.message, /^Invalid input for field\/attribute bootable\. Value: 'Y'\. 'Y' is not one of \[True, 'True', 'TRUE'/);
  const five = await api.action(vol, 'os-update_readonly_flag', { readonly: 5 });
  assert.deepEqual(five.body, fault(400, 'badRequest', "Invalid input for field/attribute readonly. Value: 5. 5 is not of type 'boolean', 'string'"));
  await api.env.workflow.drain();
});

test('user messages: a type no backend satisfies errors the volume and records Cinder\'s message; list, show, delete', async () => {
  const type = await api.call('POST', '/types', { volume_type: { name: 'bogus', extra_specs: { storage_protocol: 'bogus-proto', vendor_name: 'nobody' } } });
  const created = await api.call('POST', '/volumes', { volume: { size: 1, volume_type: type.body.volume_type.id } }, mv('3.3'));
  assert.equal(created.status, 202);
  const id = created.body.volume.id;
  const requestId = String(created.headers['x-openstack-request-id']);
  await api.env.workflow.drain();
  const errored = (await api.call('GET', `/volumes/${id}`)).body.volume;
  assert.equal(errored.status, 'error');
  assert.equal(errored['os-vol-host-attr:host'], null, 'a volume no backend took is on no host');

  const listed = await api.call('GET', '/messages', undefined, mv('3.3'));
  assert.equal(listed.status, 200);
  const msg = listed.body.messages.find((m: any) => m.resource_uuid === id);
  assert.ok(msg, 'a message names the volume');
  assert.deepEqual(Object.keys(msg).sort(), ['created_at', 'event_id', 'guaranteed_until', 'id', 'links', 'message_level', 'request_id', 'resource_type', 'resource_uuid', 'user_message']);
  assert.equal(msg.event_id, 'VOLUME_VOLUME_001_003');
  assert.equal(msg.user_message, 'schedule allocate volume:Could not find any available weighted backend.');
  assert.equal(msg.message_level, 'ERROR');
  assert.equal(msg.resource_type, 'VOLUME');
  assert.equal(msg.request_id, requestId);
  assert.equal(Date.parse(`${msg.guaranteed_until}Z`) - Date.parse(`${msg.created_at}Z`), 2_592_000_000, "Cinder's 30-day message_ttl");
  assert.equal(listed.body.messages_links, undefined);

  const shown = await api.call('GET', `/messages/${msg.id}`, undefined, mv('3.3'));
  assert.deepEqual(shown.body, { message: msg });
  assert.equal((await api.call('GET', `/messages/${msg.id}`)).status, 404, 'no messages below 3.3');
  assert.equal((await api.call('GET', `/v3/other001/messages/${msg.id}`, undefined, { ...member('other001'), ...mv('3.3') })).status, 404, 'another project does not see it');
  const filtered = await api.call('GET', `/messages?event_id=VOLUME_VOLUME_001_003&resource_uuid=${id}`, undefined, mv('3.5'));
  assert.deepEqual(filtered.body.messages.map((m: any) => m.id), [msg.id]);
  const badFilter = await api.call('GET', '/v3/other001/messages?volume_id=x', undefined, { ...member('other001'), ...mv('3.33') });
  assert.deepEqual(badFilter.body, fault(400, 'badRequest', 'Invalid filters volume_id are found in query options.'));

  const del = await api.call('DELETE', `/messages/${msg.id}`, undefined, mv('3.3'));
  assert.equal(del.status, 204);
  assert.deepEqual((await api.call('GET', `/messages/${msg.id}`, undefined, mv('3.3'))).body, fault(404, 'itemNotFound', `Message ${msg.id} could not be found.`));
  assert.equal((await api.call('DELETE', `/messages/${msg.id}`, undefined, mv('3.3'))).status, 404);

  // A type whose specs the backend reports is scheduled as before.
  const ok = await api.call('POST', '/types', { volume_type: { name: 'iscsi-os', extra_specs: { storage_protocol: 'iSCSI', vendor_name: 'Open Source', 'capabilities:thin_provisioning_support': '<is> True' } } });
  const good = await api.create({ volume_type: ok.body.volume_type.id });
  assert.equal((await api.call('GET', `/volumes/${good}`)).body.volume.status, 'available');
});

test('a readonly volume attached read-write: 400 and an attach message', async () => {
  const id = await api.create();
  await api.action(id, 'os-update_readonly_flag', { readonly: true });
  const r = await api.action(id, 'os-attach', { instance_uuid: '5f7a1c1e-2a0b-4c53-9d1e-4b5f8f9a0c11', mountpoint: '/dev/vdb', mode: 'rw' });
  assert.equal(r.status, 400);
  const msgs = (await api.call('GET', '/messages', undefined, mv('3.3'))).body.messages.filter((m: any) => m.resource_uuid === id);
  assert.deepEqual(msgs.map((m: any) => [m.event_id, m.user_message]), [['VOLUME_VOLUME_002_005', "attach volume:Volume's attach mode is invalid."]]);
});

test('availability zones, extensions, resource filters', async () => {
  assert.deepEqual((await api.call('GET', '/os-availability-zone')).body, { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true } }] });
  const ext = (await api.call('GET', '/extensions')).body.extensions;
  assert.ok(ext.some((e: any) => e.name === 'Hosts' && e.alias === 'os-hosts'), "tempest's api_extensions=all looks for Hosts");
  for (const e of ext) assert.deepEqual(Object.keys(e).sort(), ['alias', 'description', 'links', 'name', 'updated']);
  assert.equal((await api.call('GET', '/resource_filters', undefined, mv('3.32'))).status, 404);
  const all = (await api.call('GET', '/resource_filters', undefined, mv('3.33'))).body.resource_filters;
  assert.ok(all.some((r: any) => r.resource === 'volume' && r.filters.includes('metadata')));
  const one = (await api.call('GET', '/resource_filters?resource=message', undefined, mv('3.33'))).body;
  assert.deepEqual(one, { resource_filters: [{ resource: 'message', filters: ['resource_uuid', 'resource_type', 'event_id', 'request_id', 'message_level'] }] });
  assert.deepEqual((await api.call('GET', '/resource_filters?resource=nothing', undefined, mv('3.33'))).body, { resource_filters: [] });
});

test('expired messages are reaped; live ones stay', async () => {
  const id = await api.create();
  await api.action(id, 'os-update_readonly_flag', { readonly: true });
  await api.action(id, 'os-attach', { instance_uuid: '0b7c2d3e-4f50-4a61-8b72-9c83d4e5f601', mountpoint: '/dev/vdc', mode: 'rw' });
  const mine = async () => (await api.call('GET', '/messages', undefined, mv('3.3'))).body.messages.filter((m: any) => m.resource_uuid === id);
  assert.equal((await mine()).length, 1);
  await api.env.workflow.reapExpiredMessages();
  assert.equal((await mine()).length, 1, 'a message inside its 30 days stays');
  await api.env.store.db.updateTable('messages').set({ expires_at: '2000-01-01T00:00:00.000000' }).where('resource_uuid', '=', id).execute();
  assert.ok((await api.env.workflow.reapExpiredMessages()) >= 1);
  assert.deepEqual(await mine(), []);
});

test('a driver that fails to create or extend leaves Cinder\'s create and extend messages', async () => {
  const host = api.env.host as RecordingHost;
  host.failNext.createVolume = new Error('disk full');
  const created = await api.call('POST', '/volumes', { volume: { size: 1 } });
  const id = created.body.volume.id;
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${id}`)).body.volume.status, 'error');
  const extendable = await api.create();
  host.failNext.extendVolume = new Error('no space');
  assert.equal((await api.action(extendable, 'os-extend', { new_size: 2 })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${extendable}`)).body.volume.status, 'error_extending');
  const all = (await api.call('GET', '/messages', undefined, mv('3.3'))).body.messages;
  const of = (vid: string) => all.filter((m: any) => m.resource_uuid === vid).map((m: any) => [m.event_id, m.user_message]);
  assert.deepEqual(of(id), [['VOLUME_VOLUME_008_012', 'create volume from backend storage:Driver failed to create the volume.']]);
  assert.deepEqual(of(extendable), [['VOLUME_VOLUME_007_010', 'extend volume:Volume Driver failed to extend volume.']]);
  assert.ok(!all.some((m: any) => /disk full|no space/.test(JSON.stringify(m))), 'the driver error itself is not shown to users');
});
