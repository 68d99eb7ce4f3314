// POST /volumes/{id}/action: every action's happy path and its refusals with Cinder's codes and messages,
// plus the races: 50 concurrent os-reserve / os-begin_detaching over real HTTP on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

const status = async (id: string) => (await api.call('GET', `/volumes/${id}`)).body.volume;
const badRequest = (message: string) => fault(400, 'badRequest', message);
const CONNECTOR = { initiator: 'iqn.1994-05.com.redhat:compute-a', host: 'compute-a', ip: '127.0.0.1', multipath: false };

test('dispatch: unknown action, several keys, empty body, non-object body', async () => {
  const id = await api.create();
  assert.deepEqual(
    (await api.action(id, 'os-fly')).body,
    badRequest('There is no such action: os-fly. Verify the request body and Content-Type header and try again.'),
  );
  assert.deepEqual((await api.call('POST', `/volumes/${id}/action`, { 'os-reserve': null, 'os-unreserve': null })).body, badRequest('Malformed request body'));
  assert.deepEqual((await api.call('POST', `/volumes/${id}/action`, '')).body, badRequest('Malformed request body'));
  assert.deepEqual((await api.call('POST', `/volumes/${id}/action`, '[1]')).body, badRequest('Malformed request body'));
  assert.deepEqual((await api.call('POST', `/volumes/${id}/action`, '{"os-reserve": ')).body, badRequest('Malformed request body'));
  assert.equal((await api.call('POST', `/volumes/${id}/action`, '{}', { 'content-type': 'application/xml' })).status, 415);
  assert.equal((await status(id)).status, 'available', 'refused requests changed nothing');
});

test('unknown volume is 404 for every action (tempest negatives)', async () => {
  const missing = randomUUID();
  for (const [name, value] of [['os-reserve', {}], ['os-unreserve', {}], ['os-detach', {}], ['os-begin_detaching', null]] as const) {
    assert.deepEqual((await api.action(missing, name, value)).body, fault(404, 'itemNotFound', `Volume ${missing} could not be found.`));
  }
  assert.equal((await api.action('xxx', 'os-detach', {})).status, 404);
});

test('os-reserve / os-unreserve: available -> attaching -> available; second reserve 400', async () => {
  const id = await api.create();
  const r = await api.action(id, 'os-reserve', {});
  assert.equal(r.status, 202);
  assert.equal(r.text, '');
  assert.equal((await status(id)).status, 'attaching');
  assert.deepEqual((await api.action(id, 'os-reserve')).body, badRequest('Invalid volume: Volume status must be available to reserve, but the status is attaching.'));
  assert.equal((await api.action(id, 'os-unreserve', {})).status, 202);
  assert.equal((await status(id)).status, 'available');
  assert.equal((await api.action(id, 'os-unreserve')).status, 202, 'unreserve never fails');
  assert.equal((await status(id)).status, 'available');
});

