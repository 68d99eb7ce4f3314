// Volume type views, private types and access, encryption types, retype, and services/hosts/pools/capabilities
// over HTTP, checked against Cinder's behaviour and tempest's response schemas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';
import { adminCtx, type RecordingHost } from '../workflow/fixture.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

/** A second project, acting as a plain member (keystone-like hex id, as type access wants a UUID). */
const other = randomUUID().replace(/-/g, '');
const asOther = (method: string, path: string, body?: unknown) =>
  api.call(method, `/v3/${other}${path}`, body, { 'x-auth-token': `bob:${other}`, 'x-roles': 'member' });

test('type views: create and update carry no qos_specs_id; show and list add it for admins only', async () => {
  const created = await api.call('POST', '/types', { volume_type: { name: 'views', description: 'd', extra_specs: { k: 'v' } } });
  assert.equal(created.status, 200);
  assert.deepEqual(Object.keys(created.body.volume_type).sort(), ['description', 'extra_specs', 'id', 'is_public', 'name', 'os-volume-type-access:is_public']);
  const id = created.body.volume_type.id;
  const updated = await api.call('PUT', `/types/${id}`, { volume_type: { name: 'views2', description: 'e', is_public: false } });
  assert.equal(updated.status, 200);
  assert.deepEqual(updated.body.volume_type, { id, name: 'views2', is_public: false, extra_specs: { k: 'v' }, description: 'e' });
  const shown = await api.call('GET', `/types/${id}`);
  assert.deepEqual(shown.body.volume_type, {
    id,
    name: 'views2',
    description: 'e',
    is_public: false,
    'os-volume-type-access:is_public': false,
    extra_specs: { k: 'v' },
    qos_specs_id: null,
  });
  const pub = await api.call('POST', '/types', { volume_type: { name: 'public-one', extra_specs: { secret: 'x', multiattach: '<is> True' } } });
  const member = await asOther('GET', `/types/${pub.body.volume_type.id}`);
  assert.deepEqual(member.body.volume_type.extra_specs, { multiattach: '<is> True' }, 'non-admins see only user-visible specs');
  assert.ok(!('qos_specs_id' in member.body.volume_type));
  // Update needs something to change; null description alone is nothing (types_manage.py).
  assert.deepEqual(
    (await api.call('PUT', `/types/${id}`, { volume_type: { description: null } })).body,
    fault(400, 'badRequest', 'Specify volume type name, description, is_public or a combination thereof.'),
  );
  assert.equal((await api.call('PUT', `/types/${id}`, { volume_type: { name: 'public-one' } })).status, 409);
  assert.deepEqual(
    (await api.call('POST', '/types', { volume_type: { name: '   ' } })).body,
    fault(400, 'badRequest', "An invalid 'name' value was provided. The 'name' can not be empty."),
  );
  assert.equal((await api.call('POST', '/types', { volume_type: { name: '' } })).status, 400);
  assert.equal((await api.call('GET', '/types?is_public=maybe')).status, 400);
});

