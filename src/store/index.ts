// The store: one database, opened and migrated at start. The workflow reaches tables only through
// the repositories in this directory (one per table or aggregate), so another engine needs no workflow change.
import type { Kysely, Transaction } from 'kysely';
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
   * SERIALIZABLE, where a transaction that loses a conflict fails and is run again here. So fn may run
   * more than once: it must touch nothing but the database (no host calls, no state outside its return).
   * That is what keeps the read-then-write steps correct with many writers: insertEvents' max(seq)+1,
   * tracked()'s before/after snapshot, terminate_connection's "who else uses this initiator".
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** Migration versions applied by this open (empty when the schema was already current). */
  readonly appliedMigrations: number[];
  close(): Promise<void>;
}

/** How often a transaction that lost a serialization conflict is run again before the error is thrown. */
const SERIALIZATION_RETRIES = 5;

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
          if (attempt > SERIALIZATION_RETRIES || !opened.isSerializationFailure(err)) throw err;
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

function openDatabase(url: string, poolSize: number | undefined): OpenDatabase {
  // Two letters or more before the colon: a drive letter ("C:\\...") is part of a path.
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return openSqlite(url);
  if (scheme === 'sqlite') return openSqlite(url.slice('sqlite:'.length));
  if (scheme === 'postgres' || scheme === 'postgresql') return openPostgres(url, { poolSize });
  throw new Error(`unknown database URL scheme "${scheme}:" (use postgres://..., sqlite:PATH or a file path)`);
}
