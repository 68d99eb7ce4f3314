// Scale-out (issue 14): the six-call cycle of bench/control-plane.ts, sequentially and with N clients, on
//   sqlite   one `embervol serve` (--role all) on SQLite,
//   pg-all   one `embervol serve` (--role all) on PostgreSQL,
//   pg-apiK  one volume host (--role host) and K API processes (--role api) on PostgreSQL, started by
//            test/interop/multi-host-cluster.ts; client i talks to API process i % K (round-robin).
// PostgreSQL is a private cluster (test/support/postgres.ts) with fsync, synchronous_commit and full_page_writes
// on, as shipped, so that a 2xx is as durable as on SQLite; each setup gets a fresh database.
//
// Usage: npm run bench -- scale-out [--setups sqlite,pg-all,pg-api1,pg-api2,pg-api4] [--clients 8,32] [--cycles 100]
//                                   [--before DIR] (each setup also from the checkout DIR, a worktree of an older
//                                   commit, run just before this checkout's: before/after side by side in one table)
//
// Prints one row per setup and client count: cycle median / p99 in ms, cycles per second, CPU ms per cycle of the
// embervol processes and of PostgreSQL (postmaster and its backends), and PostgreSQL's commits and rollbacks per
// cycle (pg_stat_database; a rollback there is almost always a serialization failure that the store retried), and
// how busy the machine's CPUs were during the row (/proc/stat, every process: where it is near 100%, more API
// processes can only take CPU from the others).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, type Cluster } from '../test/interop/multi-host-cluster.js';
import { startServiceProcess, type ServiceProcess } from '../test/interop/service-process.js';
import { startPostgres, type PostgresCluster } from '../test/support/postgres.js';
import { Client, cpuTimeMs, f2, runCycles, unlimitedQuota, type CycleRun } from './control-plane.js';
import { percentile, printTable } from './table.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/** Busy answers (503, the store's serialization retries exhausted) per call, over the whole run. */
const busy = new Map<string, number>();
const BUSY_RETRY_MS = 50;

/**
 * Sends a call again after a 503 instead of failing the cycle, and counts it: the 503 left nothing written (the
 * store rolled its transaction back), so the same call is safe to repeat. The service's Retry-After says 5 s; the
 * bench waits BUSY_RETRY_MS so that the count, not the wait, shows the contention.
 */
class RetryingClient extends Client {
  override async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    for (;;) {
      const r = await super.call(method, path, body);
      if (r.status !== 503) return r;
      const what = body && typeof body === 'object' ? Object.keys(body)[0] : `${method} ${path.replace(/[0-9a-f-]{36}/g, '{id}')}`;
      busy.set(what, (busy.get(what) ?? 0) + 1);
      await new Promise((res) => setTimeout(res, BUSY_RETRY_MS));
    }
  }
}

interface Deployment {
  urls: string[];
  pids: number[];
  stop(): Promise<void>;
}

/** Processes whose parent is `pid` (PostgreSQL's backends under the postmaster). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const fields = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(fields[1]) === pid) out.push(Number(d));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** CPU ms of the postmaster, its live backends and the backends it has reaped (cutime + cstime). */
function postgresCpuMs(postmaster: number): number {
  const fields = readFileSync(`/proc/${postmaster}/stat`, 'utf8').split(') ')[1].split(' ');
  const reaped = ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  let live = 0;
  for (const p of childPids(postmaster)) {
    try {
      live += cpuTimeMs(p);
    } catch {
      // Ended in between: counted in cutime from now on.
    }
  }
  return cpuTimeMs(postmaster) + reaped + live;
}

/** The postmaster: the parent of any backend. */
async function postmasterPid(adminUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const backend = Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    return Number(readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } finally {
    await c.end();
  }
}

async function pgStats(adminUrl: string, dbUrl: string): Promise<{ commits: number; rollbacks: number }> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    // Backends report their counters at most once a second; wait for the last ones.
    await new Promise((r) => setTimeout(r, 1200));
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = await c.query('SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1', [new URL(dbUrl).pathname.slice(1)]);
    return { commits: Number(r.rows[0].xact_commit), rollbacks: Number(r.rows[0].xact_rollback) };
  } finally {
    await c.end();
  }
}

