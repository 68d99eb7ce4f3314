// The quota store's contract on PostgreSQL (many writers, READ COMMITTED): the conditional UPDATE that charges
// usage lets exactly as many concurrent transactions through as the limit allows, and stored usage equals the
// recount, as on SQLite (test/workflow/quotas.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { runMigrations } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { dbBool, nowTimestamp } from '../../src/store/schema.js';
import { addUsage, recountUsage, storedUsage, TOTAL, usageFingerprint } from '../../src/store/quotas.js';

let cluster: PostgresCluster;
let db: Kysely<Database>;
before(async () => {
  cluster = await startPostgres();
  db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: await cluster.createDatabase(), max: 10 }) }) });
  await runMigrations(db);
});
after(async () => {
  await db?.destroy();
  await cluster?.stop();
});

test('20 concurrent transactions charging one volume each against a limit of 5: exactly 5 commit, usage equals the recount', async () => {
  const attempt = () =>
    db.transaction().execute(async (trx) => {
      const id = randomUUID();
      await trx
        .insertInto('volumes')
        .values({
          id, project_id: 'pgq', user_id: 'u', name: null, description: null, size: 2, status: 'creating', attach_status: 'detached',
          multiattach: dbBool(false), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
          provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null, created_at: nowTimestamp(),
          updated_at: null, deleted_at: null, deleted: dbBool(false),
        })
        .execute();
      if (!(await addUsage(trx, 'pgq', { resource: 'volumes', typeId: TOTAL }, 1, 5))) throw new Error('over quota');
      if (!(await addUsage(trx, 'pgq', { resource: 'gigabytes', typeId: TOTAL }, 2, 1000))) throw new Error('over quota');
    });
  const results = await Promise.allSettled(Array.from({ length: 20 }, attempt));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as Error).message, 'over quota');
  const stored = usageFingerprint(await storedUsage(db));
  assert.deepEqual(stored, usageFingerprint(await recountUsage(db)));
  assert.deepEqual(stored.pgq, { 'gigabytes/': 10, 'volumes/': 5 });
});
