// Several API processes on one PostgreSQL database, in one test process: four stores (four pools) and four
// workflows sharing one volume host. The workflow's races, run across them at once, come out as with one
// process: one winner of a reserve storm, no quota overrun, distinct event numbers, a history that agrees with the
// final state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CinderFault } from '../../src/errors.js';
import { openStore, type Store } from '../../src/store/index.js';
import { recountUsage, setLimit, storedUsage, TOTAL, usageFingerprint } from '../../src/store/quotas.js';
import * as volumes from '../../src/store/volumes.js';
import { createWorkflow } from '../../src/workflow/index.js';
import type { Workflow } from '../../src/workflow/model.js';
import { localHostDirectory } from '../../src/host/directory.js';
import { silentLogger } from '../../src/log.js';
import { adminCtx, memberCtx, RecordingHost } from './fixture.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';

let cluster: PostgresCluster;
let stores: Store[] = [];
let workflows: Workflow[] = [];

before(async () => {
  cluster = await startPostgres();
  const url = await cluster.createDatabase();
  stores = [await openStore({ url })];
  stores.push(...(await Promise.all([1, 2, 3].map(() => openStore({ url })))));
  const host = new RecordingHost();
  workflows = stores.map((store) => createWorkflow({ store, hosts: localHostDirectory(host), logger: silentLogger() }));
  for (const resource of ['volumes', 'gigabytes', 'snapshots']) await setLimit(stores[0]!.db, 'class', 'default', { resource, typeId: TOTAL }, -1);
});
after(async () => {
  for (const w of workflows) await w.drain();
  for (const s of stores) await s.close();
  await cluster?.stop();
});

const through = (i: number) => workflows[i % workflows.length]!;

test('40 os-reserve calls on one volume through 4 processes: exactly one wins, the rest are 400, one transition in the history', async () => {
  const ctx = adminCtx('storm');
  const v = await workflows[0]!.createVolume(ctx, { size: 1 });
  await workflows[0]!.drain();
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => through(i).reserve(ctx, v.id)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof CinderFault && r.reason.status === 400, String(r.reason));
  }
  assert.equal((await volumes.findVolume(stores[1]!.db, v.id))!.status, 'attaching', "Cinder's os-reserve leaves the volume attaching");
  const events = await workflows[2]!.listVolumeEvents(ctx, v.id);
  assert.deepEqual(events.filter((e) => e.resourceType === 'volume').map((e) => `${e.from}->${e.to}`), ['null->creating', 'creating->available', 'available->attaching']);
});

test('30 creates through 4 processes against a limit of 5 volumes: exactly 5 succeed, the rest are 413, usage equals the recount', async () => {
  const admin = adminCtx('quota');
  await workflows[0]!.updateQuotaSet(admin, 'quota', { volumes: 5 });
  const ctx = memberCtx('quota');
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => through(i).createVolume(ctx, { size: 1 })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof CinderFault && r.reason.status === 413, String(r.reason));
  }
  for (const w of workflows) await w.drain();
  assert.equal((await workflows[3]!.listVolumes(ctx, {})).volumes.length, 5);
  const db = stores[0]!.db;
  assert.deepEqual(usageFingerprint(await storedUsage(db)), usageFingerprint(await recountUsage(db)));
});

test('every volume history of the runs above is numbered 1, 2, 3... without a gap or a repeat', async () => {
  const rows = await stores[0]!.db.selectFrom('volume_events').select(['volume_id', 'seq']).orderBy('volume_id').orderBy('seq').execute();
  assert.ok(rows.length > 0);
  const byVolume = new Map<string, number[]>();
  for (const r of rows) byVolume.set(r.volume_id, [...(byVolume.get(r.volume_id) ?? []), r.seq]);
  for (const [id, seqs] of byVolume) assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `volume ${id}`);
});
