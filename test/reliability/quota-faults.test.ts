// Quota usage cannot drift, under concurrency and SIGKILL. Clients of three projects, whose quotas are set close
// to what they will use (totals and per volume type), run random batches of creates (of two types, and clones
// from a snapshot), extends, deletes (with cascade), snapshot creates and deletes, retypes between the two types
// and transfers (to another project, snapshots included) concurrently against `embervol serve`; fast-check picks
// the batches and whether, and when, the service is killed with SIGKILL during a batch (it is then restarted on
// the same data dir). After every batch, kill and restart, read straight from the database: each project's
// stored usage equals a recount from its rows, no project holds more than any of its limits (totals and
// volumes_<type>, gigabytes_<type>, snapshots_<type>), and every snapshot is charged to its volume's type.
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
import { dbBool } from '../../src/store/schema.js';

const PROJECTS = ['quota-a', 'quota-b', 'quota-c'];
const TYPES = ['qa', 'qb'];
const LIMITS = {
  volumes: 3, gigabytes: 8, snapshots: 3, per_volume_gigabytes: 3,
  volumes_qa: 2, gigabytes_qa: 5, snapshots_qa: 2,
  volumes_qb: 2, gigabytes_qb: 4, snapshots_qb: 1,
};
const RUNS = Number(process.env.EMBERVOL_QUOTA_FAULT_RUNS ?? 4);

type Op =
  | { kind: 'create'; project: number; size: number; type: number }
  | { kind: 'extend'; project: number; pick: number; grow: number }
  | { kind: 'delete'; project: number; pick: number; cascade: boolean }
  | { kind: 'transfer'; project: number; pick: number; to: number }
  | { kind: 'snapshot'; project: number; pick: number }
  | { kind: 'snapshot-delete'; project: number; pick: number }
  | { kind: 'clone'; project: number; pick: number }
  | { kind: 'retype'; project: number; pick: number };

const project = fc.integer({ min: 0, max: PROJECTS.length - 1 });
const pick = fc.nat({ max: 9 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), project, size: fc.integer({ min: 1, max: 4 }), type: fc.nat({ max: TYPES.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), project, pick, grow: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), project, pick, cascade: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transfer' as const), project, pick, to: project }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), project, pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('snapshot-delete' as const), project, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clone' as const), project, pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retype' as const), project, pick }) },
);
/** One batch: operations run concurrently; with killAfterMs the service is SIGKILLed that long into the batch. */
const batchArb = fc.record({
  ops: fc.array(opArb, { minLength: 2, maxLength: 8 }),
  killAfterMs: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 150 }) }),
});

