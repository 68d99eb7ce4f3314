// Races of Cinder's known weak points (docs/cinder-compatibility.md#known-weak-points) against the real store and the real builtin target: every scenario runs many times
// (EMBERVOL_RACE_ITERATIONS, default 15) and must end with exactly one winner, no orphan export, no orphan row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { adminCtx, connector, INITIATOR_A, INITIATOR_B } from '../workflow/fixture.js';
import * as attachmentsRepo from '../../src/store/attachments.js';
import * as connectionsRepo from '../../src/store/connections.js';
import * as volumesRepo from '../../src/store/volumes.js';
import { targetIqn } from '../support/iqn.js';

const ITERATIONS = Number(process.env.EMBERVOL_RACE_ITERATIONS ?? 15);
const ctx = adminCtx('p-race');
let e: ReliabilityEnv;

before(async () => {
  e = await makeReliabilityEnv({ leases: { attachingMs: 60_000, detachingMs: 60_000, reservedMs: 60_000 } });
});
after(async () => {
  await e.close();
});

async function newVolume(): Promise<string> {
  const v = await e.workflow.createVolume(ctx, { size: 1 });
  await e.workflow.drain();
  return v.id;
}

/** Nova's legacy attach: reserve (optional, tempest skips it) -> initialize -> attach; on failure terminate + unreserve. */
async function legacyAttach(id: string, initiator: string, reserve = true): Promise<boolean> {
  let connected = false;
  try {
    if (reserve) await e.workflow.reserve(ctx, id);
    await e.workflow.initializeConnection(ctx, id, connector(initiator));
    connected = true;
    await e.workflow.attach(ctx, id, { instanceUuid: randomUUID(), mountpoint: '/dev/vdb' });
    return true;
  } catch (err) {
    assert.ok((err as { status?: number }).status! < 500, `a lost race must be a 4xx, got ${(err as Error).message}`);
    if (connected || reserve) {
      await e.workflow.terminateConnection(ctx, id, connector(initiator)).catch(() => undefined);
    }
    return false;
  }
}

async function legacyDetach(id: string, initiator: string): Promise<boolean> {
  try {
    await e.workflow.beginDetaching(ctx, id);
    await e.workflow.terminateConnection(ctx, id, connector(initiator));
    await e.workflow.detach(ctx, id, null);
    return true;
  } catch (err) {
    assert.ok((err as { status?: number }).status! < 500, (err as Error).message);
    return false;
  }
}

async function del(id: string): Promise<boolean> {
  try {
    await e.workflow.deleteVolume(ctx, id);
    return true;
  } catch (err) {
    assert.ok((err as { status?: number }).status! < 500, (err as Error).message);
    return false;
  }
}

/** No orphan row, no orphan export: the database and the target agree about the volume. */
async function assertConsistent(id: string, label: string): Promise<{ deleted: boolean; attached: number }> {
  await e.workflow.drain();
  const row = await volumesRepo.findVolume(e.store.db, id);
  const live = row ? await attachmentsRepo.liveAttachments(e.store.db, [id]) : [];
  const pending = await connectionsRepo.pendingFor(e.store.db, id);
  const exported = (await e.host.listExports!()).includes(id);
  const files = await e.backend.list();
  assert.equal(pending.length, 0, `${label}: no pending connection may outlive the attach it belonged to`);
  if (!row) {
    assert.equal(exported, false, `${label}: a deleted volume has no target`);
    assert.equal(files.includes(id), false, `${label}: a deleted volume has no file`);
    const rows = await e.store.db.selectFrom('volume_attachment').selectAll().where('volume_id', '=', id).where('deleted', '=', 0).execute();
    assert.equal(rows.length, 0, `${label}: a deleted volume has no live attachment rows`);
    return { deleted: true, attached: 0 };
  }
  const attached = live.filter((a) => a.attach_status === 'attached').length;
  assert.equal(row.status, attached > 0 ? 'in-use' : 'available', `${label}: status agrees with attachments`);
  assert.equal(exported, attached > 0, `${label}: a target exists exactly when an attachment needs it`);
  return { deleted: false, attached };
}

