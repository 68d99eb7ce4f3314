// Control-plane speed (issue 15): the six-call legacy attach/detach cycle against a real `embervol serve`
// (sequential, then N clients on N volumes), and the same service over databases seeded with 1k .. 1M volumes.
// Prints median, p95 and p99 per call in ms and cycles per second.
//
// Usage: npm run bench -- control-plane [--part cycle|scale|all] [--cycles 100] [--clients 8,32]
//          [--scale 1k,100k] (1m is allowed; it seeds for about a minute and needs ~1 GB of disk)
//          [--target builtin|tgt] [--root DIR] (run the service from another checkout, e.g. a worktree of main)
//          [--cpu-prof DIR] (write a V8 CPU profile of the service to DIR: node --cpu-prof)
//          [--no-keepalive] (a new TCP connection for every request)
//
// The client keeps one HTTP/1.1 connection per simulated client (node:http keep-alive), noauth. The scale
// databases are written through the store's own schema (openStore runs the migrations) and then filled with
// one prepared INSERT per table in one transaction, not through HTTP: 10 projects, 10% of the volumes in-use
// with a live attachment (plus its attached_mode admin metadata), the rest available.
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../src/store/index.js';
import { startServiceProcess, type ServiceProcess } from '../test/interop/service-process.js';
import { CALLS, emptySamples, type Samples } from './http-cycle.js';
import { percentile, printTable } from './table.js';

