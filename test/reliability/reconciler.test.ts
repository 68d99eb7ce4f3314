// Leases, the event history and the reconciler against the real store, file backend and builtin target.
// Leases are short here (a few hundred ms); the reconciler runs when the test calls it, as the service's timer would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { adminCtx, memberCtx, connector, INITIATOR_A } from '../workflow/fixture.js';
import { iscsiInq, iscsiUrl, lunUrl, splitPortal, type FlatConnectionInfo } from '../support/libiscsi.js';
import * as events from '../../src/store/events.js';
import { nowTimestamp } from '../../src/store/schema.js';
import { GiB } from '../../src/host/local-host.js';

const LEASES = { attachingMs: 300, reservedMs: 300, detachingMs: 300, taskMs: 300 };
const envs: ReliabilityEnv[] = [];
after(async () => {
  for (const e of envs) await e.close();
});

async function env(opts: Parameters<typeof makeReliabilityEnv>[0] = {}): Promise<ReliabilityEnv> {
  const e = await makeReliabilityEnv({ leases: LEASES, ...opts });
  envs.push(e);
  return e;
}

async function volume(e: ReliabilityEnv, ctx = adminCtx()): Promise<string> {
  const v = await e.workflow.createVolume(ctx, { size: 1 });
  await e.workflow.drain();
  return v.id;
}

async function statusOf(e: ReliabilityEnv, id: string): Promise<string> {
  return (await e.workflow.getVolume(adminCtx(), id)).status;
}

test('an abandoned os-reserve + initialize_connection is rolled back when its lease expires: no export, no pending row', async () => {
  const e = await env();
  const ctx = adminCtx();
  const id = await volume(e, ctx);
  await e.workflow.reserve(ctx, id);
  await e.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  assert.deepEqual(await e.host.listExports!(), [id]);
  // Inside the lease nothing happens.
  const early = await e.workflow.reconcile();
  assert.equal(early.leasesExpired, 0);
  assert.equal(await statusOf(e, id), 'attaching');
  await sleep(LEASES.attachingMs + 50);
  const r = await e.workflow.reconcile();
  assert.equal(r.leasesExpired, 1);
  assert.equal(r.pendingDropped, 1);
  assert.equal(await statusOf(e, id), 'available');
  assert.deepEqual(await e.host.listExports!(), []);
  assert.equal((await e.store.db.selectFrom('volume_connections').selectAll().execute()).length, 0);
  const hist = await e.workflow.listVolumeEvents(ctx, id);
  const last = hist[hist.length - 1];
  assert.equal(last.action, 'connection_expired');
  assert.equal(last.from, 'attaching');
  assert.equal(last.to, 'available');
  assert.equal(last.requestId, 'embervol-reconciler');
  assert.match(last.reason ?? '', /lease of attaching expired/);
});

test('an abandoned os-begin_detaching rolls back to in-use and keeps the export the attachment uses', async () => {
  const e = await env();
  const ctx = adminCtx();
  const id = await volume(e, ctx);
  await e.workflow.reserve(ctx, id);
  const ci = await e.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  await e.workflow.attach(ctx, id, { instanceUuid: randomUUID(), mountpoint: '/dev/vdb' });
  await e.workflow.beginDetaching(ctx, id);
  await sleep(LEASES.detachingMs + 50);
  const r = await e.workflow.reconcile();
  assert.equal(r.leasesExpired, 1);
  assert.equal(await statusOf(e, id), 'in-use');
  assert.deepEqual(await e.host.listExports!(), [id]);
  const inq = await iscsiInq(lunUrl(ci.data as FlatConnectionInfo), INITIATOR_A);
  assert.equal(inq.code, 0, inq.stderr);
});

