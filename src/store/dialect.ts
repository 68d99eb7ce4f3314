// The seam between the store and a database engine (store/dialects/<engine>.ts). What differs between
// engines stays behind it; queries in the repositories are written once, in what both engines accept.
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  /**
   * True for an error that means "another writer's commit conflicts with this transaction; run it again"
   * (PostgreSQL SQLSTATE 40001 / 40P01, and a prepared statement that a migration made stale,
   * dialects/pg-prepared.ts). The store's transaction helper retries those.
   */
  isSerializationFailure(err: unknown): boolean;
  /**
   * True when the engine runs one writing transaction at a time (SQLite): every transaction is already serial, so
   * Store.volumeTransaction needs no row lock. False for PostgreSQL, where transactions run side by side.
   */
  readonly oneWriterAtATime: boolean;
  /**
   * Runs fn (the migrations) holding a lock that a second process opening the same database waits for, on one
   * connection that fn must use for all its work.
   */
  withMigrationLock<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Releases the connection(s) and leaves the database self-contained. */
  close(): Promise<void>;
}
