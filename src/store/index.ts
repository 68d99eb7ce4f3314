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
   * That is what keeps the read-then-write steps over rows many volumes share correct with many writers: quota
   * usage, type and group checks. Steps on one volume use volumeTransaction (docs/store.md).
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /**
   * Runs fn in one transaction that holds volume `volumeId` against every other transaction that writes its row,
   * for a step whose decisions rest only on that volume's own rows (the volume, its attachments, pending
   * connections, admin metadata and events): the attach and detach steps. Such steps on different volumes then
   * never conflict. On SQLite this is `transaction` (one writer at a time). On PostgreSQL it is READ COMMITTED,
   * opened by a write to the volume row: every other writer of that row, in any transaction, waits for this one;
   * a READ COMMITTED one then sees what this one committed, and a SERIALIZABLE one that read the volume's rows
   * earlier fails on the row and runs again. So a SERIALIZABLE step that decides from a volume's rows must claim
   * the volume row (casVolume with no change, as snapshot creation does) to be safe against these. SERIALIZABLE would do the same, but its predicate locks cover whole
   * index pages, and with the few live attachments, connections and events of a cloud in a handful of pages,
   * steps on unrelated volumes failed each other there (docs/benchmarks.md, "Serialization conflicts").
   * fn may run more than once (a deadlock is retried), as with `transaction`.
   * `serializable`: a step that also decides from rows other volumes share (quota usage, types, groups): the
   * transaction is SERIALIZABLE and still opens with the write to the volume row, so that no volume transaction
   * runs beside it on that volume either.
   */
  volumeTransaction<T>(volumeId: string, fn: (trx: Transaction<Database>) => Promise<T>, opts?: { serializable?: boolean }): Promise<T>;
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
  /** Runs a transaction again after a serialization failure or a deadlock; StoreUnavailable after the last try. */
  async function retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (!opened.isSerializationFailure(err)) throw err;
        if (attempt >= SERIALIZATION_ATTEMPTS) throw new StoreUnavailable(err, 'The database is busy; retry the request later.');
        await retryDelay(attempt);
      }
    }
  }
  const transaction: Store['transaction'] = (fn) => retrying(() => db.transaction().setIsolationLevel('serializable').execute(fn));
  return {
    db,
    appliedMigrations,
    transaction,
    volumeTransaction(volumeId, fn, opts = {}) {
      if (opened.oneWriterAtATime) return transaction(fn);
      return retrying(() =>
        db
          .transaction()
          .setIsolationLevel(opts.serializable ? 'serializable' : 'read committed')
          .execute(async (trx) => {
            // A write, not SELECT ... FOR UPDATE: a lock leaves no new row version, so a SERIALIZABLE transaction
            // that read this volume's attachments before would not learn that they changed.
            await trx.updateTable('volumes').set((eb) => ({ id: eb.ref('id') })).where('id', '=', volumeId).execute();
            return fn(trx);
          }),
      );
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
