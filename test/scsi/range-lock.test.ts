import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeLock, type Release } from '../../src/scsi/range-lock.js';

const settle = () => new Promise((r) => setImmediate(r));

test('shared holders never wait for each other, even on the same blocks', () => {
  const lock = new RangeLock();
  const a = lock.acquire(0, 8, false);
  const b = lock.acquire(0, 8, false);
  assert.equal(typeof a, 'function');
  assert.equal(typeof b, 'function');
  assert.equal(lock.size, 2);
  (a as Release)();
  (b as Release)();
  assert.equal(lock.size, 0);
});

test('an exclusive request waits for overlapping shared holders, not for disjoint ones', async () => {
  const lock = new RangeLock();
  const shared = lock.acquire(0, 8, false) as Release;
  const disjoint = lock.acquire(100, 8, true);
  assert.equal(typeof disjoint, 'function', 'no overlap, granted at once');
  let granted = false;
  const excl = lock.acquire(4, 2, true);
  assert.ok(excl instanceof Promise);
  void excl.then(() => (granted = true));
  await settle();
  assert.equal(granted, false);
  shared();
  const release = await excl;
  assert.equal(granted, true);
  release();
  (disjoint as Release)();
  assert.equal(lock.size, 0);
});

test('shared requests queue behind a waiting exclusive one on the same range (no starvation)', async () => {
  const lock = new RangeLock();
  const first = lock.acquire(0, 8, false) as Release;
  const order: string[] = [];
  const excl = (lock.acquire(0, 8, true) as Promise<Release>).then((r) => {
    order.push('exclusive');
    return r;
  });
  const later = Promise.resolve(lock.acquire(0, 8, false)).then((r) => {
    order.push('shared');
    return r;
  });
  await settle();
  assert.deepEqual(order, []);
  first();
  const r1 = await excl;
  await settle();
  assert.deepEqual(order, ['exclusive']);
  r1();
  (await later)();
  assert.deepEqual(order, ['exclusive', 'shared']);
  assert.equal(lock.size, 0);
});
