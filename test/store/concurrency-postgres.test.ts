// The read-then-write steps that SQLite's single writer made safe, run by many concurrent transactions from several
// Stores (several pools, as several API processes would have) on one PostgreSQL database. A barrier inside each
// transaction's first run holds every transaction after its first read until all have read, the worst interleaving;
// SERIALIZABLE then fails all but the first committer of a conflict and the store's helper runs them again
// (store/index.ts). The same interleaving under REPEATABLE READ shows the race each test guards against.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { openStore, type Store } from '../../src/store/index.js';
import { insertEvents, type NewEvent } from '../../src/store/events.js';
import * as volumes from '../../src/store/volumes.js';
import * as attachments from '../../src/store/attachments.js';
import { addUsage, recountUsage, storedUsage, TOTAL, usageFingerprint } from '../../src/store/quotas.js';
import { dbBool, nowTimestamp, type Database } from '../../src/store/schema.js';
import { allowedInitiators } from '../../src/workflow/exports.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';

const PROCESSES = 4;

let cluster: PostgresCluster;
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await cluster?.stop();
});

/** PROCESSES stores on one fresh database, the first of which migrated it. */
async function openStores(): Promise<Store[]> {
  const url = await cluster.createDatabase();
  const first = await openStore({ url });
  const rest = await Promise.all(Array.from({ length: PROCESSES - 1 }, () => openStore({ url })));
  return [first, ...rest];
}

async function closeAll(stores: Store[]): Promise<void> {
  for (const s of stores) await s.close();
}

/** Resolves once `n` callers wait on it. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return () => {
    if (++arrived === n) release();
    return all;
  };
}

/**
 * Runs `n` transactions spread over the stores; each one's first run waits at a shared barrier after `read`.
 * `isolation` 'serializable' goes through store.transaction (the contract); 'repeatable read' is the control.
 */
async function race<T>(
  stores: Store[],
  n: number,
  isolation: 'serializable' | 'repeatable read',
  read: (trx: Transaction<Database>) => Promise<unknown>,
  write: (trx: Transaction<Database>, i: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const wait = barrier(n);
  return Promise.allSettled(
    Array.from({ length: n }, async (_, i) => {
      let firstRun = true;
      const fn = async (trx: Transaction<Database>) => {
        await read(trx);
        if (firstRun) {
          firstRun = false;
          await wait();
        }
        return write(trx, i);
      };
      const store = stores[i % stores.length]!;
      return isolation === 'serializable' ? store.transaction(fn) : store.db.transaction().setIsolationLevel('repeatable read').execute(fn);
    }),
  );
}

function newVolume(project: string, multiattach = false): volumes.NewVolume {
  return {
    id: randomUUID(), project_id: project, user_id: 'u', name: null, description: null, size: 2, status: 'in-use', attach_status: 'attached',
    multiattach: dbBool(multiattach), bootable: dbBool(false), volume_type_id: null, availability_zone: 'nova', host: 'h',
    provider_location: null, provider_auth: null, migration_status: null, encryption_key_id: null,
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  };
}

const event = (volumeId: string, i: number): NewEvent => ({
  volumeId, resourceType: 'volume', resourceId: volumeId, action: `step-${i}`, from: 'a', to: 'b', userId: 'u', projectId: 'p', requestId: null,
});

async function seqs(db: Kysely<Database>): Promise<number[]> {
  return (await db.selectFrom('volume_events').select('seq').orderBy('seq').execute()).map((r) => r.seq);
}

test('event numbering: 24 concurrent transactions from 4 stores on 6 volumes, 2 events each: every history is numbered 1..8', async () => {
  const stores = await openStores();
  try {
    const volumeIds = Array.from({ length: 6 }, () => randomUUID());
    const results = await race(stores, 24, 'serializable', (trx) => trx.selectFrom('volume_events').select('seq').execute(), (trx, i) =>
      insertEvents(trx, [event(volumeIds[i % 6]!, 2 * i), event(volumeIds[i % 6]!, 2 * i + 1)]),
    );
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    for (const id of volumeIds) {
      const rows = await stores[0]!.db.selectFrom('volume_events').select(['seq', 'action']).where('volume_id', '=', id).orderBy('seq').execute();
      assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
      // Within one transaction the two events stay adjacent and in order.
      for (let k = 0; k < rows.length; k += 2) assert.equal(Number(rows[k]!.action.slice(5)) + 1, Number(rows[k + 1]!.action.slice(5)));
    }
  } finally {
    await closeAll(stores);
  }
});

test('control: the same interleaving under REPEATABLE READ numbers events twice (the race is real)', async () => {
  const stores = await openStores();
  try {
    const id = randomUUID();
    const results = await race(stores, 8, 'repeatable read', (trx) => trx.selectFrom('volume_events').select('seq').execute(), (trx, i) => insertEvents(trx, [event(id, i)]));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
    const got = await seqs(stores[0]!.db);
    assert.equal(got.length, 8);
    assert.ok(new Set(got).size < got.length, `expected duplicate numbers, got ${got.join(',')}`);
  } finally {
    await closeAll(stores);
  }
});

/**
 * terminate_connection / detach's decision: remove my attachment, then revoke the initiator's ACL entry only if no
 * other live attachment or pending connection still uses it (workflow/exports.ts allowedInitiators).
 */
async function detachAndDecide(trx: Transaction<Database>, volumeId: string, attachmentId: string, initiator: string): Promise<boolean> {
  await attachments.softDeleteAttachment(trx, attachmentId);
  const live = await attachments.liveAttachments(trx, [volumeId]);
  return !allowedInitiators(live, []).has(initiator);
}

async function sharedInitiatorVolume(store: Store, initiator: string, n: number): Promise<{ volumeId: string; attachmentIds: string[] }> {
  const v = newVolume('acl', true);
  await volumes.insertVolume(store.db, v);
  const attachmentIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    attachmentIds.push(id);
    await attachments.insertAttachment(store.db, {
      id, volume_id: v.id, instance_uuid: randomUUID(), attached_host: 'compute-a', mountpoint: '/dev/vdb', attach_time: nowTimestamp(),
      detach_time: null, attach_status: 'attached', attach_mode: 'rw', connection_info: null, connector: null, initiator,
      created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
    });
  }
  return { volumeId: v.id, attachmentIds };
}

