// The legacy attach (os-reserve -> os-initialize_connection -> os-attach) against the reconciler's leases, as the
// fault harness found it: a client slower than the `attaching` lease had its reservation and export rolled back,
// and its os-attach still made the volume in-use with nothing its initiator could log in to. Now each step renews
// the lease, and an os-attach that follows such a rollback is refused (docs/cinder-compatibility.md#attach).
// The reconciler runs when the test calls it; a lease "runs out" by sleeping past it or by moving its deadline back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { adminCtx, connector, INITIATOR_A } from '../workflow/fixture.js';
import { iscsiInq, lunUrl, type FlatConnectionInfo } from '../support/libiscsi.js';
import type { ConnectionInfo } from '../../src/workflow/model.js';
import { nowTimestamp } from '../../src/store/schema.js';

const SHORT = { attachingMs: 300, reservedMs: 300, detachingMs: 300, taskMs: 300 };
const LONG = { attachingMs: 60_000, reservedMs: 60_000, detachingMs: 60_000, taskMs: 60_000 };
const envs: ReliabilityEnv[] = [];
after(async () => {
  for (const e of envs) await e.close();
});

async function env(leases: typeof SHORT): Promise<ReliabilityEnv> {
  const e = await makeReliabilityEnv({ leases, http: true });
  envs.push(e);
  return e;
}

async function volume(e: ReliabilityEnv): Promise<string> {
  const v = await e.workflow.createVolume(adminCtx(), { size: 1 });
  await e.workflow.drain();
  return v.id;
}

async function show(e: ReliabilityEnv, id: string) {
  return e.workflow.getVolume(adminCtx(), id);
}

/** Logs INITIATOR_A in with the connection data initialize_connection gave and runs INQUIRY: it must work. */
async function assertLogsIn(ci: ConnectionInfo): Promise<void> {
  const url = lunUrl(ci.data as FlatConnectionInfo);
  const inq = await iscsiInq(url, INITIATOR_A);
  assert.equal(inq.code, 0, inq.stderr);
}

