// The SQLite dialect: one file, one writer at a time, tuned for a control plane whose database is its only lock.
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Driver, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { GroupCommitDriver } from './sqlite-group-commit.js';
import { recordPrepare, recordStatement, statementSummary, timingsEnabled } from '../../util/phase-timings.js';
import type { Database } from '../schema.js';
import type { OpenDatabase } from '../dialect.js';

/**
 * kysely's SQLite dialect with the group-commit driver (sqlite-group-commit.ts). Its physical transactions
 * begin with BEGIN IMMEDIATE, not kysely's deferred BEGIN: a deferred transaction that reads and then writes
 * can fail with SQLITE_BUSY (no wait) when another process committed in between; BEGIN IMMEDIATE takes the
 * write lock up front, so the busy timeout applies and two processes sharing the file serialise. That makes
 * every transaction serializable without retries (store/index.ts states the contract).
 */
class GroupCommitSqliteDialect extends SqliteDialect {
  constructor(readonly driver: GroupCommitDriver) {
    super({ database: {} as SqliteDatabase });
  }
  override createDriver(): Driver {
    return this.driver;
  }
}

/** Distinct statement texts kept compiled; `IN (?, ?, ...)` lists of many lengths are what can push past it. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * kysely's SQLite driver calls prepare() for every query it runs, and compiling a statement costs more than
 * running most of ours. The same text gets the same compiled statement back (least recently used ones go).
 * Statements are run to completion one at a time on the single connection, so sharing one is safe.
 */
function cachedStatements(raw: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  const compile = (sql: string): SqliteStatement => {
    const t0 = timingsEnabled ? performance.now() : 0;
    const stmt = raw.prepare(sql);
    if (timingsEnabled) recordPrepare(performance.now() - t0);
    if (!timingsEnabled) return stmt as unknown as SqliteStatement;
    return {
      reader: stmt.reader,
      readonly: stmt.readonly,
      all: timed(sql, (params: readonly unknown[]) => stmt.all(params)),
      run: timed(sql, (params: readonly unknown[]) => stmt.run(params)),
      iterate: (params: readonly unknown[]) => stmt.iterate(params),
    } as unknown as SqliteStatement;
  };
  return {
    prepare(sql: string): SqliteStatement {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = compile(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      raw.close();
    },
  };
}

/** EMBERVOL_DEBUG_TIMINGS=1 (util/phase-timings.ts): a statement run that reports its time. */
function timed<R>(sql: string, fn: (params: readonly unknown[]) => R): (params: readonly unknown[]) => R {
  return (params) => {
    const t0 = performance.now();
    try {
      return fn(params);
    } finally {
      recordStatement(sql, performance.now() - t0);
    }
  };
}

export function openSqlite(path: string): OpenDatabase {
  const raw = new BetterSqlite3(path);
  // WAL lets readers run beside the single writer; synchronous=FULL makes every commit durable
  // before the API answers (NORMAL could lose the last commits on power loss). Commits are grouped
  // (sqlite-group-commit.ts): one fsync for the transactions of an event-loop turn.
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  // Statement journals (a write inside a SAVEPOINT, as every group-committed transaction is) and sorter b-trees
  // in memory: as files they cost an open, an unlink and writes in /var/tmp, twice per attach/detach cycle.
  raw.pragma('temp_store = MEMORY');
  raw.pragma('busy_timeout = 5000');
  const driver = new GroupCommitDriver(cachedStatements(raw), () => raw.inTransaction);
  const db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(driver) });
  return {
    db,
    // BEGIN IMMEDIATE never lets two writers interleave, so no transaction fails for a conflict.
    isSerializationFailure: () => false,
    oneWriterAtATime: true,
    // One connection, and each migration's BEGIN IMMEDIATE already excludes a second process.
    withMigrationLock: (fn) => fn(db),
    async close() {
      await driver.idle();
      // Fold the WAL back into the main file so a stopped service leaves one self-contained file.
      try {
        raw.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A checkpoint is an optimisation; closing must still happen.
      }
      await db.destroy();
      if (timingsEnabled) console.log(JSON.stringify({ msg: 'statement timings', statements: statementSummary() }));
    },
  };
}
