// The PostgreSQL dialect (store/dialects/postgres.ts) on a private cluster: openStore takes a postgres:// URL,
// migrations run once also when two processes open one fresh database at the same moment, the pool is bounded,
// numbers and booleans read back as the repositories expect, and statements run prepared once per connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';
import { MAX_PREPARED_PER_CONNECTION } from '../../src/store/dialects/pg-prepared.js';
import { StoreUnavailable } from '../../src/errors.js';
import { migrations } from '../../src/store/migrations.js';
import * as volumes from '../../src/store/volumes.js';
import { addUsage, TOTAL } from '../../src/store/quotas.js';
import { dbBool, nowTimestamp, toBool } from '../../src/store/schema.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';

let cluster: PostgresCluster;
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await cluster?.stop();
});

function newVolume(id = randomUUID()): volumes.NewVolume {
  return {
    id, project_id: 'p', user_id: 'u', name: null, description: null, size: 3, status: 'available', attach_status: 'detached',
    multiattach: dbBool(true), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
    provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null,
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  };
}

test('openStore opens a postgres:// URL, migrates it once, and a reopen applies nothing and keeps the data', async () => {
  const url = await cluster.createDatabase();
  const first = await openStore({ url });
  assert.deepEqual(first.appliedMigrations, migrations.map((m) => m.version));
  const id = randomUUID();
  await volumes.insertVolume(first.db, newVolume(id));
  await first.close();
  const second = await openStore({ url: url.replace(/^postgres:/, 'postgresql:') });
  try {
    assert.deepEqual(second.appliedMigrations, []);
    const row = await volumes.findVolume(second.db, id);
    assert.ok(row);
    assert.equal(row.size, 3);
    assert.equal(toBool(row.multiattach), true);
    assert.equal(toBool(row.bootable), false);
  } finally {
    await second.close();
  }
});

test('two opens at once on one fresh database: every migration is applied exactly once, by one of them', async () => {
  const url = await cluster.createDatabase();
  const [a, b] = await Promise.all([openStore({ url }), openStore({ url })]);
  try {
    const all = migrations.map((m) => m.version);
    assert.deepEqual([...a.appliedMigrations, ...b.appliedMigrations].sort((x, y) => x - y), all);
    const recorded = await a.db.selectFrom('embervol_migrations').select('version').orderBy('version').execute();
    assert.deepEqual(recorded.map((r) => r.version), all);
  } finally {
    await a.close();
    await b.close();
  }
});