test('legacy attach/detach cycle over HTTP with the view of an attached volume', async () => {
  const id = await api.create();
  assert.equal((await api.action(id, 'os-reserve')).status, 202);
  const init = await api.action(id, 'os-initialize_connection', { connector: CONNECTOR });
  assert.equal(init.status, 200);
  assert.equal(init.body.connection_info.driver_volume_type, 'iscsi');
  assert.equal(init.body.connection_info.data.volume_id, id);
  const server = randomUUID();
  assert.equal((await api.action(id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/vdb', mode: 'rw' })).status, 202);
  const v = await status(id);
  assert.equal(v.status, 'in-use');
  assert.deepEqual(v.metadata, { readonly: 'False', attached_mode: 'rw' });
  assert.equal(v.attachments.length, 1);
  const a = v.attachments[0];
  assert.deepEqual(Object.keys(a).sort(), ['attached_at', 'attachment_id', 'device', 'host_name', 'id', 'server_id', 'volume_id']);
  assert.equal(a.id, id, 'legacy quirk: id is the volume id');
  assert.equal(a.volume_id, id);
  assert.equal(a.server_id, server);
  assert.equal(a.device, '/dev/vdb');
  assert.match(a.attached_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);

  assert.deepEqual((await api.action(id, 'os-reserve')).body, badRequest('Invalid volume: Volume status must be available to reserve, but the status is in-use.'));
  assert.deepEqual(
    (await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdc' })).body,
    badRequest('Invalid volume: volume is already attached and multiple attachments are not enabled'),
  );
  assert.equal((await api.action(id, 'os-attach', { instance_uuid: server, mountpoint: '/dev/vdb' })).status, 202, 'same instance again is idempotent');
  assert.equal((await status(id)).attachments.length, 1);

  assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
  assert.equal((await status(id)).status, 'detaching');
  assert.equal((await api.action(id, 'os-roll_detaching')).status, 202);
  assert.equal((await status(id)).status, 'in-use');
  assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
  assert.equal((await api.action(id, 'os-terminate_connection', { connector: CONNECTOR })).status, 202);
  assert.equal((await status(id)).status, 'detaching', 'terminate_connection leaves detaching alone');
  assert.equal((await api.action(id, 'os-detach', { attachment_id: a.attachment_id })).status, 202);
  const after = await status(id);
  assert.equal(after.status, 'available');
  assert.deepEqual(after.attachments, []);
  assert.deepEqual(after.metadata, { readonly: 'False' });
});

test('action body validation: 400 with the field, never a 500', async () => {
  const id = await api.create();
  const cases: [string, unknown, string][] = [
    ['os-attach', { instance_uuid: randomUUID() }, "Invalid input for field/attribute os-attach. Value: {'instance_uuid': "],
    ['os-attach', { mountpoint: '/dev/vdb' }, 'is not valid under any of the given schemas'],
    ['os-attach', { mountpoint: '/dev/vdb', host_name: 'h', mode: 'rx' }, "Invalid input for field/attribute mode. Value: 'rx'. 'rx' is not one of ['rw', 'ro']"],
    ['os-attach', { mountpoint: '/dev/vdb', instance_uuid: 'not-a-uuid' }, "Invalid input for field/attribute instance_uuid. Value: 'not-a-uuid'."],
    ['os-attach', { mountpoint: '/dev/vdb', host_name: 'h', color: 'red' }, "Additional properties are not allowed ('color' was unexpected)"],
    ['os-initialize_connection', {}, "Invalid input for field/attribute os-initialize_connection. Value: {}. 'connector' is a required property"],
    ['os-initialize_connection', null, "Invalid input for field/attribute os-initialize_connection. Value: None. None is not of type 'object'"],
    ['os-extend', { new_size: 'big' }, "Invalid input for field/attribute new_size. Value: 'big'."],
    ['os-set_bootable', { bootable: 'maybe' }, "Invalid input for field/attribute bootable. Value: 'maybe'."],
    ['os-reset_status', {}, 'Invalid input for field/attribute os-reset_status. Value: {}.'],
    ['os-reset_status', { status: 'sleeping' }, "Invalid input for field/attribute status. Value: 'sleeping'. 'sleeping' is not one of"],
  ];
  for (const [name, value, message] of cases) {
    const r = await api.action(id, name, value);
    assert.equal(r.status, 400, `${name} ${JSON.stringify(value)}: ${r.text}`);
    assert.ok(r.body.badRequest.message.startsWith(message) || r.body.badRequest.message.includes(message), `${name}: ${r.body.badRequest.message}`);
  }
  const noInitiator = await api.action(id, 'os-initialize_connection', { connector: { host: 'h', ip: '1.2.3.4' } });
  assert.deepEqual(noInitiator.body, badRequest("Invalid input received: Connector doesn't have required information: initiator"));
  assert.equal((await status(id)).status, 'available');
});

test('os-begin_detaching on an available volume and os-roll_detaching when not detaching', async () => {
  const id = await api.create();
  assert.deepEqual(
    (await api.action(id, 'os-begin_detaching')).body,
    badRequest("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach."),
  );
  assert.equal((await api.action(id, 'os-roll_detaching')).status, 202);
  assert.equal((await status(id)).status, 'available');
});

test('readonly flag, bootable (200), extend', async () => {
  const id = await api.create();
  assert.equal((await api.action(id, 'os-update_readonly_flag', { readonly: true })).status, 202);
  assert.equal((await status(id)).metadata.readonly, 'True');
  assert.deepEqual(
    (await api.action(id, 'os-attach', { host_name: 'h1', mountpoint: '/dev/vdb' })).body,
    badRequest(`Invalid attaching mode 'rw' for volume ${id}.`),
  );
  const init = await api.action(id, 'os-initialize_connection', { connector: CONNECTOR });
  assert.equal(init.body.connection_info.data.access_mode, 'ro', 'readonly volumes connect read-only');
  assert.equal((await api.action(id, 'os-attach', { host_name: 'h1', mountpoint: '/dev/vdb', mode: 'ro' })).status, 202);
  assert.deepEqual(
    (await api.action(id, 'os-update_readonly_flag', { readonly: 'false' })).body,
    badRequest(`Invalid volume: Volume ${id} status must be available to update readonly flag, but current status is: in-use.`),
  );
  assert.equal((await api.action(id, 'os-detach', null)).status, 202);
  assert.equal((await api.action(id, 'os-update_readonly_flag', { readonly: 'false' })).status, 202);
  assert.equal((await status(id)).metadata.readonly, 'False');

  const boot = await api.action(id, 'os-set_bootable', { bootable: 'True' });
  assert.equal(boot.status, 200);
  assert.equal((await status(id)).bootable, 'true');

  assert.equal((await api.action(id, 'os-extend', { new_size: 3 })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await status(id)).size, 3);
  assert.deepEqual(
    (await api.action(id, 'os-extend', { new_size: 2 })).body,
    badRequest('Invalid input received: New size for extend must be greater than current size. (current: 3, extended: 2).'),
  );
});

test('admin: reset_status is visible on GET; maintenance refuses attach, initialize and detach', async () => {
  const id = await api.create();
  for (const s of ['error', 'available', 'maintenance']) {
    assert.equal((await api.action(id, 'os-reset_status', { status: s.toUpperCase() })).status, 202);
    assert.equal((await status(id)).status, s);
  }
  assert.deepEqual((await api.action(id, 'os-attach', { host_name: 'h', mountpoint: '/dev/vdb' })).body, badRequest('Invalid volume: The volume cannot be attached in maintenance mode.'));
  assert.deepEqual(
    (await api.action(id, 'os-initialize_connection', { connector: CONNECTOR })).body,
    badRequest('Invalid volume: The volume connection cannot be initialized in maintenance mode.'),
  );
  assert.deepEqual((await api.action(id, 'os-detach', {})).body, badRequest('Invalid volume: The volume cannot be detached in maintenance mode.'));
  assert.deepEqual((await api.action(id, 'os-reset_status', { status: 'deleting' })).body, badRequest('Cannot reset-state to deleting'));
  assert.deepEqual(
    (await api.action(id, 'os-reset_status', { status: 'in-use' })).body,
    badRequest('Cannot reset-state to in-use because volume does not have any attachments.'),
  );
});

test('admin: force_delete from creating/attaching/error/maintenance, then 404', async () => {
  for (const s of ['creating', 'attaching', 'error', 'maintenance']) {
    const id = await api.create();
    await api.action(id, 'os-reset_status', { status: s });
    assert.equal((await api.action(id, 'os-force_delete', {})).status, 202);
    await api.env.workflow.drain();
    assert.equal((await api.call('GET', `/volumes/${id}`)).status, 404, s);
  }
});

test('admin: force_detach of an attachment on an error volume returns it to available', async () => {
  const id = await api.create();
  await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' });
  const att = (await status(id)).attachments[0].attachment_id;
  await api.action(id, 'os-reset_status', { status: 'error' });
  assert.equal((await api.action(id, 'os-force_detach', { connector: null, attachment_id: att })).status, 202);
  const v = await status(id);
  assert.equal(v.status, 'available');
  assert.deepEqual(v.attachments, []);
});

test('multiattach via type: status derived from several attachments; detach without id is refused', async () => {
  await api.call('POST', '/types', { volume_type: { name: 'shared', extra_specs: { multiattach: '<is> True' } } });
  const id = await api.create({ volume_type: 'shared' });
  const servers = [randomUUID(), randomUUID()];
  for (const s of servers) {
    assert.equal((await api.action(id, 'os-reserve')).status, 202, 'multiattach reserve accepts in-use');
    assert.equal((await api.action(id, 'os-attach', { instance_uuid: s, mountpoint: '/dev/vdb' })).status, 202);
  }
  let v = await status(id);
  assert.equal(v.status, 'in-use');
  assert.equal(v.attachments.length, 2);
  assert.deepEqual(
    (await api.action(id, 'os-detach', {})).body,
    badRequest('Invalid volume: Detach volume failed: More than one attachment, but no attachment_id provided.'),
  );
  const member = { 'x-roles': 'member' };
  const guarded = await api.action(id, 'os-detach', {}, member);
  assert.deepEqual(guarded.body, fault(409, 'conflictingRequest', 'ConflictNovaUsingAttachment: Detach volume from instance None using the Compute API'));
  await api.action(id, 'os-begin_detaching');
  await api.action(id, 'os-detach', { attachment_id: v.attachments[0].attachment_id });
  v = await status(id);
  assert.equal(v.status, 'in-use', 'one attachment left');
  assert.equal(v.attachments.length, 1);
  await api.action(id, 'os-detach', { attachment_id: v.attachments[0].attachment_id });
  assert.equal((await status(id)).status, 'available');
});

async function race(port: number, id: string, name: string): Promise<{ status: number; body: any }[]> {
  return Promise.all(
    Array.from({ length: 50 }, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v3/${api.project}/volumes/${id}/action`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-token': `tester:${api.project}` },
        body: JSON.stringify({ [name]: null }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }),
  );
}

test('50 concurrent os-reserve and os-begin_detaching over real HTTP: exactly one 202 each', async () => {
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (api.app.server.address() as { port: number }).port;
  const id = await api.create();
  const reserves = await race(port, id, 'os-reserve');
  assert.equal(reserves.filter((r) => r.status === 202).length, 1);
  const refused = reserves.filter((r) => r.status === 400);
  assert.equal(refused.length, 49);
  for (const r of refused) assert.deepEqual(r.body, badRequest('Invalid volume: Volume status must be available to reserve, but the status is attaching.'));

  await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' });
  const detaches = await race(port, id, 'os-begin_detaching');
  assert.equal(detaches.filter((r) => r.status === 202).length, 1);
  const refusedD = detaches.filter((r) => r.status === 400);
  assert.equal(refusedD.length, 49);
  for (const r of refusedD) {
    assert.equal(r.body.badRequest.message, "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.");
  }
  assert.equal((await status(id)).status, 'detaching');
});
