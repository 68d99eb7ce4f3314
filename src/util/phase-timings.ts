// Where a request's milliseconds go, behind a debug flag: EMBERVOL_DEBUG_TIMINGS=1 makes the HTTP layer log one
// "timings" line per request (total, SQL statements and their time, commits, statement preparation, volume-host
// calls) and the store log every distinct statement with its count and time when it closes. Off by default:
// then nothing is wrapped and nothing is measured (bench/control-plane.ts turns it on).
import { AsyncLocalStorage } from 'node:async_hooks';

export const timingsEnabled = process.env.EMBERVOL_DEBUG_TIMINGS === '1';

export interface PhaseTimings {
  /** Statements run (commit and begin included) and their time in ms, preparation excluded. */
  sqlCount: number;
  sqlMs: number;
  /** COMMITs and their time (with synchronous=FULL, the fsync of the WAL). */
  commits: number;
  commitMs: number;
  /** Statements compiled by SQLite (a statement cache miss) and their time. */
  prepares: number;
  prepareMs: number;
  /** Calls into the volume host (export, ACL, backing files) and their time. */
  hostCalls: number;
  hostMs: number;
}

const storage = new AsyncLocalStorage<PhaseTimings>();

/** Runs `fn` (and everything it schedules) with a fresh accumulator, which it returns. */
export function runTimed(fn: () => void): PhaseTimings {
  const t: PhaseTimings = { sqlCount: 0, sqlMs: 0, commits: 0, commitMs: 0, prepares: 0, prepareMs: 0, hostCalls: 0, hostMs: 0 };
  storage.run(t, fn);
  return t;
}

/** The accumulator of the request this code runs for, if timings are on and there is one. */
export function currentTimings(): PhaseTimings | undefined {
  return timingsEnabled ? storage.getStore() : undefined;
}

const statements = new Map<string, { count: number; ms: number }>();

/** Counts one execution of `sql` (process-wide, for the close-time summary and for the request's line). */
export function recordStatement(sql: string, ms: number): void {
  const s = statements.get(sql);
  if (s) {
    s.count++;
    s.ms += ms;
  } else statements.set(sql, { count: 1, ms });
  const t = storage.getStore();
  if (!t) return;
  t.sqlCount++;
  t.sqlMs += ms;
  if (sql === 'commit') {
    t.commits++;
    t.commitMs += ms;
  }
}

export function recordPrepare(ms: number): void {
  const t = storage.getStore();
  if (!t) return;
  t.prepares++;
  t.prepareMs += ms;
}

/** Every statement run so far, most time first. */
export function statementSummary(): { sql: string; count: number; ms: number }[] {
  return [...statements].map(([sql, s]) => ({ sql, count: s.count, ms: Math.round(s.ms * 100) / 100 })).sort((a, b) => b.ms - a.ms);
}

/** Wraps every method of `target` that returns a promise so its time counts as host time of the current request. */
export function timedHost<T extends object>(target: T): T {
  if (!timingsEnabled) return target;
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver);
      if (typeof v !== 'function') return v;
      return function (this: unknown, ...args: unknown[]) {
        const t = storage.getStore();
        const r = (v as (...a: unknown[]) => unknown).apply(obj, args);
        if (!t || !(r instanceof Promise)) return r;
        const t0 = performance.now();
        return r.finally(() => {
          t.hostCalls++;
          t.hostMs += performance.now() - t0;
        });
      };
    },
  });
}