test('private types: invisible and unusable outside their projects until access is added; access list and errors', async () => {
  const t = (await api.call('POST', '/types', { volume_type: { name: 'private', 'os-volume-type-access:is_public': false } })).body.volume_type;
  assert.equal(t.is_public, false);
  const admin = await api.call('GET', '/types');
  assert.ok(!admin.body.volume_types.some((x: any) => x.id === t.id), 'admin default list is public only');
  assert.ok((await api.call('GET', '/types?is_public=none')).body.volume_types.some((x: any) => x.id === t.id));
  assert.ok((await api.call('GET', '/types?is_public=false')).body.volume_types.every((x: any) => x.is_public === false));

  assert.deepEqual((await asOther('GET', `/types/${t.id}`)).body, fault(404, 'itemNotFound', `Volume type ${t.id} could not be found.`));
  const refused = await asOther('POST', '/volumes', { volume: { size: 1, volume_type: t.id } });
  assert.deepEqual(refused.body, fault(404, 'itemNotFound', `Volume type ${t.id} could not be found.`));
  assert.equal((await asOther('POST', '/volumes', { volume: { size: 1, volume_type: 'private' } })).status, 404);

  assert.equal((await api.call('POST', `/types/${t.id}/action`, { addProjectAccess: { project: other } })).status, 202);
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/action`, { addProjectAccess: { project: other } })).body,
    fault(409, 'conflictingRequest', `Volume type access for ${t.id} / ${other} combination already exists.`),
  );
  const second = randomUUID();
  await api.call('POST', `/types/${t.id}/action`, { addProjectAccess: { project: second } });
  const access = await api.call('GET', `/types/${t.id}/os-volume-type-access`);
  assert.deepEqual(
    access.body.volume_type_access.map((a: any) => a.project_id).sort(),
    [other, second].sort(),
  );
  assert.ok(access.body.volume_type_access.every((a: any) => a.volume_type_id === t.id && Object.keys(a).length === 2));
  assert.ok((await asOther('GET', '/types')).body.volume_types.some((x: any) => x.id === t.id), 'granted type is listed');
  const made = await asOther('POST', '/volumes', { volume: { size: 1, volume_type: t.id } });
  assert.equal(made.status, 202);
  assert.equal(made.body.volume.volume_type, 'private');
  await api.env.workflow.drain();

  assert.equal((await asOther('POST', `/types/${t.id}/action`, { addProjectAccess: { project: second } })).status, 403);
  assert.equal((await api.call('POST', `/types/${t.id}/action`, { addProjectAccess: { project: 'not-a-uuid' } })).status, 400);
  const pub = (await api.call('GET', '/types/default')).body.volume_type;
  assert.deepEqual(
    (await api.call('POST', `/types/${pub.id}/action`, { addProjectAccess: { project: other } })).body,
    fault(400, 'badRequest', 'Invalid volume type: Type access modification is not applicable to public volume type.'),
  );
  assert.deepEqual(
    (await api.call('GET', `/types/${pub.id}/os-volume-type-access`)).body,
    fault(404, 'itemNotFound', 'Access list not available for public volume types.'),
  );
  assert.equal((await api.call('POST', `/types/${randomUUID()}/action`, { removeProjectAccess: { project: other } })).status, 404);
  assert.equal((await api.call('POST', `/types/${t.id}/action`, { removeProjectAccess: { project: second } })).status, 202);
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/action`, { removeProjectAccess: { project: second } })).body,
    fault(404, 'itemNotFound', `Volume type access not found for ${t.id} / ${second} combination.`),
  );
});

