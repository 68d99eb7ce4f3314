// The SQLite dialect: one file, one writer at a time, tuned for a control plane whose database is its only lock.
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, SqliteDriver, CompiledQuery, type DatabaseConnection, type Driver } from 'kysely';
import type { Database } from '../schema.js';
import type { OpenDatabase } from '../dialect.js';

/**
 * kysely opens SQLite transactions with a deferred BEGIN. A deferred transaction that reads and then
 * writes can fail with SQLITE_BUSY (no wait) when another process committed in between; BEGIN IMMEDIATE
 * takes the write lock up front, so the busy timeout applies and two processes sharing the file serialise.
 * That makes every transaction serializable without retries (store/index.ts states the contract).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

export function openSqlite(path: string): OpenDatabase {
  const raw = new BetterSqlite3(path);
  // WAL lets readers run beside the single writer; synchronous=FULL makes every commit durable
  // before the API answers (NORMAL could lose the last commits on power loss).
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: raw }) });
  return {
    db,
    // BEGIN IMMEDIATE never lets two writers interleave, so no transaction fails for a conflict.
    isSerializationFailure: () => false,
    // One connection, and each migration's BEGIN IMMEDIATE already excludes a second process.
    withMigrationLock: (fn) => fn(db),
    async close() {
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
