// The store: one database, opened and migrated at start. The workflow reaches tables only through
// the repository functions in this directory, so a PostgreSQL store needs no workflow change.
import type { Kysely, Transaction } from 'kysely';
import { openSqlite } from './sqlite.js';
import { runMigrations } from './migrations.js';
import type { Database } from './schema.js';

export interface Store {
  readonly db: Kysely<Database>;
  readonly engine: 'sqlite';
  /** Runs fn in one transaction (BEGIN IMMEDIATE on SQLite): every precondition and its derived writes commit together. */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** Migration versions applied by this open (empty when the schema was already current). */
  readonly appliedMigrations: number[];
  close(): Promise<void>;
}

export async function openStore(opts: { sqlitePath: string }): Promise<Store> {
  const { db, raw } = openSqlite(opts.sqlitePath);
  let appliedMigrations: number[];
  try {
    appliedMigrations = await runMigrations(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  let closed = false;
  return {
    db,
    engine: 'sqlite',
    appliedMigrations,
    transaction: (fn) => db.transaction().execute(fn),
    async close() {
      if (closed) return;
      closed = true;
      // Fold the WAL back into the main file so a stopped service leaves one self-contained file.
      try {
        raw.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A checkpoint is an optimisation; closing must still happen.
      }
      await db.destroy();
    },
  };
}

export { DEFAULT_TYPE_NAME } from './migrations.js';