test('extra specs: Cinder schemas and rules (in-use type, URI mismatch, one key per update)', async () => {
  const t = (await api.call('POST', '/types', { volume_type: { name: 'specs', extra_specs: { spec1: 'val1' } } })).body.volume_type;
  assert.equal((await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: null })).status, 400);
  assert.equal((await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: ['invalid'] })).status, 400);
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: { 'with space': 'x' } })).body,
    fault(
      400,
      'badRequest',
      "Invalid input for field/attribute extra_specs. Value: {'with space': 'x'}. 'with space' does not match any of the regexes: '^[a-zA-Z0-9-_:.]{1,255}$'",
    ),
  );
  assert.equal((await api.call('PUT', `/types/${t.id}/extra_specs/spec1`, 'null')).status, 400);
  assert.equal((await api.call('PUT', `/types/${t.id}/extra_specs/spec1`, { spec1: 'a', spec2: 'b' })).status, 400);
  assert.deepEqual((await api.call('PUT', `/types/${t.id}/extra_specs/None`, { spec1: 'a' })).body, fault(400, 'badRequest', 'Request body and URI mismatch'));
  assert.equal((await api.call('PUT', `/types/${randomUUID()}/extra_specs/spec1`, { spec1: 'a' })).status, 404);
  assert.equal((await api.call('DELETE', `/types/${randomUUID()}/extra_specs/spec1`)).status, 404);
  assert.equal((await api.call('GET', `/types/${randomUUID()}/extra_specs`)).status, 404);
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: { multiattach: '<is> True', cacheable: '<is> True' } })).body,
    fault(400, 'badRequest', 'cacheable cannot be set with multiattach.'),
  );
  await api.create({ volume_type: 'specs' });
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/extra_specs`, { extra_specs: { spec2: 'x' } })).body,
    fault(400, 'badRequest', 'Volume Type is currently in use.'),
  );
  assert.equal((await api.call('DELETE', `/types/${t.id}/extra_specs/spec1`)).status, 400);
});

test('encryption types: create, show, item, update, delete; volumes of the type are encrypted with a key id', async () => {
  const t = (await api.call('POST', '/types', { volume_type: { name: 'luks' } })).body.volume_type;
  assert.deepEqual((await api.call('GET', `/types/${t.id}/encryption`)).body, {});
  const spec = { provider: 'luks', key_size: '256', cipher: 'aes-xts-plain64', control_location: 'front-end' };
  const created = await api.call('POST', `/types/${t.id}/encryption`, { encryption: spec });
  assert.equal(created.status, 200);
  assert.deepEqual(Object.keys(created.body.encryption).sort(), ['cipher', 'control_location', 'encryption_id', 'key_size', 'provider', 'volume_type_id']);
  assert.equal(created.body.encryption.key_size, 256);
  assert.equal(created.body.encryption.volume_type_id, t.id);
  assert.deepEqual(
    (await api.call('POST', `/types/${t.id}/encryption`, { encryption: spec })).body,
    fault(400, 'badRequest', `Volume type encryption for type ${t.id} already exists.`),
  );
  assert.equal((await api.call('POST', `/types/${randomUUID()}/encryption`, { encryption: spec })).status, 404);
  assert.equal((await api.call('POST', `/types/${t.id}/encryption`, { encryption: { provider: 'p', control_location: 'middle' } })).status, 400);
  const shown = (await api.call('GET', `/types/${t.id}/encryption`)).body;
  assert.equal(shown.encryption_id, created.body.encryption.encryption_id);
  assert.equal(shown.deleted, false);
  assert.equal(shown.deleted_at, null);
  const upd = await api.call('PUT', `/types/${t.id}/encryption/${shown.encryption_id}`, { encryption: { key_size: 128, control_location: 'back-end' } });
  assert.deepEqual(upd.body, { encryption: { key_size: 128, control_location: 'back-end' } });
  assert.deepEqual((await api.call('GET', `/types/${t.id}/encryption/cipher`)).body, { cipher: 'aes-xts-plain64' });
  assert.deepEqual((await api.call('GET', `/types/${t.id}/encryption/control_location`)).body, { control_location: 'back-end' });
  assert.equal((await api.call('GET', `/types/${t.id}/encryption/nope`)).status, 404);

  const both = (await api.call('POST', '/types', { volume_type: { name: 'luks-multi', extra_specs: { multiattach: '<is> True' } } })).body.volume_type;
  await api.call('POST', `/types/${both.id}/encryption`, { encryption: spec });
  assert.deepEqual(
    (await api.call('POST', '/volumes', { volume: { size: 1, volume_type: both.id } })).body,
    fault(400, 'badRequest', 'Invalid volume: Multiattach cannot be used with encrypted volumes.'),
  );
  const vol = await api.create({ volume_type: 'luks' });
  const v = (await api.call('GET', `/volumes/${vol}`, undefined, { 'OpenStack-API-Version': 'volume 3.64' })).body.volume;
  assert.equal(v.encrypted, true);
  assert.match(v.encryption_key_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    (await api.call('DELETE', `/types/${t.id}/encryption/${shown.encryption_id}`)).body,
    fault(400, 'badRequest', 'Cannot delete encryption specs. Volume type in use.'),
  );
  await api.call('DELETE', `/volumes/${vol}`);
  await api.env.workflow.drain();
  assert.equal((await api.call('DELETE', `/types/${t.id}/encryption/x`)).status, 202);
  assert.deepEqual((await api.call('GET', `/types/${t.id}/encryption`)).body, {});
  assert.deepEqual(
    (await api.call('DELETE', `/types/${t.id}/encryption/x`)).body,
    fault(404, 'itemNotFound', `Volume type encryption for type ${t.id} does not exist.`),
  );
});

test('os-retype without migration: type changes in place; multiattach and state rules; a move that needs migration leaves it', async () => {
  const a = (await api.call('POST', '/types', { volume_type: { name: 'rt-a' } })).body.volume_type;
  const b = (await api.call('POST', '/types', { volume_type: { name: 'rt-b' } })).body.volume_type;
  const m = (await api.call('POST', '/types', { volume_type: { name: 'rt-multi', extra_specs: { multiattach: '<is> True' } } })).body.volume_type;
  const elsewhere = (await api.call('POST', '/types', { volume_type: { name: 'rt-other', extra_specs: { volume_backend_name: 'lvm' } } })).body.volume_type;
  const id = await api.create({ volume_type: a.id });
  const before = (await api.call('GET', `/volumes/${id}`)).body.volume;
  assert.equal((await api.action(id, 'os-retype', { new_type: 'rt-b', migration_policy: 'never' })).status, 202);
  const after = (await api.call('GET', `/volumes/${id}`)).body.volume;
  assert.equal(after.volume_type, 'rt-b');
  assert.equal(after.status, 'available');
  assert.equal(after.migration_status, null);
  assert.equal(after['os-vol-host-attr:host'], before['os-vol-host-attr:host']);
  assert.deepEqual(
    (await api.action(id, 'os-retype', { new_type: b.id })).body,
    fault(
      400,
      'badRequest',
      'Invalid volume: Retype needs volume to be in available or in-use state, not be part of an active migration or a consistency group, requested type has to be different that the one from the volume, and for in-use volumes front-end qos specs cannot change.',
    ),
  );
  assert.equal((await api.action(id, 'os-retype', { new_type: 'rt-a', migration_policy: 'sometimes' })).status, 400);
  assert.equal((await api.action(id, 'os-retype', {})).status, 400);
  assert.deepEqual((await api.action(id, 'os-retype', { new_type: 'nope' })).body, fault(404, 'itemNotFound', 'Volume type with name nope could not be found.'));

  // Into a multiattach type while in use: refused up front.
  await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' });
  assert.deepEqual(
    (await api.action(id, 'os-retype', { new_type: m.id })).body,
    fault(
      400,
      'badRequest',
      'Invalid input received: Invalid volume_type passed, retypes affecting multiattach are only allowed on available volumes, the specified volume however currently has a status of: in-use.',
    ),
  );
  assert.equal((await api.action(id, 'os-retype', { new_type: a.id })).status, 202, 'in-use volumes may change type in place');
  assert.equal((await api.call('GET', `/volumes/${id}`)).body.volume.volume_type, 'rt-a');

  // Another backend asked for: accepted, then no valid backend, so the volume keeps its type (Cinder's scheduler).
  const other = await api.create({ volume_type: b.id });
  assert.equal((await api.action(other, 'os-retype', { new_type: elsewhere.id, migration_policy: 'on-demand' })).status, 202);
  const kept = (await api.call('GET', `/volumes/${other}`)).body.volume;
  assert.equal(kept.volume_type, 'rt-b');
  assert.equal(kept.status, 'available');
  const events = await api.env.workflow.listVolumeEvents(adminCtx(), other);
  assert.ok(events.some((e) => e.action === 'retype' && /No valid backend was found/.test(e.reason ?? '')));
  assert.equal((await api.action(other, 'os-retype', { new_type: m.id })).status, 202);
  assert.equal((await api.call('GET', `/volumes/${other}`)).body.volume.multiattach, true, 'available volume may become multiattach');
});

test('services: the volume host and scheduler are registered and up; filters; enable/disable/freeze/thaw and errors', async () => {
  const list = await api.call('GET', '/os-services');
  assert.equal(list.status, 200);
  const host = api.env.host.hostName;
  const vol = list.body.services.find((s: any) => s.binary === 'cinder-volume');
  const sch = list.body.services.find((s: any) => s.binary === 'cinder-scheduler');
  assert.equal(vol.host, `${host}@file`);
  assert.equal(sch.host, host);
  assert.deepEqual(Object.keys(vol).sort(), ['active_backend_id', 'binary', 'disabled_reason', 'frozen', 'host', 'replication_status', 'state', 'status', 'updated_at', 'zone']);
  assert.deepEqual(Object.keys(sch).sort(), ['binary', 'disabled_reason', 'host', 'state', 'status', 'updated_at', 'zone']);
  assert.equal(vol.state, 'up');
  assert.equal(vol.status, 'enabled');
  assert.equal(vol.zone, 'nova');
  assert.match(vol.updated_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
  assert.equal((await api.call('GET', `/os-services?host=${host}`)).body.services.length, 2, 'a bare host matches its backends');
  assert.deepEqual((await api.call('GET', `/os-services?host=${host}&binary=cinder-volume`)).body.services.map((s: any) => s.binary), ['cinder-volume']);
  assert.deepEqual((await api.call('GET', '/os-services?binary=nothing')).body.services, []);
  assert.ok('cluster' in (await api.call('GET', '/os-services', undefined, { 'OpenStack-API-Version': 'volume 3.7' })).body.services[0]);
  assert.equal((await api.call('GET', '/os-services', undefined, { 'x-roles': 'member' })).status, 403);

  assert.deepEqual(
    (await api.call('PUT', '/os-services/enable', { host: 'invalid_host', binary: 'cinder-volume' })).body,
    fault(404, 'itemNotFound', 'Service cinder-volume could not be found on host invalid_host.'),
  );
  assert.equal((await api.call('PUT', '/os-services/disable', { host: vol.host, binary: 'invalid_binary' })).status, 404);
  assert.equal((await api.call('PUT', '/os-services/disable-log-reason', { host: vol.host, binary: 'cinder-volume', disabled_reason: null })).status, 400);
  assert.deepEqual((await api.call('PUT', '/os-services/enable', { binary: 'cinder-volume' })).body, fault(400, 'badRequest', 'Invalid input received: Host field is missing.'));
  assert.deepEqual((await api.call('PUT', '/os-services/reboot', { host: vol.host })).body, fault(400, 'badRequest', 'Invalid input received: Unknown action'));
  assert.deepEqual(
    (await api.call('PUT', '/os-services/freeze', { host: 'invalid_host' })).body,
    fault(400, 'badRequest', 'Invalid input received: No service found with host=invalid_host'),
  );
  assert.equal((await api.call('PUT', '/os-services/thaw', { host: 'invalid_host' })).status, 400);
  const v326 = { 'OpenStack-API-Version': 'volume 3.26' };
  assert.deepEqual(
    (await api.call('PUT', '/os-services/freeze', {}, v326)).body,
    fault(400, 'badRequest', 'Invalid input received: One and only one of cluster and host must be set.'),
  );
  assert.deepEqual(
    (await api.call('PUT', '/os-services/freeze', { cluster: 'c1' }, v326)).body,
    fault(400, 'badRequest', 'Invalid input received: No service found with cluster=c1'),
  );
  assert.deepEqual((await api.call('PUT', '/os-services/freeze', {})).body, fault(400, 'badRequest', 'Invalid input received: Host field is missing.'));

  // A disabled volume service gets no new volumes: create is accepted and the volume goes to error without a host.
  const disabled = await api.call('PUT', '/os-services/disable-log-reason', { host: vol.host, binary: 'cinder-volume', disabled_reason: 'maintenance' });
  assert.deepEqual(disabled.body, { disabled: true, status: 'disabled', host: vol.host, service: '', binary: 'cinder-volume', disabled_reason: 'maintenance' });
  const listed = (await api.call('GET', '/os-services?binary=cinder-volume')).body.services[0];
  assert.equal(listed.status, 'disabled');
  assert.equal(listed.disabled_reason, 'maintenance');
  const r = await api.call('POST', '/volumes', { volume: { size: 1 } });
  assert.equal(r.status, 202);
  await api.env.workflow.drain();
  const failed = (await api.call('GET', `/volumes/${r.body.volume.id}`)).body.volume;
  assert.equal(failed.status, 'error');
  assert.equal(failed['os-vol-host-attr:host'], null);
  assert.equal((api.env.host as RecordingHost).calls.filter((c) => c.op === 'createVolume' && c.volumeId === r.body.volume.id).length, 0);
  assert.deepEqual((await api.call('GET', '/scheduler-stats/get_pools')).body.pools, [], 'the scheduler does not offer a disabled backend');
  const enabled = await api.call('PUT', '/os-services/enable', { host: vol.host, binary: 'cinder-volume' });
  assert.deepEqual(enabled.body, { disabled: false, status: 'enabled', host: vol.host, service: '', binary: 'cinder-volume' });

  const keep = await api.create();
  assert.equal((await api.call('PUT', '/os-services/freeze', { host })).status, 200);
  const frozen = (await api.call('GET', '/os-services?binary=cinder-volume')).body.services[0];
  assert.equal(frozen.frozen, true);
  assert.equal(frozen.status, 'disabled');
  assert.equal(frozen.disabled_reason, 'frozen');
  assert.deepEqual(
    (await api.call('PUT', '/os-services/freeze', { host })).body,
    fault(400, 'badRequest', `Invalid input received: No service could be changed: frozen in ['${vol.host}'] must be False to failover.`),
  );
  assert.deepEqual(
    (await api.call('DELETE', `/volumes/${keep}`)).body,
    fault(400, 'badRequest', 'Invalid input received: Modification operations are not allowed on frozen storage backends.'),
  );
  assert.equal((await api.call('PUT', '/os-services/thaw', { host })).status, 200);
  assert.equal((await api.call('DELETE', `/volumes/${keep}`)).status, 202, 'thawed: deletable again');
  // The volume that found no backend has no host, and deletes like any error volume.
  assert.equal((await api.call('DELETE', `/volumes/${r.body.volume.id}`)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${r.body.volume.id}`)).status, 404);
  const thawed = (await api.call('GET', '/os-services?binary=cinder-volume')).body.services[0];
  assert.deepEqual([thawed.frozen, thawed.status], [false, 'enabled']);
});

