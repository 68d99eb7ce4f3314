// Quota accounting in the workflow: concurrent requests racing for the last units, the reconciler finishing an
// extend a crash cut off, the migration that charges volumes created before quotas existed, and stored usage
// always equal to recountUsage().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { CinderFault } from '../../src/errors.js';
import { openDatabase, openStore } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { migrations, runMigrations } from '../../src/store/migrations.js';
import * as volumes from '../../src/store/volumes.js';
import { dbBool, nowTimestamp } from '../../src/store/schema.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';
import { withVolumeCharge } from '../../src/workflow/quotas.js';
import { adminCtx, availableVolume, makeEnv, memberCtx, type Env } from './fixture.js';
import { makeTempDir } from '../support/tmp.js';

async function assertNoDrift(env: Env): Promise<void> {
  const db = env.store.db;
  assert.deepEqual(usageFingerprint(await storedUsage(db)), usageFingerprint(await recountUsage(db)));
}

test('30 concurrent creates against a limit of 5 volumes: exactly 5 succeed, the rest are 413 and leave no row', async () => {
  const env = await makeEnv({ cinderQuotas: true });
  try {
    const admin = adminCtx('race');
    await env.workflow.updateQuotaSet(admin, 'race', { volumes: 5 });
    const ctx = memberCtx('race');
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => env.workflow.createVolume(ctx, { size: 1 })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok.length, 5);
    for (const r of refused) {
      assert.ok(r.reason instanceof CinderFault && r.reason.status === 413, String(r.reason));
    }
    await env.workflow.drain();
    assert.equal((await env.workflow.listVolumes(ctx, {})).volumes.length, 5);
    const u = (await env.workflow.showQuotaSet(admin, 'race', { usage: true })) as Record<string, { in_use: number }>;
    assert.equal(u.volumes.in_use, 5);
    await assertNoDrift(env);
  } finally {
    await env.close();
  }
});

test('concurrent extends of different volumes share the gigabytes limit without exceeding it', async () => {
  const env = await makeEnv({ cinderQuotas: true });
  try {
    const admin = adminCtx('grow');
    const ctx = memberCtx('grow');
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await availableVolume(env, ctx, { size: 1 }));
    await env.workflow.updateQuotaSet(admin, 'grow', { gigabytes: 8 });
    // Each extend asks for 2 more GB; only 2 of the 4 fit in the 4 GB left.
    const results = await Promise.allSettled(ids.map((id) => env.workflow.extend(ctx, id, 3)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
    await env.workflow.drain();
    const u = (await env.workflow.showQuotaSet(admin, 'grow', { usage: true })) as Record<string, { in_use: number }>;
    assert.equal(u.gigabytes.in_use, 8);
    await assertNoDrift(env);
  } finally {
    await env.close();
  }
});

test('an extend cut off by a crash is finished by the reconciler with its charge kept', async () => {
  const env = await makeEnv({ cinderQuotas: true });
  try {
    const ctx = memberCtx('crash');
    const id = await availableVolume(env, ctx, { size: 1 });
    // What extend() commits before its host task starts; the process "dies" before the task runs.
    await env.store.transaction((trx) =>
      withVolumeCharge(trx, id, () => volumes.casVolume(trx, id, { status: 'extending', pending_size: 4, lease_expires_at: nowTimestamp(new Date(0)) }, { status: ['available'] })),
    );
    await assertNoDrift(env);
    const admin = adminCtx('crash');
    let u = (await env.workflow.showQuotaSet(admin, 'crash', { usage: true })) as Record<string, { in_use: number }>;
    assert.equal(u.gigabytes.in_use, 4, 'charged when accepted');
    await env.workflow.reconcile({ startup: true });
    await env.workflow.drain();
    const v = await env.workflow.getVolume(ctx, id);
    assert.equal(v.size, 4);
    assert.equal(v.status, 'available');
    u = (await env.workflow.showQuotaSet(admin, 'crash', { usage: true })) as Record<string, { in_use: number }>;
    assert.equal(u.gigabytes.in_use, 4);
    await assertNoDrift(env);
  } finally {
    await env.close();
  }
});

test('migration 40 charges the volumes that existed before quotas', async () => {
  const dir = await makeTempDir();
  try {
    const url = await freshDatabaseUrl(dir.path, 'old');
    const { db } = openDatabase(url);
    await runMigrations(db, migrations.filter((m) => m.version < 40));
    const row = (project: string, size: number, deleted: boolean, pending: number | null = null) => ({
      id: randomUUID(), project_id: project, user_id: 'u', name: null, description: null, size, status: 'available', attach_status: 'detached',
      multiattach: dbBool(false), bootable: dbBool(false), volume_type_id: '00000000-0000-4000-8000-000000000001', availability_zone: 'nova',
      host: 'h', provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null, created_at: nowTimestamp(),
      updated_at: null, deleted_at: null, deleted: dbBool(deleted), pending_size: pending,
    });
    for (const r of [row('a', 2, false), row('a', 3, false, 5), row('a', 7, true), row('b', 1, false)]) await db.insertInto('volumes').values(r).execute();
    await db.destroy();
    const store = await openStore({ url });
    try {
      assert.deepEqual(store.appliedMigrations.filter((v) => v >= 40 && v < 50), [40, 41, 42]);
      const stored = usageFingerprint(await storedUsage(store.db));
      assert.deepEqual(stored, usageFingerprint(await recountUsage(store.db)));
      assert.equal(stored.a['volumes/'], 2);
      assert.equal(stored.a['gigabytes/'], 7, 'live sizes, a pending extend at its target size, deleted rows not counted');
      assert.equal(stored.b['gigabytes/'], 1);
    } finally {
      await store.close();
    }
  } finally {
    await dir.cleanup();
  }
});
