// Quota usage cannot drift, under concurrency and SIGKILL. Clients of three projects, whose quotas are set close
// to what they will use, run random batches of creates, extends, deletes and transfers (to another project)
// concurrently against `embervol serve`; fast-check picks the batches and whether, and when, the service is
// killed with SIGKILL during a batch (it is then restarted on the same data dir). After every batch and restart,
// read straight from the database: each project's stored usage equals a recount from its rows, and no project
// holds more than its limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { startServiceProcess, type ServiceProcess } from '../interop/service-process.js';
import { CinderApi } from '../interop/api-client.js';
import { findFreePort } from '../../src/util/ports.js';
import { openSqlite } from '../../src/store/dialects/sqlite.js';
import { recountUsage, storedUsage, TOTAL, usageFingerprint } from '../../src/store/quotas.js';

const PROJECTS = ['quota-a', 'quota-b', 'quota-c'];
const LIMITS = { volumes: 3, gigabytes: 5, per_volume_gigabytes: 3 };
const RUNS = Number(process.env.EMBERVOL_QUOTA_FAULT_RUNS ?? 4);

type Op =
  | { kind: 'create'; project: number; size: number }
  | { kind: 'extend'; project: number; pick: number; grow: number }
  | { kind: 'delete'; project: number; pick: number }
  | { kind: 'transfer'; project: number; pick: number; to: number };

const project = fc.integer({ min: 0, max: PROJECTS.length - 1 });
const pick = fc.nat({ max: 9 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), project, size: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), project, pick, grow: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), project, pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transfer' as const), project, pick, to: project }) },
);
/** One batch: operations run concurrently; with killAfterMs the service is SIGKILLed that long into the batch. */
const batchArb = fc.record({
  ops: fc.array(opArb, { minLength: 2, maxLength: 8 }),
  killAfterMs: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 150 }) }),
});

test(`quota usage equals a recount and stays within limits under concurrent clients and SIGKILL (${RUNS} runs)`, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'embervol-quota-faults-'));
  const apiPort = await findFreePort();
  const iscsiPort = await findFreePort();
  const start = () =>
    startServiceProcess({
      target: 'builtin',
      dataDir,
      iscsiPort,
      env: { EMBERVOL_LEASE_TASK_SECONDS: '1', EMBERVOL_RECONCILE_INTERVAL_SECONDS: '0.5' },
      extraArgs: ['--listen', `127.0.0.1:${apiPort}`],
    });
  let svc: ServiceProcess = await start();
  const stats = { batches: 0, kills: 0, ok: 0, overQuota: 0, refused: 0, interrupted: 0, creates: 0, extends: 0, deletes: 0, transfers: 0 };
  const admin = () => new CinderApi(svc.url, PROJECTS[0], 'admin', '3.0');
  const member = (p: number) => ({ api: new CinderApi(svc.url, PROJECTS[p], `user-${p}`, '3.57'), headers: { 'X-Roles': 'member,reader' } });

  async function call(p: number, method: string, path: string, body?: unknown) {
    const m = member(p);
    const r = await m.api.call(method, path, body, m.headers);
    assert.ok(r.status < 500, `${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    if (r.status === 413) stats.overQuota++;
    else if (r.status >= 400) stats.refused++;
    else stats.ok++;
    return r;
  }

  async function volumesOf(p: number): Promise<{ id: string; status: string; size: number }[]> {
    return (await call(p, 'GET', '/volumes/detail')).body.volumes;
  }

  async function run(op: Op): Promise<void> {
    if (op.kind === 'create') {
      if ((await call(op.project, 'POST', '/volumes', { volume: { size: op.size } })).status === 202) stats.creates++;
      return;
    }
    // Aim at volumes that can take the step (available); a busy one only when there is no other.
    const all = await volumesOf(op.project);
    const ready = all.filter((x) => x.status === 'available');
    const vols = ready.length > 0 ? ready : all;
    if (vols.length === 0) return;
    const v = vols[op.pick % vols.length];
    if (op.kind === 'extend') {
      if ((await call(op.project, 'POST', `/volumes/${v.id}/action`, { 'os-extend': { new_size: v.size + op.grow } })).status === 202) stats.extends++;
    } else if (op.kind === 'delete') {
      if ((await call(op.project, 'DELETE', `/volumes/${v.id}`)).status === 202) stats.deletes++;
    }
    else {
      const created = await call(op.project, 'POST', '/volume-transfers', { transfer: { volume_id: v.id } });
      if (created.status !== 202) return;
      const tr = created.body.transfer;
      const accepted = await call(op.to, 'POST', `/volume-transfers/${tr.id}/accept`, { accept: { auth_key: tr.auth_key } });
      if (accepted.status === 202) stats.transfers++;
      // An accept refused (over the destination's quota) withdraws the offer, so the volume keeps moving.
      else await call(op.project, 'DELETE', `/volume-transfers/${tr.id}`);
    }
  }

  async function checkInvariants(when: string): Promise<void> {
    const { db } = openSqlite(join(dataDir, 'embervol.sqlite'));
    try {
      const stored = usageFingerprint(await storedUsage(db));
      const recount = await recountUsage(db);
      assert.deepEqual(stored, usageFingerprint(recount), `${when}: stored usage equals a recount of the rows`);
      for (const [p, rows] of recount) {
        const total = (r: string) => rows.find((u) => u.resource === r && u.typeId === TOTAL)?.inUse ?? 0;
        assert.ok(total('volumes') <= LIMITS.volumes, `${when}: ${p} holds ${total('volumes')} volumes, limit ${LIMITS.volumes}`);
        assert.ok(total('gigabytes') <= LIMITS.gigabytes, `${when}: ${p} holds ${total('gigabytes')} GB, limit ${LIMITS.gigabytes}`);
      }
    } finally {
      await db.destroy();
    }
  }

  try {
    for (const p of PROJECTS) {
      const r = await admin().call('PUT', `/os-quota-sets/${p}`, { quota_set: LIMITS });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await fc.assert(
      fc.asyncProperty(fc.array(batchArb, { minLength: 3, maxLength: 6 }), async (batches) => {
        for (const batch of batches) {
          stats.batches++;
          let killed = false;
          const killer =
            batch.killAfterMs === null
              ? Promise.resolve()
              : sleep(batch.killAfterMs).then(async () => {
                  killed = true;
                  stats.kills++;
                  await svc.kill9();
                });
          await Promise.all(
            batch.ops.map((op) =>
              run(op).catch((e: unknown) => {
                // A request the kill cut off has no answer; anything else is a real failure.
                if (!killed || e instanceof assert.AssertionError) throw e;
                stats.interrupted++;
              }),
            ),
          );
          await killer;
          if (killed) {
            await checkInvariants('after SIGKILL, before restart');
            svc = await start();
          }
          await checkInvariants(killed ? 'after restart' : 'after a batch');
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    // Let every task a kill cut off finish (the reconciler does it), then check once more.
    await sleep(2500);
    await checkInvariants('at the end');
  } finally {
    t.diagnostic(JSON.stringify(stats));
    await svc.stop({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.ok(stats.overQuota > 0, `the run reached the limits: ${JSON.stringify(stats)}`);
  // Creates and deletes are what a drift would show up in (extends and transfers are counted in the diagnostic).
  assert.ok(stats.creates > 0 && stats.deletes > 0, `the run created and deleted volumes: ${JSON.stringify(stats)}`);
});