test('hosts, pools and capabilities come from the services table and the volume rows', async () => {
  const hosts = (await api.call('GET', '/os-hosts')).body.hosts;
  assert.ok(hosts.length >= 2);
  const h = hosts.find((x: any) => x.service === 'cinder-volume');
  assert.deepEqual(Object.keys(h).sort(), ['host_name', 'last-update', 'service', 'service-state', 'service-status', 'zone']);
  assert.equal(h['service-status'], 'available');
  const project = randomUUID().replace(/-/g, '');
  await api.call('POST', `/v3/${project}/volumes`, { volume: { size: 3 } }, { 'x-auth-token': `u:${project}` });
  await api.env.workflow.drain();
  const shown = (await api.call('GET', `/os-hosts/${h.host_name}`)).body.host;
  const total = shown.find((x: any) => x.resource.project === '(total)').resource;
  const mine = shown.find((x: any) => x.resource.project === project).resource;
  assert.deepEqual(mine, { host: h.host_name, project, volume_count: '1', total_volume_gb: '3', snapshot_count: '0', total_snapshot_gb: '0' });
  assert.ok(Number(total.volume_count) >= 1 && typeof total.total_volume_gb === 'string');
  assert.equal((await api.call('GET', '/os-hosts/nowhere')).status, 404);

  const pools = (await api.call('GET', '/scheduler-stats/get_pools')).body.pools;
  assert.deepEqual(pools, [{ name: `${h.host_name}#file` }]);
  const detail = (await api.call('GET', '/scheduler-stats/get_pools?detail=true')).body.pools[0];
  const c = detail.capabilities;
  assert.equal(c.vendor_name, 'Open Source');
  assert.equal(c.storage_protocol, 'iSCSI');
  assert.equal(c.volume_backend_name, 'file');
  assert.equal(c.thin_provisioning_support, true);
  assert.equal(c.QoS_support, false);
  assert.equal(typeof c.max_over_subscription_ratio, 'number');
  assert.ok(c.allocated_capacity_gb >= 3);
  assert.equal(c.provisioned_capacity_gb, c.allocated_capacity_gb);
  assert.equal((await api.call('GET', '/scheduler-stats/get_pools?detail=maybe')).status, 400);

  const caps = await api.call('GET', `/capabilities/${h.host_name}`);
  assert.equal(caps.status, 200);
  assert.equal(caps.body.namespace, `OS::Storage::Capabilities::${h.host_name}`);
  assert.deepEqual([caps.body.vendor_name, caps.body.volume_backend_name, caps.body.storage_protocol], [c.vendor_name, c.volume_backend_name, c.storage_protocol]);
  assert.deepEqual(Object.keys(caps.body.properties).sort(), ['compression', 'qos', 'replication_enabled', 'thin_provisioning']);
  assert.deepEqual((await api.call('GET', '/capabilities/nowhere')).body, fault(404, 'itemNotFound', "Can't find service: nowhere"));
});