test('the pool is bounded: pool_size=2 runs 8 concurrent statements on at most 2 server connections', async () => {
  const store = await openStore({ url: `${await cluster.createDatabase()}?pool_size=2` });
  try {
    const pids = await Promise.all(
      Array.from({ length: 8 }, () => sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.05)`.execute(store.db).then((r) => r.rows[0]!.pid)),
    );
    assert.ok(new Set(pids).size <= 2, `backends used: ${[...new Set(pids)].join(', ')}`);
    assert.ok(new Set(pids).size >= 1);
  } finally {
    await store.close();
  }
  await assert.rejects(openStore({ url: `${await cluster.createDatabase()}?pool_size=zero` }), /pool_size must be a positive integer/);
});

test("libpq's socket form (postgres://USER@/DB?host=SOCKET_DIR, no host in the authority) opens the same database, with pool_size", async () => {
  const url = new URL(await cluster.createDatabase());
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  const socketDir = (await admin.query('show unix_socket_directories')).rows[0].unix_socket_directories as string;
  await admin.end();
  const socketUrl = `postgres://${url.username}@/${url.pathname.slice(1)}?host=${encodeURIComponent(socketDir)}&port=${url.port}&pool_size=1`;
  const store = await openStore({ url: socketUrl });
  try {
    const r = await sql<{ db: string; addr: string | null }>`select current_database() as db, inet_client_addr()::text as addr`.execute(store.db);
    // No client address: the connection came through the socket, not TCP.
    assert.deepEqual(r.rows[0], { db: url.pathname.slice(1), addr: null });
  } finally {
    await store.close();
  }
});

test('bigint quota figures and count(*) read back as numbers, as on SQLite', async () => {
  const store = await openStore({ url: await cluster.createDatabase() });
  try {
    assert.equal(await addUsage(store.db, 'p', { resource: 'gigabytes', typeId: TOTAL }, 7, -1), true);
    const row = await store.db.selectFrom('quota_usages').select('in_use').where('project_id', '=', 'p').executeTakeFirstOrThrow();
    assert.strictEqual(row.in_use, 7);
    await volumes.insertVolume(store.db, newVolume());
    const { n } = await store.db.selectFrom('volumes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.strictEqual(n, 1);
  } finally {
    await store.close();
  }
});

test('every pooled connection busy for longer than the wait: StoreUnavailable; the same store serves once one is free', async () => {
  const store = await openStore({ url: await cluster.createDatabase(), poolSize: 1 });
  try {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const isHolding = new Promise<void>((r) => (holding = r));
    const holder = store.transaction(async (trx) => {
      await sql`select 1`.execute(trx);
      holding();
      await held;
    });
    await isHolding;
    await assert.rejects(sql`select 1`.execute(store.db), StoreUnavailable);
    release();
    await holder;
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(store.db);
    assert.equal(rows[0]!.one, 1);
  } finally {
    await store.close();
  }
});

test('a connection lost inside a transaction: StoreUnavailable, nothing of the transaction committed, the next one succeeds', async () => {
  const url = await cluster.createDatabase();
  const store = await openStore({ url });
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  try {
    const id = randomUUID();
    await assert.rejects(
      store.transaction(async (trx) => {
        await volumes.insertVolume(trx, newVolume(id));
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // As a server restart or a network cut would: the backend holding the open transaction goes away.
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await volumes.insertVolume(trx, newVolume());
      }),
      StoreUnavailable,
    );
    assert.equal(await volumes.findVolume(store.db, id), undefined, 'the first insert was rolled back with its transaction');
    await volumes.insertVolume(store.db, newVolume(id));
    assert.ok(await volumes.findVolume(store.db, id));
  } finally {
    await admin.end();
    await store.close();
  }
});

// Named prepared statements (store/dialects/pg-prepared.ts).

/** A store with one connection, so that every statement runs on the connection whose prepared statements we read. */
async function oneConnectionStore(): Promise<{ store: Store; url: string }> {
  const url = await cluster.createDatabase();
  return { store: await openStore({ url, poolSize: 1 }), url };
}

async function preparedTexts(store: Store): Promise<string[]> {
  const r = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(store.db);
  return r.rows.map((row) => row.statement);
}

test('a parameterised statement is prepared once on its connection and reused', async () => {
  const { store } = await oneConnectionStore();
  try {
    const v = newVolume();
    await volumes.insertVolume(store.db, v);
    for (let i = 0; i < 3; i++) assert.equal((await volumes.findVolume(store.db, v.id))?.id, v.id);
    const findById = (await preparedTexts(store)).filter((t) => t.startsWith('select * from "volumes" where "id" = $1'));
    assert.equal(findById.length, 1);
  } finally {
    await store.close();
  }
});

test(`a connection prepares at most ${MAX_PREPARED_PER_CONNECTION} texts; the others still run`, async () => {
  const { store } = await oneConnectionStore();
  try {
    for (let n = 0; n < MAX_PREPARED_PER_CONNECTION + 20; n++) {
      const r = await sql<{ v: number }>`select ${n}::int + ${sql.lit(n)} as v`.execute(store.db);
      assert.equal(r.rows[0]!.v, 2 * n);
    }
    assert.equal((await preparedTexts(store)).length, MAX_PREPARED_PER_CONNECTION);
  } finally {
    await store.close();
  }
});

test('a prepared select * whose table gained a column (another process migrated) runs again, alone and in a transaction', async () => {
  const { store, url } = await oneConnectionStore();
  const other = new pg.Client({ connectionString: url });
  try {
    const v = newVolume();
    await volumes.insertVolume(store.db, v);
    const byIdLimited = (db: Store['db']) => db.selectFrom('volumes').selectAll().where('id', '=', v.id).limit(1).executeTakeFirst();
    // Both texts prepared on the connection before the column comes.
    assert.equal((await volumes.findVolume(store.db, v.id))?.id, v.id);
    assert.equal((await byIdLimited(store.db))?.id, v.id);
    await other.connect();
    await other.query('alter table volumes add column added_by_a_later_version text');
    // Alone: the statement is run again unnamed.
    const alone = (await volumes.findVolume(store.db, v.id)) as Record<string, unknown> | undefined;
    assert.equal(alone?.id, v.id);
    assert.ok('added_by_a_later_version' in alone!);
    // In a transaction the error aborts it; the store runs the transaction again.
    let runs = 0;
    const inTx = (await store.transaction(async (trx) => {
      runs++;
      return byIdLimited(trx);
    })) as Record<string, unknown> | undefined;
    assert.equal(inTx?.id, v.id);
    assert.ok('added_by_a_later_version' in inTx!);
    assert.equal(runs, 2);
  } finally {
    await other.end();
    await store.close();
  }
});
