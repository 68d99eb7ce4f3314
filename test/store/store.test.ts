// The store on the engine under test (test/support/database.ts): migrations that run once, compare-and-swap
// updates; and SQLite's own settings and URL forms on a real SQLite file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../../src/store/index.js';
import { StoreUnavailable } from '../../src/errors.js';
import * as volumes from '../../src/store/volumes.js';
import * as attachments from '../../src/store/attachments.js';
import * as types from '../../src/store/volume-types.js';
import { DEFAULT_TYPE_NAME, migrations, runMigrations, type Migration } from '../../src/store/migrations.js';
import { dbBool, nowTimestamp, toBool } from '../../src/store/schema.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { freshDatabaseUrl } from '../support/database.js';

let dir: TempDir;
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await dir?.cleanup();
});

function newVolume(id = randomUUID(), status = 'available'): volumes.NewVolume {
  return {
    id, project_id: 'p', user_id: 'u', name: null, description: null, size: 1, status, attach_status: 'detached',
    multiattach: dbBool(false), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
    provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null,
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  };
}

test('opens in WAL mode with synchronous=FULL and foreign keys on', async () => {
  const path = join(dir.path, 'pragmas.sqlite');
  const store = await openStore({ url: path });
  try {
    // Ask a second, independent connection: journal_mode is a property of the file.
    const probe = new BetterSqlite3(path);
    assert.equal(probe.pragma('journal_mode', { simple: true }), 'wal');
    probe.close();
    const { sql } = await import('kysely');
    const sync = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db);
    assert.equal(sync.rows[0].synchronous, 2, 'FULL');
    const fk = await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(store.db);
    assert.equal(fk.rows[0].foreign_keys, 1);
  } finally {
    await store.close();
  }
});

test('migrations run once: a reopen applies nothing and keeps the data', async () => {
  const url = await freshDatabaseUrl(dir.path, 'reopen');
  const first = await openStore({ url });
  assert.deepEqual(first.appliedMigrations, migrations.map((m) => m.version));
  const id = randomUUID();
  await volumes.insertVolume(first.db, newVolume(id));
  await first.close();

  const second = await openStore({ url });
  try {
    assert.deepEqual(second.appliedMigrations, []);
    assert.ok(await volumes.findVolume(second.db, id));
    const defaults = (await types.listTypes(second.db, { publicOnly: false })).filter((t) => t.name === DEFAULT_TYPE_NAME);
    assert.equal(defaults.length, 1, 'the default type exists exactly once');
    const recorded = await second.db.selectFrom('embervol_migrations').select('version').orderBy('version').execute();
    assert.deepEqual(recorded.map((r) => r.version), migrations.map((m) => m.version));
  } finally {
    await second.close();
  }
});

test('a failing migration leaves no trace (it runs in a transaction)', async () => {
  const store = await openStore({ url: await freshDatabaseUrl(dir.path, 'failing') });
  try {
    const broken: Migration = {
      version: 99,
      name: 'half-done',
      async up(trx) {
        await trx.schema.createTable('half').addColumn('x', 'integer').execute();
        throw new Error('boom');
      },
    };
    await assert.rejects(runMigrations(store.db, [broken]), /boom/);
    const tables = await store.db.introspection.getTables();
    assert.ok(!tables.some((t) => t.name === 'half'));
    const v = await store.db.selectFrom('embervol_migrations').select('version').where('version', '=', 99).executeTakeFirst();
    assert.equal(v, undefined);
  } finally {
    await store.close();
  }
});

test('casVolume changes the row only when every expectation holds', async () => {
  const store = await openStore({ url: await freshDatabaseUrl(dir.path, 'cas') });
  try {
    const id = randomUUID();
    await volumes.insertVolume(store.db, newVolume(id));
    assert.equal(await volumes.casVolume(store.db, id, { status: 'attaching' }, { status: ['in-use'] }), false);
    assert.equal(await volumes.casVolume(store.db, id, { status: 'attaching' }, { status: ['available'], multiattach: true }), false);
    assert.equal((await volumes.findVolume(store.db, id))!.status, 'available');
    assert.equal(await volumes.casVolume(store.db, id, { status: 'attaching' }, { status: ['available'], multiattach: false }), true);
    assert.equal(await volumes.casVolume(store.db, id, { status: 'attaching' }, { status: ['available'] }), false, 'the second swap sees the first');
    assert.equal(await volumes.casVolume(store.db, id, { status: 'x' }, { migrationStatus: ['migrating'] }), false);
    assert.equal(await volumes.casVolume(store.db, id, { status: 'deleting' }, { migrationStatus: [null, 'success'], attachStatusNot: ['attached'] }), true);
    assert.equal(await volumes.casVolume(store.db, randomUUID(), { status: 'x' }, {}), false, 'unknown id changes nothing');
    // Concurrent swaps on one volume: exactly one wins.
    const other = randomUUID();
    await volumes.insertVolume(store.db, newVolume(other));
    const results = await Promise.all(Array.from({ length: 20 }, () => volumes.casVolume(store.db, other, { status: 'attaching' }, { status: ['available'] })));
    assert.equal(results.filter(Boolean).length, 1);
  } finally {
    await store.close();
  }
});

