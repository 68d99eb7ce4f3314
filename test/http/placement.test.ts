// Placement across volume hosts (workflow/services.ts placeVolume): every volume service registered in the services
// table is a candidate; the filters are Cinder's (up, enabled, zone, capabilities, room) and the weight its
// CapacityWeigher's. The other hosts here are registered rows, as a host process would write them; their bytes
// are never reached (no RPC secret in this process), so a volume placed there stays creating under its task lease,
// for that host's reconciler to finish when it is back (host-faults.ts isHostUnreachable).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';
import * as services from '../../src/store/services.js';
import { nowTimestamp } from '../../src/store/schema.js';
import { virtualFreeGiB } from '../../src/workflow/scheduling.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

/** A volume host's row as its heartbeat writes it. */
async function register(host: string, zone: string, caps: Record<string, unknown>, beatAt = new Date()): Promise<void> {
  await services.heartbeat(api.env.store.db, {
    id: randomUUID(),
    host: `${host}@file`,
    binary: 'cinder-volume',
    topic: 'cinder-volume',
    availabilityZone: zone,
    rpcAddress: '127.0.0.1:9',
    capabilities: JSON.stringify({ volume_backend_name: 'file', storage_protocol: 'iSCSI', total_capacity_gb: 100, free_capacity_gb: 90, reserved_percentage: 0, thin_provisioning_support: true, max_over_subscription_ratio: 20, ...caps }),
    now: nowTimestamp(beatAt),
  });
}

const hostOf = async (id: string) => (await api.call('GET', `/volumes/${id}`, undefined, { 'OpenStack-API-Version': 'volume 3.0' })).body.volume['os-vol-host-attr:host'];

test('a type naming another volume_backend_name goes to the host that reports it; unreachable, the create waits for it', async () => {
  await register('fast-host', 'nova', { volume_backend_name: 'fast' });
  await api.call('POST', '/types', { volume_type: { name: 'fast', extra_specs: { volume_backend_name: 'fast' } } });
  const id = await api.create({ volume_type: 'fast' });
  assert.equal(await hostOf(id), 'fast-host@file#file');
  const v = (await api.call('GET', `/volumes/${id}`)).body.volume;
  assert.equal(v.status, 'creating');
  // No driver-failure message: nothing failed, the host was not there.
  const messages = (await api.call('GET', '/messages', undefined, { 'OpenStack-API-Version': 'volume 3.3' })).body.messages.filter((m: any) => m.resource_uuid === id);
  assert.deepEqual(messages, []);
});

test('a zone another host is in is valid and places there; an unknown zone is refused', async () => {
  await register('zone-host', 'z2', {});
  const zones = (await api.call('GET', '/os-availability-zone')).body.availabilityZoneInfo.map((z: any) => [z.zoneName, z.zoneState.available]);
  assert.deepEqual(zones.find((z: any) => z[0] === 'z2'), ['z2', true]);
  const id = await api.create({ availability_zone: 'z2' });
  assert.equal(await hostOf(id), 'zone-host@file#file');
  assert.equal((await api.call('GET', `/volumes/${id}`)).body.volume.availability_zone, 'z2');
  assert.deepEqual(
    (await api.call('POST', '/volumes', { volume: { size: 1, availability_zone: 'mars' } })).body,
    fault(400, 'badRequest', "Availability zone 'mars' is invalid."),
  );
});

test('a host whose heartbeat is too old, or that an operator disabled, gets nothing; with none left: No valid backend', async () => {
  await register('old-host', 'z3', {}, new Date(Date.now() - 120_000));
  await register('off-host', 'z3', {});
  await services.updateService(api.env.store.db, (await services.listServices(api.env.store.db)).find((r) => r.host === 'off-host@file')!.id, { disabled: true, now: nowTimestamp() });
  const r = await api.call('POST', '/volumes', { volume: { size: 1, availability_zone: 'z3' } });
  assert.equal(r.status, 202);
  const v = (await api.call('GET', `/volumes/${r.body.volume.id}`)).body.volume;
  assert.equal(v.status, 'error');
  const messages = (await api.call('GET', '/messages', undefined, { 'OpenStack-API-Version': 'volume 3.3' })).body.messages.filter((m: any) => m.resource_uuid === r.body.volume.id);
  assert.deepEqual(messages.map((m: any) => [m.event_id, m.user_message]), [['VOLUME_VOLUME_001_003', 'schedule allocate volume:Could not find any available weighted backend.']]);
});

test('among hosts that fit, the most virtual free capacity wins, so volumes spread', async () => {
  await register('big-host', 'z4', { total_capacity_gb: 200, free_capacity_gb: 150 });
  await register('small-host', 'z4', { total_capacity_gb: 100, free_capacity_gb: 90 });
  const placed = [];
  for (let i = 0; i < 3; i++) placed.push(await hostOf(await api.create({ availability_zone: 'z4', size: 1500 })));
  // big: 200 x 20 = 4000; small: 2000. Each 1500 GiB volume is charged to its host: big, big (2500 > 2000), then small (2000 > 1000).
  assert.deepEqual(placed, ['big-host@file#file', 'big-host@file#file', 'small-host@file#file']);
});

test("CapacityWeigher's virtual free capacity: thin = total x ratio - provisioned - reserved, thick = free - reserved, unknown lowest", () => {
  assert.equal(virtualFreeGiB({ total_capacity_gb: 100, free_capacity_gb: 40, reserved_percentage: 10, thin_provisioning_support: true, max_over_subscription_ratio: 20 }, 300), 100 * 20 - 300 - 10);
  assert.equal(virtualFreeGiB({ total_capacity_gb: 100, free_capacity_gb: 40, reserved_percentage: 10, thin_provisioning_support: false }, 300), 30);
  assert.equal(virtualFreeGiB({ total_capacity_gb: 'unknown', free_capacity_gb: 40 }, 0), -1);
  assert.equal(virtualFreeGiB({ total_capacity_gb: 100, free_capacity_gb: 'infinite' }, 0), -1);
});
