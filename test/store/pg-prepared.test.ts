// Named prepared statements on PostgreSQL (store/dialects/pg-prepared.ts): the store's parameterised statements are
// prepared once per connection, a connection prepares at most MAX_PREPARED_PER_CONNECTION texts, and a statement
// whose result columns a migration changed runs again unnamed, alone or inside a transaction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';
import { MAX_PREPARED_PER_CONNECTION } from '../../src/store/dialects/pg-prepared.js';
import * as volumes from '../../src/store/volumes.js';
import { dbBool, nowTimestamp } from '../../src/store/schema.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';

let cluster: PostgresCluster;
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await cluster?.stop();
});

/** A store with one connection, so that every statement runs on the connection whose prepared statements we read. */
async function oneConnectionStore(): Promise<{ store: Store; url: string }> {
  const url = await cluster.createDatabase();
  return { store: await openStore({ url, poolSize: 1 }), url };
}

async function preparedTexts(store: Store): Promise<string[]> {
  const r = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(store.db);
  return r.rows.map((row) => row.statement);
}

function newVolume(id = randomUUID()): volumes.NewVolume {
  return {
    id, project_id: 'p', user_id: 'u', name: null, description: null, size: 3, status: 'available', attach_status: 'detached',
    multiattach: dbBool(false), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
    provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null,
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  };
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