// Found by the multi-process fault harness (docs/reliability.md): the client's os-terminate_connection came, its
// os-detach never did. The attachment is live again after the rollback, so its initiator must be allowed again.
for (const how of ['lease', 'os-roll_detaching'] as const) {
  test(`a detach abandoned after os-terminate_connection, rolled back by ${how}: the initiator logs in again`, async () => {
    const e = await env();
    const ctx = adminCtx();
    const id = await volume(e, ctx);
    await e.workflow.reserve(ctx, id);
    const ci = await e.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
    await e.workflow.attach(ctx, id, { instanceUuid: randomUUID(), mountpoint: '/dev/vdb' });
    const url = lunUrl(ci.data as FlatConnectionInfo);
    await e.workflow.beginDetaching(ctx, id);
    await e.workflow.terminateConnection(ctx, id, connector(INITIATOR_A));
    // What terminate_connection is for: the leaving initiator is shut out while the detach goes on.
    assert.notEqual((await iscsiInq(url, INITIATOR_A)).code, 0);
    if (how === 'lease') {
      await sleep(LEASES.detachingMs + 50);
      const r = await e.workflow.reconcile();
      assert.equal(r.leasesExpired, 1);
    } else {
      await e.workflow.rollDetaching(ctx, id);
    }
    const v = await e.workflow.getVolume(adminCtx(), id);
    assert.equal(v.status, 'in-use');
    assert.equal(v.attachments.length, 1);
    assert.deepEqual(await e.host.listExports!(), [id]);
    const inq = await iscsiInq(url, INITIATOR_A);
    assert.equal(inq.code, 0, inq.stderr);
    // And the detach, tried again from the start, still ends with no target.
    await e.workflow.beginDetaching(ctx, id);
    await e.workflow.terminateConnection(ctx, id, connector(INITIATOR_A));
    await e.workflow.detach(ctx, id, v.attachments[0].id);
    assert.equal(await statusOf(e, id), 'available');
    assert.deepEqual(await e.host.listExports!(), []);
  });
}

test('every transition is recorded with who, what, from and to; a refused step records nothing', async () => {
  const e = await env({ http: true });
  const ctx = adminCtx('p-ev', { userId: 'alice' });
  const id = await volume(e, ctx);
  await e.workflow.reserve(ctx, id);
  await assert.rejects(e.workflow.reserve(ctx, id), /Invalid volume/);
  await e.workflow.unreserve(ctx, id);
  await e.workflow.extend(ctx, id, 2);
  await e.workflow.drain();
  await e.workflow.deleteVolume(ctx, id);
  await e.workflow.drain();
  const hist = await e.workflow.listVolumeEvents(ctx, id);
  assert.deepEqual(
    hist.map((h) => `${h.action}:${h.from}->${h.to}`),
    ['create:null->creating', 'create:creating->available', 'reserve:available->attaching', 'unreserve:attaching->available',
      'extend:available->extending', 'extend:extending->available', 'delete:available->deleting', 'delete:deleting->deleted'],
  );
  assert.ok(hist.every((h) => h.userId === 'alice' && h.projectId === 'p-ev' && h.requestId?.startsWith('req-')));
  // Through the API: admin only, deleted volumes included, 404 for unknown ones.
  const res = await e.app!.inject({ method: 'GET', url: `/v3/p-ev/volumes/${id}/events`, headers: { 'x-auth-token': 'alice:p-ev' } });
  assert.equal(res.statusCode, 200);
  const body = res.json() as { events: Record<string, unknown>[] };
  assert.equal(body.events.length, hist.length);
  assert.deepEqual(Object.keys(body.events[0]).sort(), ['action', 'created_at', 'from_status', 'id', 'project_id', 'reason', 'request_id', 'resource_id', 'resource_type', 'seq', 'to_status', 'user_id', 'volume_id']);
  const member = await e.app!.inject({ method: 'GET', url: `/v3/p-ev/volumes/${id}/events`, headers: { 'x-auth-token': 'bob:p-ev', 'x-roles': 'member' } });
  assert.equal(member.statusCode, 403);
  assert.ok('forbidden' in member.json());
  const missing = await e.app!.inject({ method: 'GET', url: `/v3/p-ev/volumes/${randomUUID()}/events`, headers: { 'x-auth-token': 'alice:p-ev' } });
  assert.equal(missing.statusCode, 404);
  const other = await e.app!.inject({ method: 'GET', url: `/v3/p-ev/volumes/${id}/events?limit=x`, headers: { 'x-auth-token': 'alice:p-ev' } });
  assert.equal(other.statusCode, 400);
  void memberCtx;
});

