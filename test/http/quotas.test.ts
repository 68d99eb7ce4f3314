// os-quota-sets, os-quota-class-sets and limits with Cinder's defaults: shapes, usage that follows creates,
// extends and deletes, 413s that leave nothing behind, and stored usage always equal to a recount of the rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeApi, fault, quotaFault, type Api } from './client.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';

let api: Api;
before(async () => {
  api = await makeApi({ cinderQuotas: true, project: 'projq' });
});
after(async () => {
  await api?.close();
});

const P = 'projq';
const member = { 'x-auth-token': `alice:${P}`, 'x-roles': 'member,reader' };

async function assertNoDrift(): Promise<void> {
  const db = api.env.store.db;
  assert.deepEqual(usageFingerprint(await storedUsage(db)), usageFingerprint(await recountUsage(db)), 'stored usage equals a recount of the rows');
}

async function usage(project = P) {
  const r = await api.call('GET', `/os-quota-sets/${project}?usage=True`);
  assert.equal(r.status, 200, r.text);
  return r.body.quota_set;
}

test('show, defaults, class set and limits carry every resource with Cinder 21 defaults', async () => {
  const show = await api.call('GET', `/os-quota-sets/${P}`);
  assert.equal(show.status, 200);
  assert.equal(show.body.quota_set.id, P);
  for (const [k, v] of Object.entries({ volumes: 10, snapshots: 10, gigabytes: 1000, backups: 10, backup_gigabytes: 1000, groups: 10, per_volume_gigabytes: -1 })) {
    assert.equal(show.body.quota_set[k], v, k);
  }
  assert.equal(show.body.quota_set.volumes___DEFAULT__, -1, 'per-type resources of the default type');
  assert.equal(show.body.quota_set.gigabytes___DEFAULT__, -1);
  assert.equal(show.body.quota_set.snapshots___DEFAULT__, -1);

  const defaults = await api.call('GET', `/os-quota-sets/${P}/defaults`);
  assert.deepEqual(defaults.body.quota_set, show.body.quota_set);

  const cls = await api.call('GET', '/os-quota-class-sets/default');
  assert.equal(cls.body.quota_class_set.id, 'default');
  assert.equal(cls.body.quota_class_set.volumes, 10);

  const u = await usage();
  assert.deepEqual(u.volumes, { limit: 10, in_use: 0, reserved: 0 });

  const limits = await api.call('GET', '/limits');
  assert.deepEqual(limits.body, {
    limits: {
      rate: [],
      absolute: {
        maxTotalVolumes: 10, maxTotalSnapshots: 10, maxTotalVolumeGigabytes: 1000, maxTotalBackups: 10, maxTotalBackupGigabytes: 1000,
        totalVolumesUsed: 0, totalGigabytesUsed: 0, totalSnapshotsUsed: 0, totalBackupsUsed: 0, totalBackupGigabytesUsed: 0,
      },
    },
  });
});

test('usage follows create, extend and delete; over-quota creates and extends are 413 overLimit and change nothing', async () => {
  const a = await api.create({ size: 2 });
  let u = await usage();
  assert.equal(u.volumes.in_use, 1);
  assert.equal(u.gigabytes.in_use, 2);
  assert.equal(u.volumes___DEFAULT__.in_use, 1);
  assert.equal(u.gigabytes___DEFAULT__.in_use, 2);
  await assertNoDrift();

  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { gigabytes: 4, volumes: 2 } })).status, 200);
  const big = await api.call('POST', '/volumes', { volume: { size: 3 } });
  assert.deepEqual(big.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, quota is 4G and 2G has been consumed.'));
  const b = await api.create({ size: 1 });
  const third = await api.call('POST', '/volumes', { volume: { size: 1 } });
  assert.deepEqual(third.body, quotaFault('VolumeLimitExceeded', "Maximum number of volumes allowed (2) exceeded for quota 'volumes'."));
  assert.equal((await api.call('GET', '/volumes')).body.volumes.length, 2, 'no half-written volume');

  const ext = await api.action(a, 'os-extend', { new_size: 4 });
  assert.deepEqual(ext.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 4G and 3G has been consumed.'));
  assert.equal((await api.call('GET', `/volumes/${a}`)).body.volume.status, 'available', 'a refused extend leaves the status');
  assert.equal((await api.action(a, 'os-extend', { new_size: 3 })).status, 202);
  await api.env.workflow.drain();
  u = await usage();
  assert.equal(u.gigabytes.in_use, 4);
  assert.equal((await api.call('GET', `/volumes/${a}`)).body.volume.size, 3);
  await assertNoDrift();

  // A limit below what is used now is refused.
  const low = await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { gigabytes: 1 } });
  assert.deepEqual(low.body, fault(400, 'badRequest', 'Quota gigabytes limit must be equal or greater than existing resources. Current usage is 4 and the requested limit is 1.'));

  assert.equal((await api.call('DELETE', `/volumes/${b}`)).status, 202);
  await api.env.workflow.drain();
  u = await usage();
  assert.equal(u.volumes.in_use, 1);
  assert.equal(u.gigabytes.in_use, 3);
  await assertNoDrift();
  const limits = (await api.call('GET', '/limits')).body.limits.absolute;
  assert.equal(limits.totalVolumesUsed, 1);
  assert.equal(limits.totalGigabytesUsed, 3);
  assert.equal(limits.maxTotalVolumeGigabytes, 4);

  // DELETE goes back to the defaults.
  const del = await api.call('DELETE', `/os-quota-sets/${P}`);
  assert.equal(del.status, 200);
  assert.equal((await api.call('GET', `/os-quota-sets/${P}`)).body.quota_set.gigabytes, 1000);
  assert.equal((await api.call('DELETE', `/volumes/${a}`)).status, 202);
  await api.env.workflow.drain();
  await assertNoDrift();
});