test('status derivation: first non-error attach_status of live rows wins (as Cinder derives it)', async () => {
  const store = await openStore({ url: await freshDatabaseUrl(dir.path, 'derive') });
  try {
    const id = randomUUID();
    await volumes.insertVolume(store.db, newVolume(id, 'detaching'));
    const add = async (attachStatus: string) => {
      const aid = randomUUID();
      await attachments.insertAttachment(store.db, {
        id: aid, volume_id: id, instance_uuid: null, attached_host: null, mountpoint: '/dev/vdb', attach_time: nowTimestamp(),
        detach_time: null, attach_status: attachStatus, attach_mode: 'rw', connection_info: null, connector: null, initiator: null,
        created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
      });
      return aid;
    };
    const reserved = await add('reserved');
    const attaching = await add('attaching');
    const attached = await add('attached');
    await add('error_attaching');
    const derive = () => store.transaction((trx) => attachments.recomputeVolumeStatus(trx, id));
    assert.deepEqual(await derive(), { status: 'in-use', attachStatus: 'attached' });
    await attachments.softDeleteAttachment(store.db, attached);
    assert.deepEqual(await derive(), { status: 'attaching', attachStatus: 'attaching' });
    await attachments.softDeleteAttachment(store.db, attaching);
    assert.deepEqual(await derive(), { status: 'reserved', attachStatus: 'reserved' });
    await attachments.softDeleteAttachment(store.db, reserved);
    assert.deepEqual(await derive(), { status: 'available', attachStatus: 'detached' }, 'an error row does not keep the volume busy');
    const row = (await volumes.findVolume(store.db, id))!;
    assert.equal(row.status, 'available');
    const gone = await store.db.selectFrom('volume_attachment').selectAll().where('id', '=', attached).executeTakeFirstOrThrow();
    assert.equal(gone.attach_status, 'detached');
    assert.ok(gone.detach_time && gone.deleted_at);
  } finally {
    await store.close();
  }
});

test('unreserve is one statement: attaching -> in-use with a live attachment, else available; other states untouched', async () => {
  const store = await openStore({ url: await freshDatabaseUrl(dir.path, 'unreserve') });
  try {
    const plain = randomUUID();
    await volumes.insertVolume(store.db, newVolume(plain, 'attaching'));
    assert.equal(await volumes.unreserve(store.db, plain), true);
    assert.equal((await volumes.findVolume(store.db, plain))!.status, 'available');
    assert.equal(await volumes.unreserve(store.db, plain), false, 'not attaching: nothing to do');
    const used = randomUUID();
    await volumes.insertVolume(store.db, newVolume(used, 'attaching'));
    await attachments.insertAttachment(store.db, {
      id: randomUUID(), volume_id: used, instance_uuid: null, attached_host: 'h', mountpoint: '/dev/vdb', attach_time: nowTimestamp(),
      detach_time: null, attach_status: 'attached', attach_mode: 'rw', connection_info: null, connector: null, initiator: null,
      created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
    });
    assert.equal(await volumes.unreserve(store.db, used), true);
    assert.equal((await volumes.findVolume(store.db, used))!.status, 'in-use');
  } finally {
    await store.close();
  }
});

test('volume type names are unique among live types only', async () => {
  const store = await openStore({ url: await freshDatabaseUrl(dir.path, 'types') });
  try {
    const a = randomUUID();
    await types.insertType(store.db, { id: a, name: 'gold', description: null, isPublic: true });
    // SQLite: "UNIQUE constraint failed"; PostgreSQL: "duplicate key value violates unique constraint".
    await assert.rejects(types.insertType(store.db, { id: randomUUID(), name: 'gold', description: null, isPublic: true }), /unique constraint/i);
    await types.softDeleteType(store.db, a);
    await types.insertType(store.db, { id: randomUUID(), name: 'gold', description: null, isPublic: true });
    assert.equal(toBool((await types.findTypeByName(store.db, 'gold'))!.deleted), false);
  } finally {
    await store.close();
  }
});

test('openStore takes sqlite:PATH or a bare path to the same file, and refuses what it cannot open', async () => {
  const path = join(dir.path, 'url.sqlite');
  const byUrl = await openStore({ url: `sqlite:${path}` });
  const id = randomUUID();
  await volumes.insertVolume(byUrl.db, newVolume(id));
  await byUrl.close();
  const byPath = await openStore({ url: path });
  try {
    assert.ok(await volumes.findVolume(byPath.db, id), 'the bare path opened the file the URL named');
  } finally {
    await byPath.close();
  }
  // Port 1 on loopback refuses: the store reports the database as unavailable (503 at the API), not a crash.
  await assert.rejects(openStore({ url: 'postgres://embervol@127.0.0.1:1/embervol' }), StoreUnavailable);
  await assert.rejects(openStore({ url: 'mysql://localhost/embervol' }), /unknown database URL scheme "mysql:"/);
});