/** Creates in both types (one over per_volume_gigabytes), then a snapshot, a retype, a cascade delete and a snapshot delete of what they made. */
const FIRST_RUN: { ops: Op[]; killAfterMs: number | null }[] = [
  { ops: [{ kind: 'create', project: 0, size: 1, type: 0 }, { kind: 'create', project: 0, size: 1, type: 1 }, { kind: 'create', project: 1, size: 2, type: 0 }, { kind: 'create', project: 1, size: 4, type: 1 }], killAfterMs: null },
  { ops: [{ kind: 'snapshot', project: 0, pick: 0 }, { kind: 'retype', project: 1, pick: 0 }], killAfterMs: null },
  { ops: [{ kind: 'snapshot', project: 0, pick: 1 }, { kind: 'delete', project: 1, pick: 0, cascade: true }], killAfterMs: null },
  { ops: [{ kind: 'snapshot-delete', project: 0, pick: 0 }, { kind: 'delete', project: 0, pick: 0, cascade: true }], killAfterMs: null },
];

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
  const stats = {
    batches: 0, kills: 0, ok: 0, overQuota: 0, refused: 0, interrupted: 0,
    creates: 0, extends: 0, deletes: 0, transfers: 0, snapshots: 0, snapshotDeletes: 0, clones: 0, retypes: 0,
  };
  /** Volume type name by id (filled once the types exist). */
  const typeNames = new Map<string, string>();
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

  async function volumesOf(p: number): Promise<{ id: string; status: string; size: number; volume_type: string }[]> {
    return (await call(p, 'GET', '/volumes/detail')).body.volumes;
  }

  async function snapshotsOf(p: number): Promise<{ id: string; status: string; volume_id: string }[]> {
    return (await call(p, 'GET', '/snapshots/detail')).body.snapshots;
  }

  async function run(op: Op): Promise<void> {
    if (op.kind === 'create') {
      const r = await call(op.project, 'POST', '/volumes', { volume: { size: op.size, volume_type: TYPES[op.type] } });
      if (r.status === 202) stats.creates++;
      return;
    }
    if (op.kind === 'snapshot-delete' || op.kind === 'clone') {
      const all = await snapshotsOf(op.project);
      const ready = all.filter((x) => x.status === 'available');
      const snaps = ready.length > 0 ? ready : all;
      if (snaps.length === 0) return;
      const snap = snaps[op.pick % snaps.length];
      if (op.kind === 'snapshot-delete') {
        if ((await call(op.project, 'DELETE', `/snapshots/${snap.id}`)).status === 202) stats.snapshotDeletes++;
      } else if ((await call(op.project, 'POST', '/volumes', { volume: { snapshot_id: snap.id } })).status === 202) stats.clones++;
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
      if ((await call(op.project, 'DELETE', `/volumes/${v.id}${op.cascade ? '?cascade=true' : ''}`)).status === 202) stats.deletes++;
    } else if (op.kind === 'snapshot') {
      if ((await call(op.project, 'POST', '/snapshots', { snapshot: { volume_id: v.id } })).status === 202) stats.snapshots++;
    } else if (op.kind === 'retype') {
      const to = TYPES.find((t) => t !== v.volume_type) ?? TYPES[0];
      if ((await call(op.project, 'POST', `/volumes/${v.id}/action`, { 'os-retype': { new_type: to } })).status === 202) stats.retypes++;
    } else {
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
      // Every read in one transaction: a background task (a delete's host half, the reconciler) that commits
      // between two reads would otherwise show a drift that no single state of the database has.
      const seen = await db.transaction().execute(async (trx) => ({
        stored: usageFingerprint(await storedUsage(trx)),
        recount: await recountUsage(trx),
        live: await trx.selectFrom('volumes').select(['id', 'size', 'volume_type_id']).where('deleted', '=', dbBool(false)).execute(),
        snaps: await trx.selectFrom('snapshots').select(['id', 'volume_id', 'volume_type_id']).where('deleted', '=', dbBool(false)).execute(),
      }));
      assert.deepEqual(seen.stored, usageFingerprint(seen.recount), `${when}: stored usage equals a recount of the rows`);
      for (const [p, rows] of seen.recount) {
        const used = (r: string, typeId: string) => rows.find((u) => u.resource === r && u.typeId === typeId)?.inUse ?? 0;
        for (const [key, limit] of Object.entries(LIMITS)) {
          if (key === 'per_volume_gigabytes') continue;
          const [resource, typeName] = key.split('_') as [string, string | undefined];
          const typeId = typeName ? [...typeNames].find(([, n]) => n === typeName)![0] : TOTAL;
          assert.ok(used(resource, typeId) <= limit, `${when}: ${p} holds ${used(resource, typeId)} ${key}, limit ${limit}`);
        }
      }
      for (const v of seen.live) assert.ok(v.size <= LIMITS.per_volume_gigabytes, `${when}: volume ${v.id} has ${v.size} GB, per_volume_gigabytes ${LIMITS.per_volume_gigabytes}`);
      const typeOf = new Map(seen.live.map((v) => [v.id, v.volume_type_id]));
      for (const sn of seen.snaps) {
        assert.ok(typeOf.has(sn.volume_id), `${when}: snapshot ${sn.id} outlived its volume ${sn.volume_id}`);
        assert.equal(sn.volume_type_id, typeOf.get(sn.volume_id), `${when}: snapshot ${sn.id} is charged to its volume's type`);
      }
    } finally {
      await db.destroy();
    }
  }

  try {
    for (const name of TYPES) {
      const r = await admin().call('POST', '/types', { volume_type: { name } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      typeNames.set(r.body.volume_type.id, name);
    }
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
      // The first run is this one, so that every run of the test takes snapshots, retypes and deletes whatever the
      // random runs after it draw (four random runs on a loaded machine once created only volumes that were busy).
      { numRuns: RUNS, endOnFailure: true, examples: [[FIRST_RUN]] },
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
  // Creates, deletes, snapshots and retypes are what a drift would show up in (the rest are counted in the diagnostic).
  assert.ok(stats.creates > 0 && stats.deletes > 0, `the run created and deleted volumes: ${JSON.stringify(stats)}`);
  assert.ok(stats.snapshots > 0 && stats.retypes > 0, `the run took snapshots and retyped volumes: ${JSON.stringify(stats)}`);
});
