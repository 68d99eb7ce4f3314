// The store: one database, opened and migrated at start. The workflow reaches tables only through
// the repositories in this directory (one per table or aggregate), so another engine needs no workflow change.
import type { Kysely, Transaction } from 'kysely';
import { StoreUnavailable } from '../errors.js';
import type { OpenDatabase } from './dialect.js';
import { openSqlite } from './dialects/sqlite.js';
import { openPostgres } from './dialects/postgres.js';
import { runMigrations } from './migrations.js';
import type { Database } from './schema.js';

export interface Store {
  readonly db: Kysely<Database>;
  /**
   * Runs fn in one transaction: every precondition it reads and every write derived from it commit together,
   * as if no other writer existed. The contract, on every engine: SERIALIZABLE. SQLite gets there with
   * BEGIN IMMEDIATE (one writer at a time, store/dialects/sqlite.ts); PostgreSQL with ISOLATION LEVEL
   * SERIALIZABLE, where a transaction that loses a conflict fails and is run again here (after a short random
   * wait; StoreUnavailable when it keeps losing). So fn may run more than once: it must touch nothing but the
   * database (no host calls, no state outside its return).
   * That is what keeps the read-then-write steps correct with many writers: insertEvents' max(seq)+1,
   * tracked()'s before/after snapshot, terminate_connection's "who else uses this initiator".
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** Migration versions applied by this open (empty when the schema was already current). */
  readonly appliedMigrations: number[];
  close(): Promise<void>;
}

/**
 * How many times a transaction that keeps losing serialization conflicts runs before the caller is told to retry
 * later. Writers that touch one row (a project's quota usage) commit one per round, so this bounds how many
 * concurrent writers of one row are served without a 503; the pool bounds how many run at once per process.
 */
const SERIALIZATION_ATTEMPTS = 30;

/** Random wait before a retry, up to 2^attempt ms capped at 64 ms: losers of one conflict do not meet again at once. */
function retryDelay(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 64)));
}

/**
 * `url`: "sqlite:PATH" or a bare file path (SQLite), or "postgres://USER@HOST:PORT/DB[?pool_size=N]" (PostgreSQL,
 * `poolSize` connections at most; store/dialects/postgres.ts).
 */
export async function openStore(opts: { url: string; poolSize?: number }): Promise<Store> {
  const opened = openDatabase(opts.url, opts.poolSize);
  const { db } = opened;
  let appliedMigrations: number[];
  try {
    appliedMigrations = await opened.withMigrationLock((conn) => runMigrations(conn));
  } catch (err) {
    await opened.close();
    throw err;
  }
  let closed = false;
  return {
    db,
    appliedMigrations,
    async transaction(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().setIsolationLevel('serializable').execute(fn);
        } catch (err) {
          if (!opened.isSerializationFailure(err)) throw err;
          if (attempt >= SERIALIZATION_ATTEMPTS) throw new StoreUnavailable(err, 'The database is busy; retry the request later.');
          await retryDelay(attempt);
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await opened.close();
    },
  };
}

/** The engine a URL names, opened but not migrated (openStore migrates; tests of migrations start from here). */
export function openDatabase(url: string, poolSize?: number): OpenDatabase {
  // Two letters or more before the colon: a drive letter ("C:\\...") is part of a path.
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return openSqlite(url);
  if (scheme === 'sqlite') return openSqlite(url.slice('sqlite:'.length));
  if (scheme === 'postgres' || scheme === 'postgresql') return openPostgres(url, { poolSize });
  throw new Error(`unknown database URL scheme "${scheme}:" (use postgres://..., sqlite:PATH or a file path)`);
}
