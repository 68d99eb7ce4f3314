// Volume transfers over both URL forms: the auth key is shown once, stored only hashed and never logged; a wrong
// key is 400; attached or busy volumes cannot be offered; accepting moves the volume and its quota usage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, quotaFault, type Api } from './client.js';
import { capturingLogger } from '../support/log-capture.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';

const SRC = 'srcproj';
const DST = 'dstproj';
const dst = { 'x-auth-token': `bob:${DST}`, 'x-roles': 'member,reader' };
const dstAt = (v: string) => ({ ...dst, 'openstack-api-version': `volume ${v}` });
const at = (v: string) => ({ 'openstack-api-version': `volume ${v}` });

let api: Api;
let logText: () => string;
before(async () => {
  const cap = capturingLogger('debug');
  logText = cap.text;
  api = await makeApi({ cinderQuotas: true, project: SRC, logger: cap.logger });
  // Collects every auth key a create answered with in this file, for the log check at the end.
  const call = api.call.bind(api);
  api.call = async (method, path, body, headers) => {
    const r = await call(method, path, body, headers);
    if (r.body?.transfer?.auth_key) handedOut.push(r.body.transfer.auth_key);
    return r;
  };
});
const handedOut: string[] = [];
after(async () => {
  await api?.close();
});

async function assertNoDrift(): Promise<void> {
  const db = api.env.store.db;
  assert.deepEqual(usageFingerprint(await storedUsage(db)), usageFingerprint(await recountUsage(db)));
}

const usageOf = async (project: string) => (await api.call('GET', `/v3/${SRC}/os-quota-sets/${project}?usage=true`)).body.quota_set;

for (const [prefix, version] of [['/os-volume-transfer', '3.0'], ['/volume-transfers', '3.55'], ['/volume-transfers', '3.57']] as const) {
  test(`${prefix} at ${version}: create, show, list, accept moves the volume and its usage`, async () => {
    const vol = await api.create({ size: 2 });
    const srcBefore = await usageOf(SRC);
    const dstBefore = await usageOf(DST);
    const created = await api.call('POST', prefix, { transfer: { volume_id: vol, name: ' t1 ' } }, at(version));
    assert.equal(created.status, 202, created.text);
    const t = created.body.transfer;
    assert.equal(t.volume_id, vol);
    assert.equal(t.name, 't1');
    assert.match(t.auth_key, /^[A-Za-z0-9]{16}$/);
    assert.equal('no_snapshots' in t, version !== '3.0');
    assert.equal('source_project_id' in t, version === '3.57');
    if (version === '3.57') {
      assert.equal(t.source_project_id, SRC);
      assert.equal(t.destination_project_id, null);
      assert.equal(t.accepted, false);
    }
    assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.status, 'awaiting-transfer');

    // The key is not stored and not shown again.
    const row = await api.env.store.db.selectFrom('transfers').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(t.auth_key), 'only a salted hash is stored');
    const shown = await api.call('GET', `${prefix}/${t.id}`, undefined, at(version));
    assert.equal(shown.status, 200);
    assert.equal(shown.body.transfer.volume_id, vol);
    assert.equal(shown.body.transfer.auth_key, undefined);
    const list = await api.call('GET', prefix, undefined, at(version));
    assert.deepEqual(Object.keys(list.body.transfers.find((x: any) => x.id === t.id)).sort(), ['id', 'links', 'name', 'volume_id']);
    const detail = await api.call('GET', `${prefix}/detail`, undefined, at(version));
    assert.ok(detail.body.transfers.some((x: any) => x.id === t.id && x.created_at));
    // Another project neither sees nor lists it.
    assert.equal((await api.call('GET', `/v3/${DST}${prefix}/${t.id}`, undefined, dstAt(version))).status, 404);

    const wrong = await api.call('POST', `/v3/${DST}${prefix}/${t.id}/accept`, { accept: { auth_key: 'x'.repeat(16) } }, dstAt(version));
    assert.deepEqual(wrong.body, fault(400, 'badRequest', `Invalid auth key: Attempt to transfer ${t.id} with invalid auth key.`));
    assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.status, 'awaiting-transfer', 'a wrong key changes nothing');

    const ok = await api.call('POST', `/v3/${DST}${prefix}/${t.id}/accept`, { accept: { auth_key: t.auth_key } }, dstAt(version));
    assert.equal(ok.status, 202, ok.text);
    assert.deepEqual(Object.keys(ok.body.transfer).sort(), ['id', 'links', 'name', 'volume_id']);
    const moved = await api.call('GET', `/v3/${DST}/volumes/${vol}`, undefined, dst);
    assert.equal(moved.body.volume.status, 'available');
    assert.equal(moved.body.volume.user_id, 'bob');
    assert.equal((await api.call('GET', `/volumes/${vol}`, undefined, { 'x-roles': 'member' })).status, 404, 'gone from the source project');

    const srcAfter = await usageOf(SRC);
    const dstAfter = await usageOf(DST);
    assert.equal(srcAfter.volumes.in_use, srcBefore.volumes.in_use - 1);
    assert.equal(srcAfter.gigabytes.in_use, srcBefore.gigabytes.in_use - 2);
    assert.equal(dstAfter.volumes.in_use, dstBefore.volumes.in_use + 1);
    assert.equal(dstAfter.gigabytes.in_use, dstBefore.gigabytes.in_use + 2);
    await assertNoDrift();

    // Accepted once: a second accept finds nothing.
    const again = await api.call('POST', `/v3/${DST}${prefix}/${t.id}/accept`, { accept: { auth_key: t.auth_key } }, dstAt(version));
    assert.equal(again.status, 404);
    assert.equal((await api.call('DELETE', `/v3/${DST}/volumes/${vol}`, undefined, dst)).status, 202);
    await api.env.workflow.drain();
    await assertNoDrift();
  });
}