async function osAttach(e: ReliabilityEnv, id: string) {
  const res = await e.app!.inject({
    method: 'POST',
    url: `/v3/p-admin/volumes/${id}/action`,
    headers: { 'x-auth-token': 'admin-user:p-admin', 'content-type': 'application/json' },
    payload: { 'os-attach': { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' } },
  });
  return { status: res.statusCode, body: (res.body ? res.json() : {}) as Record<string, any> };
}

async function lastEvent(e: ReliabilityEnv, id: string) {
  const hist = await e.workflow.listVolumeEvents(adminCtx(), id);
  return hist[hist.length - 1];
}

test('an os-attach after the reconciler rolled back a reservation and its export is refused with 400; reserving again attaches', async () => {
  const e = await env(SHORT);
  const id = await volume(e);
  await e.workflow.reserve(adminCtx(), id);
  await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  await sleep(SHORT.attachingMs + 50);
  const r = await e.workflow.reconcile();
  assert.equal(r.leasesExpired, 1);
  assert.equal(r.pendingDropped, 1);
  assert.equal((await show(e, id)).status, 'available');
  assert.deepEqual(await e.host.listExports!(), []);

  // The slow client's os-attach: Cinder would answer 202 and make the volume in-use with no export behind it.
  const late = await osAttach(e, id);
  assert.equal(late.status, 400);
  assert.match(late.body.badRequest.message, /^Invalid volume: The reservation of the volume expired .*reserve it and initialize the connection again/);
  const still = await show(e, id);
  assert.equal(still.status, 'available');
  assert.deepEqual(still.attachments, []);
  const rolledBack = await lastEvent(e, id);
  assert.deepEqual([rolledBack.action, rolledBack.from, rolledBack.to, rolledBack.requestId], ['connection_expired', 'attaching', 'available', 'embervol-reconciler']);
  assert.match(rolledBack.reason ?? '', /lease of attaching expired .*connection .* was closed/);

  // Starting over works, and what the volume says agrees with the target.
  await e.workflow.reserve(adminCtx(), id);
  const ci = await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  assert.equal((await osAttach(e, id)).status, 202);
  assert.equal((await show(e, id)).status, 'in-use');
  await assertLogsIn(ci);
});

test("Cinder's os-attach without a connection keeps its 202: a volume never reserved, and one whose reservation expired before any connection", async () => {
  const e = await env(SHORT);
  const never = await volume(e);
  assert.equal((await osAttach(e, never)).status, 202);
  assert.equal((await show(e, never)).status, 'in-use');

  const id = await volume(e);
  await e.workflow.reserve(adminCtx(), id);
  await sleep(SHORT.attachingMs + 50);
  assert.equal((await e.workflow.reconcile()).leasesExpired, 1);
  const expired = await lastEvent(e, id);
  assert.deepEqual([expired.action, expired.from, expired.to], ['lease_expired', 'attaching', 'available']);
  assert.equal((await osAttach(e, id)).status, 202);
  assert.equal((await show(e, id)).status, 'in-use');
});

test('initialize_connection renews the reservation: a client slower than a lease overall, but not between two steps, keeps it', async () => {
  const e = await env(LONG);
  const id = await volume(e);
  await e.workflow.reserve(adminCtx(), id);
  // The client took the whole lease to get from os-reserve to here; the reconciler has not come by yet.
  await e.store.db.updateTable('volumes').set({ lease_expires_at: nowTimestamp(new Date(Date.now() - 1000)) }).where('id', '=', id).execute();
  const ci = await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  const r = await e.workflow.reconcile();
  assert.equal(r.leasesExpired, 0);
  assert.equal(r.pendingDropped, 0);
  assert.equal((await show(e, id)).status, 'attaching');
  assert.equal((await osAttach(e, id)).status, 202);
  const v = await show(e, id);
  assert.equal(v.status, 'in-use');
  assert.deepEqual(await e.host.listExports!(), [id]);
  await assertLogsIn(ci);
});

test('a pending connection older than a lease stays while the reservation it belongs to holds', async () => {
  const e = await env(LONG);
  const id = await volume(e);
  // initialize_connection before os-reserve; the connection then outlives its own lease while the reservation runs.
  const ci = await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  await e.workflow.reserve(adminCtx(), id);
  await e.store.db.updateTable('volume_connections').set({ created_at: nowTimestamp(new Date(Date.now() - 3_600_000)) }).where('volume_id', '=', id).execute();
  const r = await e.workflow.reconcile();
  assert.equal(r.pendingDropped, 0);
  assert.equal((await show(e, id)).status, 'attaching');
  assert.deepEqual(await e.host.listExports!(), [id]);
  assert.equal((await osAttach(e, id)).status, 202);
  assert.equal((await show(e, id)).status, 'in-use');
  await assertLogsIn(ci);
});

test('initialize_connection without os-reserve, then nothing for a lease: the connection closes, and a late os-attach is refused until a new connection', async () => {
  const e = await env(SHORT);
  const id = await volume(e);
  await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  assert.deepEqual(await e.host.listExports!(), [id]);
  await sleep(SHORT.attachingMs + 50);
  const r = await e.workflow.reconcile();
  assert.equal(r.pendingDropped, 1);
  assert.deepEqual(await e.host.listExports!(), []);
  const closed = await lastEvent(e, id);
  assert.deepEqual([closed.action, closed.from, closed.to, closed.requestId], ['connection_expired', 'available', 'available', 'embervol-reconciler']);
  assert.match(closed.reason ?? '', /initialize_connection opened for .* expired unused/);

  const late = await osAttach(e, id);
  assert.equal(late.status, 400);
  assert.match(late.body.badRequest.message, /^Invalid volume: The connection initialize_connection opened for the volume expired unused .*initialize the connection again/);
  assert.equal((await show(e, id)).status, 'available');

  // A new connection lifts it, and the initiator can log in to what the attach then says.
  const ci = await e.workflow.initializeConnection(adminCtx(), id, connector(INITIATOR_A));
  assert.equal((await osAttach(e, id)).status, 202);
  assert.equal((await show(e, id)).status, 'in-use');
  await assertLogsIn(ci);
});
