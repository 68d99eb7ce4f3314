import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LargeBufferPool } from '../../src/util/large-buffers.js';

describe('LargeBufferPool', () => {
  it('hands a given-back buffer out again instead of allocating', () => {
    const pool = new LargeBufferPool();
    const a = pool.take(1 << 20);
    assert.equal(a.length, 1 << 20);
    assert.ok(pool.owns(a) && pool.owns(a.subarray(4096, 8192)), 'a view of a taken buffer is owned too');
    pool.giveBack(a.subarray(100, 200));
    assert.equal(pool.owns(a), false, 'given back');
    const b = pool.take(1000 * 1024); // the same size class (1 MiB)
    assert.equal(b.buffer, a.buffer, 'same memory');
    assert.equal(b.length, 1000 * 1024);
    const c = pool.take(1 << 20);
    assert.notEqual(c.buffer, b.buffer, 'a lent buffer is never handed out twice');
  });

  it('ignores buffers it did not lend, and a second give-back of the same one', () => {
    const pool = new LargeBufferPool();
    const foreign = Buffer.allocUnsafe(1 << 20);
    pool.giveBack(foreign);
    assert.notEqual(pool.take(1 << 20).buffer, foreign.buffer);
    const a = pool.take(256 << 10);
    pool.giveBack(a);
    pool.giveBack(a);
    const b = pool.take(256 << 10);
    const c = pool.take(256 << 10);
    assert.equal(b.buffer, a.buffer);
    assert.notEqual(c.buffer, a.buffer, 'the double give-back did not put it in the free list twice');
  });

  it('leaves small and huge requests to plain allocation', () => {
    const pool = new LargeBufferPool();
    for (const n of [4096, 32 << 20]) {
      const b = pool.take(n);
      assert.equal(b.length, n);
      assert.equal(pool.owns(b), false);
    }
  });

  it('keeps at most its idle limit in the free lists', () => {
    const pool = new LargeBufferPool(2 << 20);
    const taken = [pool.take(1 << 20), pool.take(1 << 20), pool.take(1 << 20)];
    for (const b of taken) pool.giveBack(b);
    const again = [pool.take(1 << 20), pool.take(1 << 20), pool.take(1 << 20)];
    const reused = again.filter((b) => taken.some((t) => t.buffer === b.buffer));
    assert.equal(reused.length, 2, 'two fit under the 2 MiB limit; the third was left to the collector');
  });
});
