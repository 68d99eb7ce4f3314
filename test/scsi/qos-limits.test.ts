// The QoS limiter's admission rules (QEMU throttle semantics), and a logical unit's limits applied and lifted
// while commands wait. Rates over time are measured with a real initiator in test/http/qos-iscsi.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QosLimiter, hasQosLimits } from '../../src/scsi/qos-limits.js';

test('a bucket admits a tenth of a second of its average at once, then commands wait in order', async () => {
  const l = new QosLimiter({ total_iops_sec: 10 });
  assert.equal(l.admit(false, 512), undefined);
  assert.equal(l.admit(true, 512), undefined, 'checked before charging, as QEMU does');
  const order: number[] = [];
  const waits = [1, 2, 3].map((i) => l.admit(false, 512)!.then(() => order.push(i)));
  assert.equal(l.waiting, 3);
  l.releaseAll();
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3]);
});

test('read and write limits charge only their direction; bytes limits count bytes', () => {
  const l = new QosLimiter({ read_iops_sec: 10, write_bytes_sec: 1000 });
  assert.equal(l.admit(false, 0), undefined);
  assert.equal(l.admit(false, 0), undefined);
  assert.equal(l.admit(true, 100), undefined, 'writes are not held by the read limit');
  assert.equal(l.admit(true, 10_000), undefined, 'the write bucket (100 bytes) was not over capacity yet');
  const w = l.admit(true, 1);
  const r = l.admit(false, 0);
  assert.ok(w instanceof Promise && r instanceof Promise, 'behind a waiting command, the next ones queue too');
  l.releaseAll();
});

test('a burst lets max * max_length through before the average applies', () => {
  // A clock that stands still: the buckets do not leak while the loop runs, however slow the machine is.
  const l = new QosLimiter({ total_iops_sec: 1, total_iops_sec_max: 1000, total_iops_sec_max_length: 2 }, () => 0);
  let admitted = 0;
  while (l.admit(false, 0) === undefined && admitted < 10_000) admitted++;
  // The burst bucket (max/10 = 100) stops an instant burst before the 2000 the long bucket would allow.
  assert.equal(admitted, 101);
  l.releaseAll();
  assert.equal(hasQosLimits({ total_iops_sec_max: 5 }), false, 'a burst without an average limits nothing');
  assert.equal(hasQosLimits(null), false);
  assert.equal(hasQosLimits({ write_bytes_sec: 1 }), true);
});

test('new limits keep the levels reached, so a change hands out no fresh burst', () => {
  const l = new QosLimiter({ total_iops_sec: 100 });
  for (let i = 0; i < 11; i++) assert.equal(l.admit(false, 0), undefined);
  assert.ok(l.admit(false, 0) instanceof Promise);
  l.configure({ total_iops_sec: 100, read_bytes_sec: 1_000_000 });
  assert.equal(l.waiting, 1, 'the waiting command still waits: the level carried over');
  l.configure({ total_iops_sec: 1_000_000 });
  assert.equal(l.waiting, 0, 'a higher limit lets it go at once');
});