test(`reserve storm: 20 concurrent os-reserve, exactly one wins (${ITERATIONS} runs)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => e.workflow.reserve(ctx, id)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason.message), /Invalid volume: Volume status must be available/);
    await e.workflow.unreserve(ctx, id);
    await e.workflow.deleteVolume(ctx, id);
  }
});

test(`begin_detaching storm: 20 concurrent, exactly one wins; then roll_detaching storm leaves it in-use (${ITERATIONS} runs)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    assert.ok(await legacyAttach(id, INITIATOR_A));
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => e.workflow.beginDetaching(ctx, id)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    await Promise.all(Array.from({ length: 10 }, () => e.workflow.rollDetaching(ctx, id)));
    assert.deepEqual(await assertConsistent(id, 'begin_detaching storm'), { deleted: false, attached: 1 });
    assert.ok(await legacyDetach(id, INITIATOR_A));
    await e.workflow.deleteVolume(ctx, id);
  }
});

test(`attach vs delete: exactly one wins, no orphan export or row (${ITERATIONS} runs, with and without os-reserve)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    const [attached, deleted] = await Promise.all([legacyAttach(id, INITIATOR_A, i % 2 === 0), del(id)]);
    assert.equal(Number(attached) + Number(deleted), 1, `run ${i}: attach ${attached}, delete ${deleted}`);
    const state = await assertConsistent(id, `attach vs delete run ${i}`);
    assert.equal(state.deleted, deleted);
    assert.equal(state.attached, attached ? 1 : 0);
    if (attached) {
      assert.ok(await legacyDetach(id, INITIATOR_A));
      await e.workflow.deleteVolume(ctx, id);
    }
  }
});

test(`detach vs delete: the detach always completes, the delete wins only after it (${ITERATIONS} runs)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    assert.ok(await legacyAttach(id, INITIATOR_A));
    const [detached, deleted] = await Promise.all([legacyDetach(id, INITIATOR_A), del(id)]);
    assert.equal(detached, true);
    const state = await assertConsistent(id, `detach vs delete run ${i}`);
    assert.equal(state.deleted, deleted);
    if (!deleted) await e.workflow.deleteVolume(ctx, id);
  }
});

test(`two hosts attach one non-multiattach volume: exactly one attachment, the loser keeps no access (${ITERATIONS} runs)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    // Nova reserves first: os-reserve is the legacy flow's lock. (Without it, two hosts' initialize_connection
    // calls cannot be told apart by a legacy os-attach, which carries no connector; the attachments API can.)
    const [a, b] = await Promise.all([legacyAttach(id, INITIATOR_A), legacyAttach(id, INITIATOR_B)]);
    assert.equal(Number(a) + Number(b), 1, `run ${i}: A ${a}, B ${b}`);
    const state = await assertConsistent(id, `two hosts run ${i}`);
    assert.equal(state.attached, 1);
    const live = await attachmentsRepo.liveAttachments(e.store.db, [id]);
    assert.equal(live[0].initiator, a ? INITIATOR_A : INITIATOR_B);
    const iqn = targetIqn(e.target, id);
    assert.ok(e.target.server.visibleTargets(a ? INITIATOR_A : INITIATOR_B).includes(iqn), 'the winner is in the ACL');
    assert.ok(!e.target.server.visibleTargets(a ? INITIATOR_B : INITIATOR_A).includes(iqn), 'the loser is not in the ACL');
    assert.ok(await legacyDetach(id, a ? INITIATOR_A : INITIATOR_B));
    await e.workflow.deleteVolume(ctx, id);
  }
});

test(`extend during attach: exactly one wins; the size and the attachment are never lost (${ITERATIONS} runs)`, async () => {
  for (let i = 0; i < ITERATIONS; i++) {
    const id = await newVolume();
    const extend = e.workflow.extend(ctx, id, 2).then(
      () => true,
      (err) => {
        assert.ok(err.status < 500, err.message);
        return false;
      },
    );
    const [attached, extended] = await Promise.all([legacyAttach(id, INITIATOR_A, i % 2 === 0), extend]);
    await e.workflow.drain();
    if (extended) assert.equal((await volumesRepo.findVolume(e.store.db, id))!.size, 2, `run ${i}: an accepted extend is not lost`);
    assert.ok(attached || extended, `run ${i}: one of them wins`);
    if (attached && extended) {
      // Both may succeed only one after the other: the extend finished before the attach claimed the volume.
      const hist = (await e.workflow.listVolumeEvents(ctx, id)).map((h) => `${h.action}:${h.from}->${h.to}`);
      assert.ok(hist.indexOf('extend:extending->available') < hist.indexOf('attach:available->in-use'), hist.join(', '));
    }
    const state = await assertConsistent(id, `extend vs attach run ${i}`);
    assert.equal(state.attached, attached ? 1 : 0);
    if (attached) assert.ok(await legacyDetach(id, INITIATOR_A));
    await e.workflow.deleteVolume(ctx, id);
  }
});
