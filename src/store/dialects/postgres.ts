// The PostgreSQL dialect: many processes share one database through a bounded pool of connections each.
import pg from 'pg';
import { Kysely, PostgresDialect, PostgresDriver, sql, type DatabaseConnection, type Driver } from 'kysely';
import { StoreUnavailable } from '../../errors.js';
import type { Database } from '../schema.js';
import type { OpenDatabase } from '../dialect.js';
import { PreparingClient, isStalePreparedStatement } from './pg-prepared.js';

/** Connections per process when the URL does not say (`?pool_size=N`): pg's own default. */
export const DEFAULT_POOL_SIZE = 10;

/** How long a request waits for a free or a new connection before it fails as StoreUnavailable. */
const CONNECT_TIMEOUT_MS = 5000;

/** Any key taken for the migration lock; one database, one lock. */
const MIGRATION_LOCK_KEY = 0x656d6276; // "embv"

// bigint and numeric come back from pg as strings (they may exceed 2^53); our bigints are counts and quota
// figures far below that, and count(*) / sum() return them, so they are read as numbers like SQLite's.
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
types.setTypeParser(pg.types.builtins.NUMERIC, (v: string) => Number(v));

/**
 * SQLSTATE classes that mean the connection, not the statement, failed: 08 connection exception, 57P01-57P03
 * admin / crash shutdown and cannot-connect-now (a restarting server). Node's socket errors have no SQLSTATE.
 */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code)) return true;
  }
  const message = err instanceof Error ? err.message : '';
  // pg's own wording when the socket closes under a query, a connect times out or no pooled connection frees up in
  // time (pg's client.js and pg-pool's index.js; those errors carry no code).
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
}

function mapConnectionError(err: unknown): unknown {
  return isConnectionError(err) ? new StoreUnavailable(err) : err;
}

const wrapped = Symbol('connection errors mapped');

/**
 * kysely's PostgresDriver, with every failure that is the connection's (not the statement's) turned into
 * StoreUnavailable, so callers can answer "retry later" without knowing the driver. kysely caches one
 * connection object per pg client, so each is wrapped once.
 */
class MappingPostgresDriver extends PostgresDriver {
  override async acquireConnection(): Promise<DatabaseConnection> {
    let connection: DatabaseConnection & { [wrapped]?: true };
    try {
      connection = await super.acquireConnection();
    } catch (err) {
      throw mapConnectionError(err);
    }
    if (!connection[wrapped]) {
      const executeQuery = connection.executeQuery.bind(connection);
      connection.executeQuery = async (query) => {
        try {
          return await executeQuery(query);
        } catch (err) {
          throw mapConnectionError(err);
        }
      };
      connection[wrapped] = true;
    }
    return connection;
  }
}

class MappingPostgresDialect extends PostgresDialect {
  readonly #config: ConstructorParameters<typeof PostgresDialect>[0];
  constructor(config: ConstructorParameters<typeof PostgresDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new MappingPostgresDriver(this.#config);
  }
}

/** `url`: postgres://USER[:PASSWORD]@HOST:PORT/DB[?pool_size=N]; `poolSize` overrides the URL's. */
export function openPostgres(url: string, opts: { poolSize?: number } = {}): OpenDatabase {
  // Not `new URL()`: libpq's socket form (postgres://user@/db?host=/var/run/postgresql, or postgres:///db) has an
  // empty host, which a WHATWG URL refuses; pg itself reads all of those.
  const q = url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const fromUrl = params.get('pool_size');
  params.delete('pool_size');
  const connectionString = (q < 0 ? url : url.slice(0, q)) + (params.size > 0 ? `?${params}` : '');
  const max = opts.poolSize ?? (fromUrl !== null ? Number(fromUrl) : DEFAULT_POOL_SIZE);
  if (!Number.isInteger(max) || max < 1) throw new Error(`pool_size must be a positive integer, not "${fromUrl ?? opts.poolSize}"`);
  const pool = new pg.Pool({
    connectionString,
    max,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    Client: PreparingClient,
    // Idle connections do not keep a finished process (a CLI command, a test) alive.
    allowExitOnIdle: true,
  });
  // A server restart or a dropped socket errors idle and checked-out clients alike; without a listener that event
  // would end the process. The pool discards such a client on release and opens a new one on the next request.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new MappingPostgresDialect({ pool }) });
  return {
    db,
    isSerializationFailure(err) {
      const code = (err as { code?: unknown })?.code;
      // A prepared statement gone stale aborted the transaction; its rerun runs that text unnamed (pg-prepared.ts).
      return code === '40001' || code === '40P01' || isStalePreparedStatement(err);
    },
    oneWriterAtATime: false,
    async withMigrationLock(fn) {
      // A session-level advisory lock held on one connection for the whole run: a second process starting at the
      // same time waits here, then finds every migration applied (CREATE TABLE IF NOT EXISTS alone races on
      // PostgreSQL's catalog).
      return db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
        try {
          return await fn(conn);
        } finally {
          await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
        }
      });
    },
    async close() {
      await db.destroy();
    },
  };
}