const PROJECT = '0a1b2c3d4e5f';
const HOST_NAME = 'embervol';
const DEFAULT_TYPE_ID = '00000000-0000-4000-8000-000000000001';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/** A minimal keep-alive JSON client: one agent socket per concurrent caller, no per-request connection setup. */
export class Client {
  // --no-keepalive: one TCP connection per request, as bench_attach.py makes them (Cinder's uwsgi closes each).
  readonly agent = new http.Agent({ keepAlive: !process.argv.includes('--no-keepalive'), maxSockets: 256 });
  readonly host: string;
  readonly port: number;
  constructor(baseUrl: string) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
  }

  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path: `/v3/${PROJECT}${path}`,
          agent: this.agent,
          headers: {
            'X-Auth-Token': `bench:${PROJECT}`,
            'OpenStack-API-Version': 'volume 3.0',
            ...(data !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  async expect(status: number, method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.call(method, path, body);
    if (r.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async createVolume(): Promise<string> {
    const id = (await this.expect(202, 'POST', '/volumes', { volume: { size: 1 } })).volume.id as string;
    for (;;) {
      const v = (await this.expect(200, 'GET', `/volumes/${id}`)).volume;
      if (v.status === 'available') return id;
      if (v.status === 'error') throw new Error(`volume ${id} went to error`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close() {
    this.agent.destroy();
  }
}

async function timed(samples: number[], fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  samples.push(performance.now() - t0);
}

/** The six calls as bench_attach.py (cinder-reference) makes them: os-detach without an attachment id. */
export async function cycle(c: Client, volumeId: string, initiator: string, s: Samples): Promise<void> {
  const connector = { initiator, host: `bench-${initiator.slice(-4)}`, ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false };
  const path = `/volumes/${volumeId}/action`;
  const t0 = performance.now();
  await timed(s['os-reserve'], () => c.expect(202, 'POST', path, { 'os-reserve': null }));
  await timed(s['os-initialize_connection'], () => c.expect(200, 'POST', path, { 'os-initialize_connection': { connector } }));
  await timed(s['os-attach'], () => c.expect(202, 'POST', path, { 'os-attach': { instance_uuid: randomUUID(), mountpoint: '/dev/vdb', mode: 'rw' } }));
  await timed(s['os-begin_detaching'], () => c.expect(202, 'POST', path, { 'os-begin_detaching': null }));
  await timed(s['os-terminate_connection'], () => c.expect(202, 'POST', path, { 'os-terminate_connection': { connector } }));
  await timed(s['os-detach'], () => c.expect(202, 'POST', path, { 'os-detach': {} }));
  s.cycle.push(performance.now() - t0);
}

/** Lifts the bench project's volume quota (Cinder's default is 10) so 32 clients get 32 volumes. */
export async function unlimitedQuota(c: Client): Promise<void> {
  await c.expect(200, 'PUT', `/os-quota-sets/${PROJECT}`, { quota_set: { volumes: -1, gigabytes: -1 } });
}

export interface CycleRun {
  label: string;
  samples: Samples;
  rate: number;
  /** The service's CPU time (user + system, /proc/PID/stat) per cycle, in ms: steadier than latency on a shared machine. */
  cpuMs: number;
}

/** utime + stime of a process in ms. */
export function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * `clients` simulated clients, each on its own volume; client i talks to apis[i % apis.length] (round-robin over
 * the API processes of a scale-out deployment; one entry for a single process). The CPU column sums `pids`.
 */
export async function runCycles(apis: Client | Client[], clients: number, totalCycles: number, label: string, pids: number | number[]): Promise<CycleRun> {
  const via = (i: number) => (Array.isArray(apis) ? apis[i % apis.length] : apis);
  const cpu = () => [pids].flat().reduce((a, p) => a + cpuTimeMs(p), 0);
  const vols = [];
  for (let i = 0; i < clients; i++) vols.push(await via(i).createVolume());
  // One warm-up cycle per volume: the first export of a volume creates its target.
  await Promise.all(vols.map((v, i) => cycle(via(i), v, `iqn.2020-01.bench:warm${i}`, emptySamples())));
  const samples = emptySamples();
  const perClient = Math.max(1, Math.round(totalCycles / clients));
  const cpu0 = cpu();
  const t0 = performance.now();
  await Promise.all(
    vols.map(async (v, i) => {
      for (let k = 0; k < perClient; k++) await cycle(via(i), v, `iqn.2020-01.bench:c${i}`, samples);
    }),
  );
  const rate = (perClient * clients) / ((performance.now() - t0) / 1000);
  return { label, samples, rate, cpuMs: (cpu() - cpu0) / (perClient * clients) };
}

export const f2 = (v: number) => v.toFixed(2);

function printCycleRuns(runs: CycleRun[], title: string): void {
  console.log(`\n${title}`);
  const header = ['call', ...runs.flatMap((r) => [`${r.label} p50`, 'p95', 'p99'])];
  const rows = [...CALLS, 'cycle' as const].map((k) => [k, ...runs.flatMap((r) => [f2(percentile(r.samples[k], 50)), f2(percentile(r.samples[k], 95)), f2(percentile(r.samples[k], 99))])]);
  printTable(header, rows);
  printTable(['mode', 'cycles', 'cycles/s', 'service CPU ms/cycle'], runs.map((r) => [r.label, String(r.samples.cycle.length), r.rate.toFixed(1), r.cpuMs.toFixed(2)]));
}

function serviceOptions(extra: { dataDir?: string; extraArgs?: string[]; startTimeoutMs?: number } = {}) {
  const root = arg('root', '');
  const prof = arg('cpu-prof', '');
  return {
    target: arg('target', 'builtin') as 'builtin' | 'tgt',
    repoRoot: root || undefined,
    nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [],
    ...extra,
  };
}

async function cyclePart(): Promise<void> {
  const total = Number(arg('cycles', '100'));
  const clientCounts = arg('clients', '8,32').split(',').map(Number).filter((n) => n > 0);
  const svc = await startServiceProcess(serviceOptions());
  const c = new Client(svc.url);
  try {
    await unlimitedQuota(c);
    const pid = svc.child.pid!;
    const runs = [await runCycles(c, 1, total, 'sequential', pid)];
    for (const n of clientCounts) runs.push(await runCycles(c, n, Math.max(total, n * 4), `${n} clients`, pid));
    printCycleRuns(runs, `Six-call cycle over HTTP, --target ${arg('target', 'builtin')}, ms (keep-alive client, noauth)`);
  } finally {
    c.close();
    await svc.stop();
  }
}

// ---- scale -------------------------------------------------------------------------------------------

function scaleCount(s: string): number {
  const m = /^(\d+)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`--scale takes counts like 1k,100k,1m; got ${s}`);
  return Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1_000 : m[2].toLowerCase() === 'm' ? 1_000_000 : 1);
}

/** ISO timestamp `ms` milliseconds after 2026-01-01, in the store's fixed-width format. */
function stamp(ms: number): string {
  return new Date(Date.UTC(2026, 0, 1) + ms).toISOString().slice(0, 23) + '000';
}

/**
 * Creates the schema through the store (so the migrations under test are the ones applied), then bulk-inserts
 * `n` volumes in one transaction with prepared statements. Returns some seeded ids of the bench project.
 */
async function seed(dataDir: string, n: number): Promise<{ ids: string[]; seconds: number }> {
  const file = join(dataDir, 'embervol.sqlite');
  const store = await openStore({ url: `sqlite:${file}` });
  await store.close();
  const t0 = performance.now();
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const vol = db.prepare(
    `INSERT INTO volumes (id, project_id, user_id, name, description, size, status, attach_status, multiattach, bootable, volume_type_id,
       availability_zone, host, provider_location, provider_auth, migration_status, encryption_key_id, created_at, updated_at, deleted_at, deleted)
     VALUES (?, ?, 'seed', ?, NULL, 1, ?, ?, 0, 0, ?, 'nova', ?, NULL, NULL, NULL, NULL, ?, ?, NULL, 0)`,
  );
  const att = db.prepare(
    `INSERT INTO volume_attachment (id, volume_id, instance_uuid, attached_host, mountpoint, attach_time, detach_time, attach_status, attach_mode,
       connection_info, connector, initiator, created_at, updated_at, deleted_at, deleted)
     VALUES (?, ?, ?, 'seed-host', '/dev/vdb', ?, NULL, 'attached', 'rw', NULL, NULL, ?, ?, NULL, NULL, 0)`,
  );
  const meta = db.prepare(`INSERT INTO volume_admin_metadata (volume_id, key, value) VALUES (?, 'attached_mode', 'rw')`);
  const ids: string[] = [];
  // Bulk load without the secondary indexes, then build each once (far faster than updating ~40 indexes per row).
  const indexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('volumes', 'volume_attachment', 'volume_admin_metadata')`).all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`DROP INDEX "${ix.name}"`);
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const project = i % 10 === 0 ? PROJECT : `seedproject${i % 10}`;
      const attached = i % 10 === 3;
      const ts = stamp(i);
      vol.run(id, project, `vol-${i}`, attached ? 'in-use' : 'available', attached ? 'attached' : 'detached', DEFAULT_TYPE_ID, HOST_NAME, ts, ts);
      if (attached) {
        att.run(randomUUID(), id, randomUUID(), ts, `iqn.2020-01.seed:${i}`, ts);
        meta.run(id);
      }
      if (project === PROJECT && ids.length < 1000) ids.push(id);
    }
  })();
  for (const ix of indexes) db.exec(ix.sql);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { ids, seconds: (performance.now() - t0) / 1000 };
}

/**
 * With --seed-cache DIR, a seeded database (and its ids) is kept in DIR and copied for the next run of the same
 * size; delete DIR when the migrations change. Seeding 1M volumes takes a minute or two on this machine.
 */
async function seedOrReuse(dataDir: string, n: number): Promise<{ ids: string[]; seconds: number }> {
  const cacheDir = arg('seed-cache', '');
  if (!cacheDir) return seed(dataDir, n);
  const cached = join(cacheDir, `seed-${n}.sqlite`);
  const idsFile = `${cached}.ids.json`;
  if (!existsSync(idsFile)) {
    mkdirSync(cacheDir, { recursive: true });
    const r = await seed(dataDir, n);
    copyFileSync(join(dataDir, 'embervol.sqlite'), cached);
    writeFileSync(idsFile, JSON.stringify(r));
    return r;
  }
  copyFileSync(cached, join(dataDir, 'embervol.sqlite'));
  return JSON.parse(readFileSync(idsFile, 'utf8')) as { ids: string[]; seconds: number };
}

const SCALE_ROWS = ['os-reserve', 'os-initialize_connection', 'cycle', 'show', 'list detail', 'list detail status=in-use', 'list detail sort=name', 'reconcile pass'] as const;

/** The reconciler's periodic passes as the service logs them (workflow/reconciler.ts: `ms` on "reconcile pass done"). */
function reconcilePasses(svc: ServiceProcess, from: number): number[] {
  const out: number[] = [];
  for (const line of svc.logs.slice(from)) {
    if (!line.includes('reconcile pass done')) continue;
    const rec = JSON.parse(line) as { startup?: boolean; ms?: number };
    if (!rec.startup && typeof rec.ms === 'number') out.push(rec.ms);
  }
  return out;
}

interface ScaleService {
  n: number;
  dataDir: string;
  svc: ServiceProcess;
  client: Client;
  ids: string[];
  volume: string;
  seedSeconds: number;
  startSeconds: number;
  logFrom: number;
  samples: Record<string, number[]>;
}

async function startScaleService(n: number, env: NodeJS.ProcessEnv | undefined): Promise<ScaleService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'embervol-bench-scale-'));
  try {
    const seeded = await seedOrReuse(dataDir, n);
    const t0 = performance.now();
    const svc = await startServiceProcess({
      ...serviceOptions({ dataDir, extraArgs: ['--reconcile-interval-seconds', '1', '--log-level', 'debug'], startTimeoutMs: 600_000 }),
      env,
    });
    const startSeconds = (performance.now() - t0) / 1000;
    const client = new Client(svc.url);
    await unlimitedQuota(client);
    const volume = await client.createVolume();
    await cycle(client, volume, 'iqn.2020-01.bench:warm', emptySamples());
    const samples: Record<string, number[]> = Object.fromEntries(SCALE_ROWS.map((k) => [k, []]));
    return { n, dataDir, svc, client, ids: seeded.ids, volume, seedSeconds: seeded.seconds, startSeconds, logFrom: svc.logs.length, samples };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Every scale's service runs at once and each request is made against each of them in turn (the order rotating),
 * so a change in the machine's load lands on every scale alike and the columns stay comparable.
 */
async function scaleRuns(counts: number[], reps: number, opts: { env?: NodeJS.ProcessEnv; inspect?: (s: ScaleService) => void } = {}): Promise<ScaleService[]> {
  const services: ScaleService[] = [];
  try {
    for (const n of counts) services.push(await startScaleService(n, opts.env));
    const each = async (i: number, fn: (s: ScaleService) => Promise<void>) => {
      for (let k = 0; k < services.length; k++) await fn(services[(i + k) % services.length]);
    };
    for (let i = 0; i < reps; i++) {
      await each(i, async (s) => {
        const cyc = emptySamples();
        await cycle(s.client, s.volume, 'iqn.2020-01.bench:scale', cyc);
        s.samples['os-reserve'].push(...cyc['os-reserve']);
        s.samples['os-initialize_connection'].push(...cyc['os-initialize_connection']);
        s.samples.cycle.push(...cyc.cycle);
      });
    }
    for (let i = 0; i < reps; i++) {
      await each(i, (s) => timed(s.samples.show, () => s.client.expect(200, 'GET', `/volumes/${s.ids[(i * 37) % s.ids.length]}`)));
    }
    const lists: [string, string][] = [
      ['list detail', '/volumes/detail?limit=100'],
      ['list detail status=in-use', '/volumes/detail?limit=100&status=in-use'],
      ['list detail sort=name', '/volumes/detail?limit=100&sort=name:asc'],
    ];
    for (const [k, path] of lists) {
      await each(0, async (s) => void (await s.client.expect(200, 'GET', path)));
      for (let i = 0; i < reps; i++) await each(i, (s) => timed(s.samples[k], () => s.client.expect(200, 'GET', path)));
    }
    // Periodic passes every second, in every service at once: wait for a few after the requests.
    const deadline = Date.now() + 60_000;
    while (services.some((s) => reconcilePasses(s.svc, s.logFrom).length < 5) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    for (const s of services) s.samples['reconcile pass'] = reconcilePasses(s.svc, s.logFrom);
    for (const s of services) {
      s.client.close();
      await s.svc.stop();
      opts.inspect?.(s);
    }
    return services;
  } finally {
    for (const s of services) {
      await s.svc.stop();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  }
}

async function scalePart(): Promise<void> {
  const counts = arg('scale', '1k,100k').split(',').map(scaleCount);
  const reps = Number(arg('reps', '30'));
  const results = await scaleRuns(counts, reps);
  const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));
  console.log(`\nScale: volumes in the database (10% in-use with a live attachment), ${reps} requests per row, ms (p50 / p99)`);
  printTable(
    ['request', ...results.map((r) => `${label(r.n)} p50`), ...results.map((r) => `${label(r.n)} p99`)],
    SCALE_ROWS.map((k) => [k, ...results.map((r) => f2(percentile(r.samples[k], 50))), ...results.map((r) => f2(percentile(r.samples[k], 99)))]),
  );
  printTable(
    ['volumes', 'seeding s', 'service start s (includes the start-up reconcile)', 'periodic passes seen'],
    results.map((r) => [label(r.n), r.seedSeconds.toFixed(1), r.startSeconds.toFixed(1), String(r.samples['reconcile pass'].length)]),
  );
}

const PHASE_FIELDS = ['ms', 'sqlCount', 'sqlMs', 'commits', 'commitMs', 'prepares', 'prepareMs', 'hostCalls', 'hostMs'] as const;

/** Sequential cycles against a service with EMBERVOL_DEBUG_TIMINGS=1: medians of each call's phases. */
async function phasePart(): Promise<void> {
  const total = Number(arg('cycles', '100'));
  const svc = await startServiceProcess({ ...serviceOptions(), env: { EMBERVOL_DEBUG_TIMINGS: '1' } });
  const c = new Client(svc.url);
  try {
    await unlimitedQuota(c);
    const from = svc.logs.length;
    await runCycles(c, Number(arg('phase-clients', '1')), total, 'phases', svc.child.pid!);
    const by = new Map<string, Record<string, number[]>>();
    for (const line of svc.logs.slice(from)) {
      if (!line.includes('"timings"')) continue;
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (typeof rec.action !== 'string') continue;
      const m = by.get(rec.action) ?? Object.fromEntries(PHASE_FIELDS.map((k) => [k, [] as number[]]));
      for (const k of PHASE_FIELDS) m[k].push(Number(rec[k]));
      by.set(rec.action, m);
    }
    console.log('\nWhere a call goes (EMBERVOL_DEBUG_TIMINGS=1, sequential, medians; ms measured in the server from the first hook to the response)');
    printTable(['call', ...PHASE_FIELDS], CALLS.map((k) => [k, ...PHASE_FIELDS.map((f) => f2(percentile(by.get(k)?.[f] ?? [], 50)))]));
  } finally {
    c.close();
    await svc.stop();
  }
  const line = svc.logs.find((l) => l.includes('"statement timings"'));
  if (!line) return;
  const stmts = (JSON.parse(line) as { statements: { sql: string; count: number; ms: number }[] }).statements;
  const cycles = total + 1;
  console.log(`Statements per cycle (${cycles} cycles incl. warm-up), most time first`);
  printTable(
    ['per cycle', 'µs each', 'statement'],
    stmts.slice(0, 25).map((x) => [(x.count / cycles).toFixed(2), ((x.ms * 1000) / x.count).toFixed(0), x.sql.length > 150 ? `${x.sql.slice(0, 150)}…` : x.sql]),
  );
  const all = stmts.reduce((a, x) => a + x.count, 0);
  console.log(`${stmts.length} distinct statements, ${(all / cycles).toFixed(1)} statements per cycle (service start included)`);
}

/**
 * EXPLAIN QUERY PLAN of every statement the service ran during a scale run (cycle, show, lists, reconciler passes),
 * against the seeded database: the statements whose plan scans a whole table are listed first.
 */
async function explainPart(): Promise<void> {
  const n = scaleCount(arg('scale', '100k'));
  await scaleRuns([n], 5, {
    env: { EMBERVOL_DEBUG_TIMINGS: '1' },
    inspect({ dataDir, svc }) {
      const line = svc.logs.find((l) => l.includes('"statement timings"'));
      if (!line) throw new Error('the service printed no statement timings');
      const stmts = (JSON.parse(line) as { statements: { sql: string; count: number; ms: number }[] }).statements;
      const db = new BetterSqlite3(join(dataDir, 'embervol.sqlite'), { readonly: true });
      const rows: string[][] = [];
      for (const st of stmts) {
        if (!/^\s*(select|update|delete|insert)/i.test(st.sql)) continue;
        let plan: string;
        try {
          const params = (st.sql.match(/\?/g) ?? []).map(() => null);
          plan = (db.prepare(`EXPLAIN QUERY PLAN ${st.sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('; ');
        } catch (err) {
          plan = `(${(err as Error).message})`;
        }
        rows.push([/\bSCAN (?!.*USING (COVERING )?INDEX)/.test(plan) ? 'SCAN' : '', String(st.count), ((st.ms * 1000) / st.count).toFixed(0), plan, st.sql.length > 160 ? `${st.sql.slice(0, 160)}…` : st.sql]);
      }
      db.close();
      rows.sort((a, b) => (a[0] === b[0] ? Number(b[1]) - Number(a[1]) : a[0] ? -1 : 1));
      console.log(`\nEXPLAIN QUERY PLAN over ${n} volumes, every statement the service ran (full scans first)`);
      printTable(['full scan', 'runs', 'µs each', 'plan', 'statement'], rows);
    },
  });
}