test('delete withdraws the offer and the volume is available again', async () => {
  const vol = await api.create();
  const t = (await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } })).body.transfer;
  assert.equal(t.name, null);
  assert.equal((await api.call('DELETE', `/os-volume-transfer/${t.id}`)).status, 202);
  assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.status, 'available');
  assert.equal((await api.call('GET', `/os-volume-transfer/${t.id}`)).status, 404);
  assert.equal((await api.call('DELETE', `/os-volume-transfer/${t.id}`)).status, 404);
  const acc = await api.call('POST', `/v3/${DST}/os-volume-transfer/${t.id}/accept`, { accept: { auth_key: t.auth_key } }, dst);
  assert.deepEqual(acc.body, fault(404, 'itemNotFound', `Transfer ${t.id} could not be found.`));
});

test('attached, busy or already offered volumes cannot be transferred', async () => {
  const vol = await api.create();
  assert.equal((await api.action(vol, 'os-reserve')).status, 202);
  const r = await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } });
  assert.deepEqual(r.body, fault(400, 'badRequest', 'Invalid volume: status must be available'));
  assert.equal((await api.action(vol, 'os-unreserve')).status, 202);
  assert.equal((await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } })).status, 202);
  const twice = await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } });
  assert.equal(twice.status, 400, 'already awaiting a transfer');
  assert.equal((await api.call('DELETE', `/volumes/${vol}`)).status, 400, 'a volume awaiting transfer cannot be deleted');
  assert.equal((await api.action(vol, 'os-reserve')).status, 400, 'nor attached');
});

test('client mistakes: bad bodies, unknown volume, no_snapshots below 3.55', async () => {
  assert.equal((await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: 'nope' } })).status, 400);
  assert.equal((await api.call('POST', '/os-volume-transfer', { transfer: {} })).status, 400);
  const named = async (name: string) => (await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: randomUUID(), name } })).body;
  assert.deepEqual(await named('   '), fault(400, 'badRequest', "An invalid 'name' value was provided. The 'name' can not be empty."));
  assert.deepEqual(await named(''), fault(400, 'badRequest', "An invalid 'name' value was provided. The 'name' can not be None."));
  assert.deepEqual(await named('n'.repeat(256)), fault(400, 'badRequest', "An invalid 'name' value was provided. The 'name' can not be greater than 255 characters."));
  assert.equal((await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: randomUUID() } })).status, 404);
  const vol = await api.create();
  const old = await api.call('POST', '/volume-transfers', { transfer: { volume_id: vol, no_snapshots: true } }, at('3.54'));
  assert.equal(old.status, 400);
  const r = await api.call('POST', '/volume-transfers', { transfer: { volume_id: vol, no_snapshots: 'yes' } }, at('3.55'));
  assert.equal(r.status, 202);
  assert.equal(r.body.transfer.no_snapshots, true);
  assert.equal((await api.call('POST', `/os-volume-transfer/${r.body.transfer.id}/accept`, { accept: {} })).status, 400);
  assert.equal((await api.call('POST', `/os-volume-transfer/${r.body.transfer.id}/accept`, { accept: { auth_key: 12345 } })).status, 400);
  assert.equal((await api.call('POST', `/os-volume-transfer/${randomUUID()}/accept`, { accept: { auth_key: 'k' } })).status, 404);
});