test('a failed extend gives back what it was charged', async () => {
  const id = await api.create({ size: 1 });
  (api.env.host as unknown as { failNext: Record<string, Error> }).failNext.extendVolume = new Error('disk full');
  assert.equal((await api.action(id, 'os-extend', { new_size: 5 })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/volumes/${id}`)).body.volume.status, 'error_extending');
  assert.equal((await usage()).gigabytes.in_use, 1);
  await assertNoDrift();
  await api.call('DELETE', `/volumes/${id}`);
  await api.env.workflow.drain();
});

test('per_volume_gigabytes refuses an oversized create and extend', async () => {
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { per_volume_gigabytes: 2 } })).status, 200);
  const r = await api.call('POST', '/volumes', { volume: { size: 3 } });
  assert.deepEqual(r.body, quotaFault('VolumeSizeExceedsLimit', 'Requested volume size 3G is larger than maximum allowed limit 2G.'));
  const id = await api.create({ size: 2 });
  const ext = await api.action(id, 'os-extend', { new_size: 3 });
  assert.deepEqual(ext.body, quotaFault('VolumeSizeExceedsLimit', 'Requested volume size 3G is larger than maximum allowed limit 2G.'));
  await api.call('DELETE', `/os-quota-sets/${P}`);
  await api.call('DELETE', `/volumes/${id}`);
  await api.env.workflow.drain();
  await assertNoDrift();
});

test('per-type limits apply to volumes of that type, by name', async () => {
  const t = await api.call('POST', '/types', { volume_type: { name: 'gold' } });
  assert.equal(t.status, 200);
  const set = await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { volumes_gold: 1, gigabytes_gold: '5' } });
  assert.equal(set.status, 200);
  assert.equal(set.body.quota_set.volumes_gold, 1);
  assert.equal(set.body.quota_set.gigabytes_gold, 5);
  const id = await api.create({ size: 1, volume_type: 'gold' });
  const r = await api.call('POST', '/volumes', { volume: { size: 1, volume_type: 'gold' } });
  assert.deepEqual(r.body, quotaFault('VolumeLimitExceeded', "Maximum number of volumes allowed (1) exceeded for quota 'volumes_gold'."));
  assert.equal((await usage()).volumes_gold.in_use, 1);
  await api.call('DELETE', `/volumes/${id}`);
  await api.env.workflow.drain();
  await api.call('DELETE', `/os-quota-sets/${P}`);
  await assertNoDrift();
});

test('client mistakes are 400 and policy is enforced', async () => {
  assert.deepEqual((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { bogus: 1 } })).body, fault(400, 'badRequest', 'Invalid input received: Bad key(s) in quota set: bogus'));
  assert.deepEqual((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { volumes: -2 } })).body, fault(400, 'badRequest', 'volumes must be >= -1'));
  assert.deepEqual((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { volumes: 'ten' } })).body, fault(400, 'badRequest', 'volumes must be an integer.'));
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: {} })).status, 400);
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota: { volumes: 1 } })).status, 400);
  assert.equal((await api.call('PUT', '/os-quota-class-sets/default', { quota_class_set: { nope: 1 } })).status, 400);
  assert.equal((await api.call('GET', `/os-quota-sets/${P}?usage=maybe`)).status, 400);
  // A member sees its own project's quotas, not another's, and cannot change them.
  assert.equal((await api.call('GET', `/os-quota-sets/${P}`, undefined, member)).status, 200);
  assert.equal((await api.call('GET', '/os-quota-sets/other', undefined, member)).status, 403);
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { volumes: 3 } }, member)).status, 403);
  assert.equal((await api.call('DELETE', `/os-quota-sets/${P}`, undefined, member)).status, 403);
  assert.equal((await api.call('GET', '/os-quota-class-sets/default', undefined, member)).status, 403);
  assert.equal((await api.call('GET', `/os-quota-sets/${P}`)).body.quota_set.volumes, 10, 'refused updates changed nothing');
});

test('the default class changes every project without its own limits', async () => {
  const r = await api.call('PUT', '/os-quota-class-sets/default', { quota_class_set: { volumes: 12, gigabytes: '900' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.quota_class_set.volumes, 12);
  assert.equal(r.body.quota_class_set.gigabytes, 900);
  assert.equal((await api.call('GET', '/os-quota-sets/fresh-project/defaults')).body.quota_set.volumes, 12);
  assert.equal((await api.call('GET', '/os-quota-sets/fresh-project')).body.quota_set.gigabytes, 900);
  await api.call('PUT', '/os-quota-class-sets/default', { quota_class_set: { volumes: 10, gigabytes: 1000 } });
});

test('retype moves the charge between per-type counters and respects the new type limits', async () => {
  for (const name of ['silver', 'bronze']) assert.equal((await api.call('POST', '/types', { volume_type: { name } })).status, 200);
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { volumes_bronze: 0 } })).status, 200);
  const id = await api.create({ size: 2, volume_type: 'silver' });
  const refused = await api.action(id, 'os-retype', { new_type: 'bronze' }, { 'openstack-api-version': 'volume 3.0' });
  assert.deepEqual(refused.body, quotaFault('VolumeLimitExceeded', "Maximum number of volumes allowed (0) exceeded for quota 'volumes_bronze'."));
  assert.equal((await api.call('GET', `/volumes/${id}`)).body.volume.volume_type, 'silver');
  await api.call('DELETE', `/os-quota-sets/${P}`);
  assert.equal((await api.action(id, 'os-retype', { new_type: 'bronze' })).status, 202);
  const u = await usage();
  assert.equal(u.volumes_silver.in_use, 0);
  assert.equal(u.gigabytes_silver.in_use, 0);
  assert.equal(u.volumes_bronze.in_use, 1);
  assert.equal(u.gigabytes_bronze.in_use, 2);
  assert.equal(u.volumes.in_use, 1, 'the totals do not change');
  await assertNoDrift();
  await api.call('DELETE', `/volumes/${id}`);
  await api.env.workflow.drain();
  await assertNoDrift();
});

test('snapshots count against snapshots and gigabytes, are refused with 413 over them, give back on delete and move with a transfer', async () => {
  const vol = await api.create({ size: 2 });
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots: 1 } })).status, 200);
  const s1 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.equal(s1.status, 202, s1.text);
  await api.env.workflow.drain();
  let u = await usage();
  assert.equal(u.snapshots.in_use, 1);
  assert.equal(u.gigabytes.in_use, 4, 'the volume and its snapshot');
  assert.equal(u.snapshots___DEFAULT__.in_use, 1);
  await assertNoDrift();
  const s2 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.deepEqual(s2.body, quotaFault('SnapshotLimitExceeded', 'Maximum number of snapshots allowed (1) exceeded'));
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots: 5, gigabytes: 5 } })).status, 200);
  const s3 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.deepEqual(s3.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 5G and 4G has been consumed.'));
  await assertNoDrift();

  // A transfer takes the snapshot along, with its charge.
  await api.call('DELETE', `/os-quota-sets/${P}`);
  const t = (await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } })).body.transfer;
  const other = { 'x-auth-token': 'bob:projq-other', 'x-roles': 'member,reader' };
  assert.equal((await api.call('POST', `/v3/projq-other/os-volume-transfer/${t.id}/accept`, { accept: { auth_key: t.auth_key } }, other)).status, 202);
  u = await usage();
  assert.equal(u.snapshots.in_use, 0);
  assert.equal(u.gigabytes.in_use, 0);
  const o = await usage('projq-other');
  assert.equal(o.snapshots.in_use, 1);
  assert.equal(o.gigabytes.in_use, 4);
  await assertNoDrift();

  assert.equal((await api.call('DELETE', `/v3/projq-other/snapshots/${s1.body.snapshot.id}`, undefined, other)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await usage('projq-other')).snapshots.in_use, 0);
  assert.equal((await usage('projq-other')).gigabytes.in_use, 2);
  assert.equal((await api.call('DELETE', `/v3/projq-other/volumes/${vol}`, undefined, other)).status, 202);
  await api.env.workflow.drain();
  await assertNoDrift();
});

test('over-quota faults name Cinder exception per case, with Retry-After: 0 (per-type volumes, gigabytes, snapshots; extend; retype with snapshots)', async () => {
  assert.equal((await api.call('POST', '/types', { volume_type: { name: 'tin' } })).status, 200);
  assert.equal((await api.call('POST', '/types', { volume_type: { name: 'lead' } })).status, 200);
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { gigabytes_tin: 3, snapshots_tin: 1 } })).status, 200);

  // gigabytes_<type> on create: VolumeSizeExceedsAvailableQuota names the type's counter; the header is Cinder's.
  const big = await api.call('POST', '/volumes', { volume: { size: 4, volume_type: 'tin' } });
  assert.equal(big.status, 413);
  assert.equal(big.headers['retry-after'], '0');
  assert.deepEqual(big.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes_tin quota. Requested 4G, quota is 3G and 0G has been consumed.'));
  const vol = await api.create({ size: 1, volume_type: 'tin' });

  // snapshots_<type>: SnapshotLimitExceeded with the type's limit.
  const s1 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.equal(s1.status, 202, s1.text);
  await api.env.workflow.drain();
  const s2 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.deepEqual(s2.body, quotaFault('SnapshotLimitExceeded', 'Maximum number of snapshots allowed (1) exceeded'));
  // gigabytes_<type> by a snapshot.
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots_tin: 5, gigabytes_tin: 2 } })).status, 200);
  const s3 = await api.call('POST', '/snapshots', { snapshot: { volume_id: vol } });
  assert.deepEqual(s3.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes_tin quota. Requested 1G, quota is 2G and 2G has been consumed.'));

  // An extend refused by gigabytes_<type> reports the project's total gigabytes, as volume/api.py extend does.
  const ext = await api.action(vol, 'os-extend', { new_size: 3 });
  assert.deepEqual(ext.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 1000G and 2G has been consumed.'));
  await assertNoDrift();

  // A retype moves the volume and its snapshot between the per-type counters; the new type's limits apply to
  // both: gigabytes_<type> (the volume's size in the message), snapshots_<type> (UnexpectedOverQuota, as Cinder).
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { gigabytes_lead: 1 } })).status, 200);
  const r1 = await api.action(vol, 'os-retype', { new_type: 'lead' });
  assert.deepEqual(r1.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes_lead quota. Requested 1G, quota is 1G and 0G has been consumed.'));
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { gigabytes_lead: 2, snapshots_lead: 0 } })).status, 200);
  const r2 = await api.action(vol, 'os-retype', { new_type: 'lead' });
  assert.deepEqual(r2.body, quotaFault('UnexpectedOverQuota', 'Unexpected over quota on snapshots_lead.'));
  assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.volume_type, 'tin');
  await assertNoDrift();
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots_lead: 1 } })).status, 200);
  assert.equal((await api.action(vol, 'os-retype', { new_type: 'lead' })).status, 202);
  const u = await usage();
  assert.deepEqual([u.volumes_tin.in_use, u.gigabytes_tin.in_use, u.snapshots_tin.in_use], [0, 0, 0]);
  assert.deepEqual([u.volumes_lead.in_use, u.gigabytes_lead.in_use, u.snapshots_lead.in_use], [1, 2, 1]);
  assert.deepEqual([u.volumes.in_use, u.gigabytes.in_use, u.snapshots.in_use], [1, 2, 1], 'the totals do not change');
  await assertNoDrift();

  // per_volume_gigabytes: VolumeSizeExceedsLimit, with the header too.
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { per_volume_gigabytes: 1 } })).status, 200);
  const pv = await api.call('POST', '/volumes', { volume: { size: 2 } });
  assert.equal(pv.headers['retry-after'], '0');
  assert.deepEqual(pv.body, quotaFault('VolumeSizeExceedsLimit', 'Requested volume size 2G is larger than maximum allowed limit 1G.'));

  await api.call('DELETE', `/os-quota-sets/${P}`);
  assert.equal((await api.call('DELETE', `/snapshots/${s1.body.snapshot.id}`)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('DELETE', `/volumes/${vol}`)).status, 202);
  await api.env.workflow.drain();
  await assertNoDrift();
});
