// Keyset paging (store/paging.ts) on both engines the store is written for: a real SQLite file and a private
// PostgreSQL cluster. Walking a list one row at a time by marker must visit every row once, in the order a
// single unpaged query gives, also when the sort column holds NULLs (unnamed volumes sorted by name).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { paged } from '../../src/store/paging.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';

interface Row {
  id: string;
  name: string | null;
  size: number;
}
type Db = Kysely<{ items: Row }>;

const ROWS: Row[] = [
  { id: 'a1', name: null, size: 1 },
  { id: 'a2', name: 'beta', size: 2 },
  { id: 'a3', name: null, size: 1 },
  { id: 'a4', name: 'alpha', size: 2 },
  { id: 'a5', name: 'beta', size: 1 },
  { id: 'a6', name: null, size: 2 },
];

async function seed(db: Db): Promise<void> {
  await db.schema
    .createTable('items')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)')
    .addColumn('size', 'integer', (c) => c.notNull())
    .execute();
  await db.insertInto('items').values(ROWS).execute();
}

async function walk(db: Db, sort: { key: string; dir: 'asc' | 'desc' }[]): Promise<string[]> {
  const seen: string[] = [];
  let marker: Row | undefined;
  for (let i = 0; i <= ROWS.length; i++) {
    const page = await paged(db.selectFrom('items').selectAll(), { sort, markerRow: marker as Record<string, unknown> | undefined, limit: 1 }).execute();
    if (page.length === 0) break;
    seen.push(page[0]!.id);
    marker = page[0];
  }
  return seen;
}

function checks(open: () => Promise<Db>) {
  return () => {
    let db: Db;
    before(async () => {
      db = await open();
      await seed(db);
    });
    after(async () => {
      await db?.destroy();
    });
    for (const sort of [
      [{ key: 'name', dir: 'asc' as const }],
      [{ key: 'name', dir: 'desc' as const }],
      [{ key: 'size', dir: 'asc' as const }, { key: 'name', dir: 'desc' as const }],
      [{ key: 'name', dir: 'asc' as const }, { key: 'size', dir: 'desc' as const }],
    ]) {
      it(`one row a page by ${sort.map((s) => `${s.key} ${s.dir}`).join(', ')} visits every row once, in the unpaged order`, async () => {
        const whole = (await paged(db.selectFrom('items').selectAll(), { sort }).execute()).map((r) => r.id);
        assert.equal(whole.length, ROWS.length);
        assert.deepEqual(await walk(db, sort), whole);
      });
    }
    it('NULL sorts below every value: first ascending, last descending', async () => {
      const asc = await paged(db.selectFrom('items').selectAll(), { sort: [{ key: 'name', dir: 'asc' }] }).execute();
      assert.deepEqual(asc.slice(0, 3).map((r) => r.name), [null, null, null]);
      const desc = await paged(db.selectFrom('items').selectAll(), { sort: [{ key: 'name', dir: 'desc' }] }).execute();
      assert.deepEqual(desc.slice(3).map((r) => r.name), [null, null, null]);
    });
  };
}

let dir: TempDir;
let cluster: PostgresCluster | undefined;
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await cluster?.stop();
  await dir?.cleanup();
});

describe('paging on SQLite', checks(async () => new Kysely({ dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir.path, 'paging.sqlite')) }) })));

describe(
  'paging on PostgreSQL',
  checks(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase();
    return new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  }),
);