test('a volume service whose heartbeat is older than 60 s is down: unavailable host, no pool, new volumes go to error', async () => {
  const stale = new Date(Date.now() - 120_000).toISOString().slice(0, 23) + '000';
  await api.env.store.db.updateTable('services').set({ updated_at: stale, modified_at: null }).where('binary', '=', 'cinder-volume').execute();
  const svc = (await api.call('GET', '/os-services?binary=cinder-volume')).body.services[0];
  assert.equal(svc.state, 'down');
  assert.equal(svc.updated_at, stale);
  assert.equal((await api.call('GET', '/os-hosts')).body.hosts.find((h: any) => h.service === 'cinder-volume')['service-status'], 'unavailable');
  assert.deepEqual((await api.call('GET', '/scheduler-stats/get_pools')).body.pools, []);
  const r = await api.call('POST', '/volumes', { volume: { size: 1 } });
  assert.equal(r.status, 202);
  assert.equal((await api.call('GET', `/volumes/${r.body.volume.id}`)).body.volume.status, 'error');
  // The next heartbeat brings it back.
  await api.env.workflow.heartbeat();
  assert.equal((await api.call('GET', '/os-services?binary=cinder-volume')).body.services[0].state, 'up');
  assert.equal((await api.call('GET', '/scheduler-stats/get_pools')).body.pools.length, 1);
});