test('ACL decision: 8 instances on one compute host detached at once through 4 stores: exactly the last one revokes the initiator', async () => {
  const stores = await openStores();
  try {
    const initiator = 'iqn.1994-05.com.redhat:compute-a';
    const { volumeId, attachmentIds } = await sharedInitiatorVolume(stores[0]!, initiator, 8);
    const results = await race(stores, 8, 'serializable', (trx) => attachments.liveAttachments(trx, [volumeId]), (trx, i) =>
      detachAndDecide(trx, volumeId, attachmentIds[i]!, initiator),
    );
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    const revokes = results.filter((r) => r.status === 'fulfilled' && r.value === true).length;
    assert.equal(revokes, 1, 'one revoke: none would leave compute-a logged in with no attachment, two would be harmless but wrong');
    assert.deepEqual(await attachments.liveAttachments(stores[0]!.db, [volumeId]), []);
  } finally {
    await closeAll(stores);
  }
});

test('control: the same detaches under REPEATABLE READ all keep the entry (write skew: an ACL entry no attachment needs)', async () => {
  const stores = await openStores();
  try {
    const initiator = 'iqn.1994-05.com.redhat:compute-b';
    const { volumeId, attachmentIds } = await sharedInitiatorVolume(stores[0]!, initiator, 4);
    const results = await race(stores, 4, 'repeatable read', (trx) => attachments.liveAttachments(trx, [volumeId]), (trx, i) =>
      detachAndDecide(trx, volumeId, attachmentIds[i]!, initiator),
    );
    assert.deepEqual(results.map((r) => r.status === 'fulfilled' && r.value), [false, false, false, false]);
    assert.deepEqual(await attachments.liveAttachments(stores[0]!.db, [volumeId]), []);
  } finally {
    await closeAll(stores);
  }
});

test('quota: 24 concurrent creates from 4 stores against a limit of 5 volumes: exactly 5 commit, usage equals the recount', async () => {
  const stores = await openStores();
  try {
    const results = await race(
      stores,
      24,
      'serializable',
      (trx) => trx.selectFrom('quota_usages').selectAll().where('project_id', '=', 'q').execute(),
      async (trx) => {
        await volumes.insertVolume(trx, newVolume('q'));
        if (!(await addUsage(trx, 'q', { resource: 'volumes', typeId: TOTAL }, 1, 5))) throw new Error('over quota');
        if (!(await addUsage(trx, 'q', { resource: 'gigabytes', typeId: TOTAL }, 2, 1000))) throw new Error('over quota');
      },
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as Error).message, 'over quota');
    const db = stores[0]!.db;
    const stored = usageFingerprint(await storedUsage(db));
    assert.deepEqual(stored, usageFingerprint(await recountUsage(db)));
    assert.deepEqual(stored.q, { 'gigabytes/': 10, 'volumes/': 5 });
  } finally {
    await closeAll(stores);
  }
});

/**
 * An attach step as tracked() (workflow/events.ts) runs it: the volume's transition state, a new attachment, the
 * status swap and an event. `pause` runs between the reads and the writes.
 */
async function attachStep(trx: Transaction<Database>, volumeId: string, pause: () => Promise<void>): Promise<void> {
  await volumes.transitionState(trx, volumeId);
  await pause();
  await attachments.insertAttachment(trx, {
    id: randomUUID(), volume_id: volumeId, instance_uuid: randomUUID(), attached_host: 'compute-a', mountpoint: '/dev/vdb', attach_time: nowTimestamp(),
    detach_time: null, attach_status: 'attached', attach_mode: 'rw', connection_info: null, connector: null, initiator: 'iqn.1994-05.com.redhat:compute-a',
    created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false),
  });
  await volumes.updateVolume(trx, volumeId, { status: 'in-use', attach_status: 'attached' });
  await insertEvents(trx, [event(volumeId, 0)]);
}