/** p50 of `n` timed runs of a synchronous function. */
function medianOf(n: number, fn: () => void): number {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return percentile(xs, 50);
}

/**
 * What one sequential cycle must cost at least here, measured in the same minutes as the cycle itself: the
 * durable commits the six calls make (each a SQLite commit with synchronous=FULL in WAL mode, i.e. an fsync of
 * the WAL, measured on a file next to the service's), plus six HTTP round trips through fastify with no work
 * behind them (GET /v3/, keep-alive), against the measured cycle median.
 */
async function floorPart(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const rows: string[][] = [];
  for (let r = 0; r < rounds; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'embervol-bench-fsync-'));
    const db = new BetterSqlite3(join(dir, 'f.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    const commit = medianOf(200, () => ins.run('x'.repeat(300)));
    db.close();
    rmSync(dir, { recursive: true, force: true });
    const svc = await startServiceProcess(serviceOptions());
    const c = new Client(svc.url);
    try {
      const rtts: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        const res = await new Promise<number>((resolve, reject) => {
          http.get({ host: c.host, port: c.port, path: '/v3/', agent: c.agent }, (res) => res.resume().on('end', () => resolve(res.statusCode!))).on('error', reject);
        });
        if (res !== 200) throw new Error(`GET /v3/: ${res}`);
        rtts.push(performance.now() - t0);
      }
      const rtt = percentile(rtts, 50);
      await unlimitedQuota(c);
      const run = await runCycles(c, 1, 60, 'sequential', svc.child.pid!);
      const cycle = percentile(run.samples.cycle, 50);
      const floor = COMMITS_PER_CYCLE * commit + CALLS.length * rtt;
      rows.push([String(r + 1), commit.toFixed(2), rtt.toFixed(2), floor.toFixed(2), cycle.toFixed(2), (cycle / floor).toFixed(2), run.cpuMs.toFixed(2)]);
    } finally {
      c.close();
      await svc.stop();
    }
  }
  console.log(`\nThe floor of one sequential cycle: ${COMMITS_PER_CYCLE} durable commits + ${CALLS.length} HTTP round trips, ms (medians)`);
  printTable(['round', 'one durable commit', 'one HTTP round trip', 'floor', 'cycle measured', 'cycle / floor', 'service CPU ms/cycle'], rows);
}

/**
 * Durable commits one legacy cycle needs as the workflow is built: reserve 1; initialize_connection 2 (the
 * pending connection before the export is made, provider_location after); attach 1; begin_detaching 1;
 * terminate_connection 0 (nothing changes on a detaching volume); detach 2 (the detach, then the export's removal).
 */
const COMMITS_PER_CYCLE = 7;

export async function main() {
  const part = arg('part', 'all');
  if (part === 'floor') return floorPart();
  if (part === 'explain') return explainPart();
  if (part === 'phases') return phasePart();
  if (part === 'cycle' || part === 'all') await cyclePart();
  if (part === 'scale' || part === 'all') await scalePart();
}