test('a type bounds its volumes sizes on create, extend and retype (provision_filter_on_size)', async () => {
  const t = (await api.call('POST', '/types', { volume_type: { name: 'sized', extra_specs: { 'provisioning:min_vol_size': '2', 'provisioning:max_vol_size': '3' } } })).body.volume_type;
  assert.deepEqual(
    (await api.call('POST', '/volumes', { volume: { size: 1, volume_type: 'sized' } })).body,
    fault(400, 'badRequest', "Invalid input received: Specified volume size of '1' is less than the minimum required size of '2' for volume type 'sized'."),
  );
  const id = await api.create({ size: 2, volume_type: t.id });
  assert.deepEqual(
    (await api.action(id, 'os-extend', { new_size: 4 })).body,
    fault(400, 'badRequest', "Invalid input received: Specified volume size of '4' is greater than the maximum allowable size of '3' for volume type 'sized'."),
  );
  assert.equal((await api.action(id, 'os-extend', { new_size: 3 })).status, 202);
  const small = await api.create({ size: 1 });
  assert.equal((await api.action(small, 'os-retype', { new_type: 'sized' })).status, 400);
  assert.equal((await api.call('GET', `/volumes/${small}`)).body.volume.volume_type, '__DEFAULT__');
});

test('type list: created_at desc by default; sort, limit, marker with a next link, offset; unknown marker 404', async () => {
  for (const n of ['page-b', 'page-a', 'page-c']) {
    await api.call('POST', '/types', { volume_type: { name: n } });
    // created_at has millisecond resolution: keep the three apart.
    await new Promise((r) => setTimeout(r, 5));
  }
  const all = (await api.call('GET', '/types')).body.volume_types.map((t: any) => t.name);
  assert.deepEqual(all.slice(0, 3), ['page-c', 'page-a', 'page-b'], 'newest first');
  const first = await api.call('GET', '/types?sort=name:asc&limit=1');
  assert.equal(first.body.volume_types.length, 1);
  const byName = [...all].sort();
  assert.equal(first.body.volume_types[0].name, byName[0]);
  const next = new URL(first.body.volume_type_links[0].href);
  assert.equal(first.body.volume_type_links[0].rel, 'next');
  assert.equal(next.searchParams.get('marker'), first.body.volume_types[0].id);
  const second = await api.call('GET', `/types?${next.searchParams}`);
  assert.equal(second.body.volume_types[0].name, byName[1]);
  assert.equal((await api.call('GET', '/types?sort=name:asc&offset=2&limit=1')).body.volume_types[0].name, byName[2]);
  const whole = await api.call('GET', '/types?limit=1000');
  assert.equal(whole.body.volume_types.length, all.length);
  assert.ok(!('volume_type_links' in whole.body), 'no next link when nothing follows');
  const missing = randomUUID();
  assert.deepEqual((await api.call('GET', `/types?marker=${missing}`)).body, fault(404, 'itemNotFound', `Marker ${missing} could not be found.`));
  assert.equal((await api.call('GET', '/types?sort=size:asc')).status, 400);
});