test('start-up recovery: creating finishes, deleting finishes, extending finishes at the accepted size, each with a reason', async () => {
  const first = await env();
  const ctx = adminCtx();
  const creating = await volume(first, ctx);
  const deleting = await volume(first, ctx);
  const extending = await volume(first, ctx);
  const dir = first.dir;
  await first.stop();
  // What a kill -9 leaves behind at each point: the row claimed the state, the host work did not happen (or half).
  const { openStore } = await import('../../src/store/index.js');
  const { join } = await import('node:path');
  const store = await openStore({ url: join(dir.path, 'embervol.sqlite') });
  // The create was cut off between opening the file and setting its length.
  const { truncate } = await import('node:fs/promises');
  await truncate(join(dir.path, 'volumes', `volume-${creating}`), 0);
  await store.db.updateTable('volumes').set({ status: 'creating', lease_expires_at: nowTimestamp(new Date(Date.now() + 3_600_000)) }).where('id', '=', creating).execute();
  await store.db.updateTable('volumes').set({ status: 'deleting' }).where('id', '=', deleting).execute();
  await store.db.updateTable('volumes').set({ status: 'extending', pending_size: 3 }).where('id', '=', extending).execute();
  await store.close();

  const second = await env({ dir });
  const r = await second.workflow.reconcile({ startup: true });
  assert.equal(r.tasksFinished, 3);
  assert.equal(await statusOf(second, creating), 'available');
  assert.equal((await stat(second.backend.devicePath(creating))).size, GiB);
  await assert.rejects(second.workflow.getVolume(ctx, deleting), /could not be found/);
  await assert.rejects(stat(second.backend.devicePath(deleting)), /ENOENT/);
  const ext = await second.workflow.getVolume(ctx, extending);
  assert.equal(ext.status, 'available');
  assert.equal(ext.size, 3);
  assert.equal((await stat(second.backend.devicePath(extending))).size, 3 * GiB);
  for (const id of [creating, deleting, extending]) {
    const last = (await events.eventsFor(second.store.db, id)).at(-1)!;
    assert.match(last.reason ?? '', /resumed at start-up/);
    assert.equal(last.request_id, 'embervol-reconciler');
  }
});

test('start-up: the export of an attaching volume (reserve + initialize, no attach yet) is restored; orphans are removed', async () => {
  const first = await env({ leases: { ...LEASES, attachingMs: 60_000 } });
  const ctx = adminCtx();
  const id = await volume(first, ctx);
  await first.workflow.reserve(ctx, id);
  const ci = await first.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  const dir = first.dir;
  await first.stop();
  const orphan = randomUUID();
  await writeFile(`${dir.path}/volumes/volume-${orphan}`, Buffer.alloc(4096));

  const second = await env({ dir, leases: { ...LEASES, attachingMs: 60_000 } });
  // A target for a volume no row knows (e.g. left in a shared tgtd): removed at start-up.
  await second.target.createExport(orphan, second.backend.devicePath(orphan), { username: 'u'.repeat(20), password: 'p'.repeat(16) });
  const r = await second.workflow.reconcile({ startup: true });
  assert.equal(r.filesRemoved, 1);
  assert.equal(r.exportsRemoved, 1);
  assert.deepEqual(await second.backend.list(), [id]);
  assert.deepEqual(await second.host.listExports!(), [id]);
  assert.equal(await statusOf(second, id), 'attaching');
  const d = ci.data as Record<string, any>;
  const inq = await iscsiInq(
    iscsiUrl({ host: '127.0.0.1', port: splitPortal(second.target.portal).port, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password }),
    INITIATOR_A,
  );
  assert.equal(inq.code, 0, inq.stderr);
  // The client finishes its attach across the restart.
  await second.workflow.attach(ctx, id, { instanceUuid: randomUUID(), mountpoint: '/dev/vdb' });
  assert.equal(await statusOf(second, id), 'in-use');
});

test('a target that vanished while the service ran (daemon restart) is recreated by the periodic pass', async () => {
  const e = await env({ leases: { ...LEASES, attachingMs: 60_000 } });
  const ctx = adminCtx();
  const id = await volume(e, ctx);
  await e.workflow.reserve(ctx, id);
  await e.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  await e.workflow.attach(ctx, id, { instanceUuid: randomUUID(), mountpoint: '/dev/vdb' });
  await e.target.removeExport(id);
  const r = await e.workflow.reconcile();
  assert.equal(r.exportsRestored, 1);
  assert.deepEqual(await e.host.listExports!(), [id]);
});