async function deploy(setup: string, pgc: PostgresCluster | undefined, dbUrl: string | undefined, repoRoot: string | undefined): Promise<Deployment> {
  if (setup === 'sqlite' || setup === 'pg-all') {
    const svc: ServiceProcess = await startServiceProcess({ target: 'builtin', repoRoot, extraArgs: dbUrl ? ['--database', dbUrl] : [] });
    return { urls: [svc.url], pids: [svc.child.pid!], stop: () => svc.stop() };
  }
  const m = /^pg-api(\d+)$/.exec(setup);
  if (!m || !pgc || !dbUrl) throw new Error(`unknown setup ${setup} (sqlite, pg-all, pg-apiK)`);
  const root = mkdtempSync(join(tmpdir(), 'embervol-bench-scaleout-'));
  const cluster: Cluster = await startCluster({ database: dbUrl, root, hostNames: ['host-a'], apiCount: Number(m[1]), repoRoot });
  return {
    urls: cluster.apis.map((a) => a.url),
    pids: [...cluster.apis.map((a) => a.child.pid!), ...cluster.hosts.map((h) => h.proc.child.pid!)],
    async stop() {
      await cluster.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

interface Row {
  setup: string;
  clients: number;
  run: CycleRun;
  pgCpuMs?: number;
  commits?: number;
  rollbacks?: number;
  /** 503 answers during this row (volume creation and warm-up included), and by call. */
  busy: number;
  busyCalls: string;
  /** Share of the machine's CPU time (all cores, every process) that was busy during the row. */
  machineBusy: number;
}

/** The machine's busy and total CPU ticks since boot (/proc/stat: all but idle and iowait is busy). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

export async function main() {
  const setups = arg('setups', 'sqlite,pg-all,pg-api1,pg-api2,pg-api4').split(',');
  const clientCounts = [1, ...arg('clients', '8,32').split(',').map(Number).filter((n) => n > 0)];
  const total = Number(arg('cycles', '100'));
  const pgc = setups.some((s) => s.startsWith('pg')) ? await startPostgres({ durable: true }) : undefined;
  const rows: Row[] = [];
  const onExit = () => pgc?.stopSync();
  process.on('exit', onExit);
  try {
    const postmaster = pgc ? await postmasterPid(pgc.adminUrl) : 0;
    const beforeRoot = arg('before', '');
    const runs = setups.flatMap((setup) => [...(beforeRoot ? [{ setup, label: `${setup} (before)`, root: beforeRoot }] : []), { setup, label: setup, root: undefined }]);
    for (const { setup, label, root } of runs) {
      const dbUrl = setup.startsWith('pg') ? await pgc!.createDatabase() : undefined;
      const d = await deploy(setup, pgc, dbUrl, root);
      const clients = d.urls.map((u) => new RetryingClient(u));
      try {
        await unlimitedQuota(clients[0]);
        for (const n of clientCounts) {
          const before = pgc && dbUrl ? { cpu: postgresCpuMs(postmaster), ...(await pgStats(pgc.adminUrl, dbUrl!)) } : undefined;
          const ticks0 = machineTicks();
          const run = await runCycles(clients, n, n === 1 ? total : Math.max(total, n * 4), n === 1 ? 'sequential' : `${n} clients`, d.pids);
          const ticks1 = machineTicks();
          const machineBusy = (ticks1.busy - ticks0.busy) / (ticks1.total - ticks0.total);
          const row: Row = { setup: label, clients: n, run, machineBusy, busy: [...busy.values()].reduce((a, b) => a + b, 0), busyCalls: [...busy.entries()].map(([k, v]) => `${k} ${v}`).join(', ') };
          busy.clear();
          if (pgc && dbUrl && before) {
            const after = { cpu: postgresCpuMs(postmaster), ...(await pgStats(pgc.adminUrl, dbUrl!)) };
            const cycles = run.samples.cycle.length;
            // The warm-up cycles and volume creation fall inside the window too: per cycle, slightly high.
            row.pgCpuMs = (after.cpu - before.cpu) / cycles;
            row.commits = (after.commits - before.commits) / cycles;
            row.rollbacks = (after.rollbacks - before.rollbacks) / cycles;
          }
          rows.push(row);
          console.error(`${label} ${n}: ${run.rate.toFixed(1)} cycles/s`);
        }
      } finally {
        for (const c of clients) c.close();
        await d.stop();
      }
    }
  } finally {
    await pgc?.stop();
    process.off('exit', onExit);
  }
  console.log('\nSix-call cycle by deployment (keep-alive client, noauth, builtin target), ms');
  printTable(
    ['setup', 'clients', 'cycle p50', 'cycle p99', 'cycles/s', 'embervol CPU ms/cycle', 'PostgreSQL CPU ms/cycle', 'PG commits/cycle', 'PG rollbacks/cycle', '503s (retried)', 'machine CPU busy'],
    rows.map((r) => [
      r.setup,
      String(r.clients),
      f2(percentile(r.run.samples.cycle, 50)),
      f2(percentile(r.run.samples.cycle, 99)),
      r.run.rate.toFixed(1),
      r.run.cpuMs.toFixed(2),
      r.pgCpuMs === undefined ? '' : r.pgCpuMs.toFixed(2),
      r.commits === undefined ? '' : r.commits.toFixed(1),
      r.rollbacks === undefined ? '' : r.rollbacks.toFixed(2),
      r.busy === 0 ? '0' : `${r.busy}: ${r.busyCalls}`,
      `${Math.round(r.machineBusy * 100)}%`,
    ]),
  );
}