test('accepting over the destination quota is 413 and moves nothing', async () => {
  const vol = await api.create({ size: 3 });
  const t = (await api.call('POST', '/os-volume-transfer', { transfer: { volume_id: vol } })).body.transfer;
  assert.equal((await api.call('PUT', `/os-quota-sets/${DST}`, { quota_set: { gigabytes: 2 } })).status, 200);
  const r = await api.call('POST', `/v3/${DST}/os-volume-transfer/${t.id}/accept`, { accept: { auth_key: t.auth_key } }, dst);
  assert.deepEqual(r.body, quotaFault('VolumeSizeExceedsAvailableQuota', 'Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, quota is 2G and 0G has been consumed.'));
  assert.equal((await api.call('GET', `/volumes/${vol}`)).body.volume.status, 'awaiting-transfer');
  assert.equal((await api.call('GET', `/os-volume-transfer/${t.id}`)).status, 200, 'the offer still stands');
  await assertNoDrift();
  await api.call('DELETE', `/os-quota-sets/${DST}`);
});

test('from 3.59 the list pages with limit, marker and sort; below it the order is oldest first', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const vol = await api.create();
    ids.push((await api.call('POST', '/volume-transfers', { transfer: { volume_id: vol, name: `page-${i}` } }, at('3.59'))).body.transfer.id);
  }
  // Page through everything two at a time, newest first, following the next links.
  const seen: string[] = [];
  let url = '/volume-transfers?limit=2&sort=created_at:desc';
  for (let pages = 0; pages < 20; pages++) {
    const r = await api.call('GET', url, undefined, at('3.59'));
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.transfers.length <= 2);
    seen.push(...r.body.transfers.map((t: any) => t.id));
    if (!r.body.transfers_links) break;
    assert.equal(r.body.transfers_links[0].rel, 'next');
    url = `/volume-transfers?limit=2&sort=created_at:desc&marker=${new URL(r.body.transfers_links[0].href).searchParams.get('marker')}`;
  }
  assert.equal(new Set(seen).size, seen.length, 'no transfer on two pages');
  assert.deepEqual(seen.filter((id) => ids.includes(id)), [...ids].reverse());
  const pageNames = (r: { body: any }) => r.body.transfers.map((t: any) => t.name).filter((n: string | null) => n?.startsWith('page-'));
  const desc = await api.call('GET', '/volume-transfers/detail?sort=name:desc', undefined, at('3.59'));
  assert.deepEqual(pageNames(desc), ['page-2', 'page-1', 'page-0']);
  const old = await api.call('GET', '/os-volume-transfer', undefined, at('3.0'));
  const oldIds = old.body.transfers.map((t: any) => t.id).filter((id: string) => ids.includes(id));
  assert.deepEqual(oldIds, ids, 'below 3.59: created_at, id ascending');
  assert.equal((await api.call('GET', '/volume-transfers?sort=color:asc', undefined, at('3.59'))).status, 400);
  assert.deepEqual((await api.call('GET', `/volume-transfers?marker=${randomUUID()}`, undefined, at('3.59'))).status, 404);
  for (const id of ids) assert.equal((await api.call('DELETE', `/volume-transfers/${id}`, undefined, at('3.59'))).status, 202);
});

test('the logger censors auth keys wherever they sit in a logged object', async () => {
  const cap = capturingLogger('debug');
  cap.logger.info({ auth_key: 'SECRETKEY0000001', transfer: { auth_key: 'SECRETKEY0000002', authKey: 'SECRETKEY0000003' }, accept: { auth_key: 'SECRETKEY0000004' } }, 'x');
  const text = cap.text();
  assert.ok(text.includes('"msg":"x"'));
  assert.ok(!/SECRETKEY/.test(text), text);
});

test('no auth key ever reaches the log', async () => {
  const text = logText();
  assert.ok(text.includes('"url"'), 'the capture saw the requests');
  assert.ok(handedOut.length >= 5, 'keys were handed out');
  for (const k of handedOut) assert.ok(!text.includes(k), 'auth key found in the log');
});