async function availableVolumes(store: Store, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = { ...newVolume('side'), status: 'available', attach_status: 'detached' };
    await volumes.insertVolume(store.db, v);
    ids.push(v.id);
  }
  return ids;
}

test('volume transactions: attach steps on 8 volumes through 4 stores are all inside at once and none runs twice', async () => {
  const stores = await openStores();
  try {
    const ids = await availableVolumes(stores[0]!, 8);
    // Every step waits inside its transaction until all 8 are inside: they cannot be holding each other out.
    const allInside = barrier(8);
    const runs = new Array<number>(8).fill(0);
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        stores[i % PROCESSES]!.volumeTransaction(id, (trx) => {
          runs[i]!++;
          return attachStep(trx, id, allInside);
        }),
      ),
    );
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    assert.deepEqual(runs, new Array<number>(8).fill(1));
    for (const id of ids) assert.equal((await volumes.findVolume(stores[0]!.db, id))?.status, 'in-use');
  } finally {
    await closeAll(stores);
  }
});

test('control: the same steps as SERIALIZABLE transactions fail each other on shared index pages and run again', async () => {
  const stores = await openStores();
  try {
    const ids = await availableVolumes(stores[0]!, 8);
    const allRead = barrier(8);
    const runs = new Array<number>(8).fill(0);
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        stores[i % PROCESSES]!.transaction((trx) => {
          // Only the first run waits: a rerun finds the others gone on.
          const first = runs[i]++ === 0;
          return attachStep(trx, id, () => (first ? allRead() : Promise.resolve()));
        }),
      ),
    );
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    assert.ok(runs.some((n) => n > 1), `expected serialization failures between steps on different volumes, runs ${runs.join(',')}`);
  } finally {
    await closeAll(stores);
  }
});

test('volume transactions on one volume: 8 detaches through 4 stores, each pausing before its decision: exactly the last one revokes', async () => {
  const stores = await openStores();
  try {
    const initiator = 'iqn.1994-05.com.redhat:compute-c';
    const { volumeId, attachmentIds } = await sharedInitiatorVolume(stores[0]!, initiator, 8);
    const results = await Promise.allSettled(
      attachmentIds.map((attachmentId, i) =>
        stores[i % PROCESSES]!.volumeTransaction(volumeId, async (trx) => {
          await attachments.liveAttachments(trx, [volumeId]);
          // Long enough for every other detach to have started: they wait for this one, not read beside it.
          await new Promise((r) => setTimeout(r, 20));
          return detachAndDecide(trx, volumeId, attachmentId, initiator);
        }),
      ),
    );
    assert.deepEqual(results.filter((r) => r.status === 'rejected'), []);
    assert.equal(results.filter((r) => r.status === 'fulfilled' && r.value === true).length, 1);
    assert.deepEqual(await attachments.liveAttachments(stores[0]!.db, [volumeId]), []);
  } finally {
    await closeAll(stores);
  }
});

test('control: the same detaches in READ COMMITTED transactions that do not hold the volume all keep the entry', async () => {
  const stores = await openStores();
  try {
    const initiator = 'iqn.1994-05.com.redhat:compute-d';
    const { volumeId, attachmentIds } = await sharedInitiatorVolume(stores[0]!, initiator, 4);
    const allDeleted = barrier(4);
    const results = await Promise.allSettled(
      attachmentIds.map((attachmentId, i) =>
        stores[i % PROCESSES]!.db
          .transaction()
          .setIsolationLevel('read committed')
          .execute(async (trx) => {
            await attachments.softDeleteAttachment(trx, attachmentId);
            await allDeleted();
            return !allowedInitiators(await attachments.liveAttachments(trx, [volumeId]), []).has(initiator);
          }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status === 'fulfilled' && r.value), [false, false, false, false]);
  } finally {
    await closeAll(stores);
  }
});

test('a SERIALIZABLE step that read a volume before a volume transaction committed, then claims the row, runs again and sees it', async () => {
  const stores = await openStores();
  try {
    const [id] = await availableVolumes(stores[0]!, 1);
    let release!: () => void;
    const attached = new Promise<void>((r) => (release = r));
    let firstReadDone!: () => void;
    const firstRead = new Promise<void>((r) => (firstReadDone = r));
    const seen: number[] = [];
    // A delete-like step: reads the live attachments, then claims the volume row (casVolume with no change).
    const claim = stores[0]!.transaction(async (trx) => {
      seen.push((await attachments.liveAttachments(trx, [id!])).length);
      if (seen.length === 1) {
        firstReadDone();
        await attached;
      }
      return volumes.casVolume(trx, id!, {}, { status: ['available', 'in-use'] });
    });
    await firstRead;
    await stores[1]!.volumeTransaction(id!, (trx) => attachStep(trx, id!, async () => undefined));
    release();
    assert.equal(await claim, true);
    assert.deepEqual(seen, [0, 1]);
  } finally {
    await closeAll(stores);
  }
});
