// Group commit on a real SQLite file (store/dialects/sqlite-group-commit.ts): transactions started together share
// one COMMIT, yet each behaves as if it had committed alone: a failing one takes back only its own writes, and
// whoever awaited a write or a read goes on only once it is committed (another connection sees it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../../src/store/index.js';
import * as volumes from '../../src/store/volumes.js';
import { dbBool, nowTimestamp } from '../../src/store/schema.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';

let dir: TempDir;
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await dir?.cleanup();
});

function newVolume(id: string): volumes.NewVolume {
  return {
    id, project_id: 'p', user_id: 'u', name: null, description: null, size: 1, status: 'available', attach_status: 'detached',
    multiattach: dbBool(false), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
    provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null,
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  };
}

/** Live volume ids as a second, independent connection sees them: only what is committed. */
function committedIds(path: string): Set<string> {
  const probe = new BetterSqlite3(path, { readonly: true });
  try {
    return new Set((probe.prepare('SELECT id FROM volumes').all() as { id: string }[]).map((r) => r.id));
  } finally {
    probe.close();
  }
}

test('transactions started together all commit, and a failing one takes back only its own writes', async () => {
  const path = join(dir.path, 'together.sqlite');
  const store = await openStore({ url: path });
  try {
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        store.transaction(async (trx) => {
          await volumes.insertVolume(trx, newVolume(id));
          await volumes.updateVolume(trx, id, { name: `v${i}` });
          if (i === 7) throw new Error('step refused');
          return i;
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ids.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')),
    );
    assert.equal((results[7] as PromiseRejectedResult).reason.message, 'step refused');
    // Every fulfilled transaction is committed by the time it resolved; the refused one left nothing.
    const committed = committedIds(path);
    ids.forEach((id, i) => assert.equal(committed.has(id), i !== 7, `volume ${i}`));
    const named = await volumes.findVolume(store.db, ids[3]);
    assert.equal(named?.name, 'v3');
  } finally {
    await store.close();
  }
});

test('a write or read outside a transaction goes on only once the group it ran in is committed', async () => {
  const path = join(dir.path, 'plain.sqlite');
  const store = await openStore({ url: path });
  try {
    const inTrx = randomUUID();
    const plain = randomUUID();
    let readSaw: boolean | undefined;
    let committedWhenReadReturned: boolean | undefined;
    await Promise.all([
      store.transaction((trx) => volumes.insertVolume(trx, newVolume(inTrx))),
      (async () => {
        await volumes.insertVolume(store.db, newVolume(plain));
        assert.ok(committedIds(path).has(plain), 'the plain insert is committed when its await returns');
      })(),
      (async () => {
        // Runs in the same turn as the transaction above: it may see the uncommitted row, and then must not
        // go on before that row is committed.
        readSaw = (await volumes.findVolume(store.db, inTrx)) !== undefined;
        committedWhenReadReturned = committedIds(path).has(inTrx);
      })(),
    ]);
    assert.ok(!readSaw || committedWhenReadReturned, 'a read that saw a row returned only after the row was committed');
    assert.ok(committedIds(path).has(inTrx));
  } finally {
    await store.close();
  }
});
