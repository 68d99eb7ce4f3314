import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { createLogicalUnit } from '../../src/scsi/logical-unit.js';
import { Asc, SenseKey } from '../../src/scsi/sense.js';
import { BS, assertGood, assertSense, cdb10, fixture, identity, pattern, read10, rw12, rw16, rw6, write10 } from './helpers.js';

test('READ/WRITE 6, 10, 12 and 16 address the same blocks', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(rw6(0x0a, 10, 1), { dataOut: pattern(1, 6) }));
    assertGood(await f.run(write10(11, 1), { dataOut: pattern(1, 10) }));
    assertGood(await f.run(rw12(0xaa, 12, 1), { dataOut: pattern(1, 12) }));
    assertGood(await f.run(rw16(0x8a, 13, 1), { dataOut: pattern(1, 16) }));
    const all = Buffer.concat([pattern(1, 6), pattern(1, 10), pattern(1, 12), pattern(1, 16)]);
    assert.deepEqual((await f.run(rw16(0x88, 10, 4))).data, all);
    assert.deepEqual((await f.run(rw12(0xa8, 10, 4))).data, all);
    assert.deepEqual((await f.run(rw6(0x08, 10, 4))).data, all);
    assert.deepEqual((await f.run(read10(11, 1))).data, pattern(1, 10));
  } finally {
    await f.cleanup();
  }
});

test('READ(6) with transfer length 0 reads 256 blocks; READ(10) with 0 transfers nothing', async () => {
  const f = await fixture();
  try {
    assert.equal((await f.run(rw6(0x08, 0, 0))).data!.length, 256 * BS);
    const r = await f.run(read10(0, 0));
    assertGood(r);
    assert.equal(r.data, undefined);
  } finally {
    await f.cleanup();
  }
});

test('WRITE(10) with FUA is durable: a fresh device on the same file reads it back', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(100, 8, 0x08), { dataOut: pattern(8, 3) }));
    const dev2 = await FileBlockDevice.open(f.path, { readOnly: true });
    const lu2 = createLogicalUnit(dev2, identity);
    const nexus = 'n';
    await lu2.execute({ cdb: Buffer.alloc(6), expectedDataLength: 0, nexus, readOnly: true });
    const r = await lu2.execute({ cdb: read10(100, 8), expectedDataLength: 8 * BS, nexus, readOnly: true });
    assert.deepEqual(r.data, pattern(8, 3));
    await lu2.close();
  } finally {
    await f.cleanup();
  }
});

test('accesses past the last block fail with LBA OUT OF RANGE', async () => {
  const f = await fixture({ blocks: 2048 });
  try {
    assertSense(await f.run(read10(2048, 1)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertSense(await f.run(read10(2047, 2)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertSense(await f.run(rw16(0x88, 0xffffffffffffffffn, 1)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertSense(await f.run(rw16(0x88, 1n << 63n, 1)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertSense(
      await f.run(write10(2040, 9), { dataOut: pattern(9, 1) }),
      SenseKey.ILLEGAL_REQUEST,
      Asc.LBA_OUT_OF_RANGE,
    );
    assertGood(await f.run(read10(2047, 1)));
  } finally {
    await f.cleanup();
  }
});

test('RDPROTECT/WRPROTECT without protection information is an invalid field in the CDB', async () => {
  const f = await fixture();
  try {
    assertSense(await f.run(read10(0, 1, 0x20)), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await f.run(write10(0, 1, 0x40), { dataOut: pattern(1, 1) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('a read-only mapping gets DATA PROTECT on every medium write, reads still work', async () => {
  const f = await fixture();
  try {
    const ro = { readOnly: true, dataOut: pattern(2, 1) };
    assertSense(await f.run(write10(0, 1), ro), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    assertSense(await f.run(rw16(0x8a, 0, 1), ro), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    assertSense(await f.run(rw16(0x93, 0, 1), ro), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    assertSense(await f.run(rw16(0x89, 0, 0), ro), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    const unmap = Buffer.alloc(10);
    unmap[0] = 0x42;
    unmap.writeUInt16BE(24, 7);
    assertSense(await f.run(unmap, { readOnly: true, dataOut: unmapList([[0, 1]]) }), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    assertGood(await f.run(read10(0, 1), { readOnly: true }));
    assertGood(await f.run(cdb10(0x35, 0, 0), { readOnly: true }));
  } finally {
    await f.cleanup();
  }
});

test('a device opened read-only reports DATA PROTECT too', async () => {
  const f0 = await fixture();
  await f0.dev.close();
  const dev = await FileBlockDevice.open(f0.path, { readOnly: true });
  const lu = createLogicalUnit(dev, identity);
  const c = { expectedDataLength: BS, nexus: 'x', readOnly: false };
  await lu.execute({ ...c, cdb: Buffer.alloc(6) });
  assertSense(await lu.execute({ ...c, cdb: write10(0, 1), dataOut: pattern(1, 1) }), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
  await lu.close();
  await f0.cleanup().catch(() => undefined);
});

test('write Data-Out shorter than the transfer length writes only the whole blocks that arrived', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(0, 2), { dataOut: Buffer.alloc(2 * BS, 0x61) }));
    assertGood(await f.run(write10(0, 2), { dataOut: Buffer.alloc(BS, 0x62) }));
    const data = (await f.run(read10(0, 2))).data!;
    assert.deepEqual(data.subarray(0, BS), Buffer.alloc(BS, 0x62));
    assert.deepEqual(data.subarray(BS), Buffer.alloc(BS, 0x61));
    // Longer Data-Out than the CDB asks for: only the CDB's blocks are written.
    assertGood(await f.run(write10(0, 1), { dataOut: Buffer.alloc(2 * BS, 0x63) }));
    assert.deepEqual((await f.run(read10(1, 1))).data, Buffer.alloc(BS, 0x61));
  } finally {
    await f.cleanup();
  }
});

test('READ CAPACITY(10) and (16) report the last LBA, block size and thin provisioning', async () => {
  const f = await fixture({ blocks: 4096 });
  try {
    const r10 = (await f.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).data!;
    assert.equal(r10.readUInt32BE(0), 4095);
    assert.equal(r10.readUInt32BE(4), BS);
    const r16 = (await f.run(Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]))).data!;
    assert.equal(r16.length, 32);
    assert.equal(r16.readBigUInt64BE(0), 4095n);
    assert.equal(r16.readUInt32BE(8), BS);
    assert.equal(r16[14] & 0xc0, 0xc0, 'LBPME and LBPRZ');
    assert.equal(r16[13] & 0x0f, 0, 'physical block exponent defaults to 0');
    // Allocation length is honoured.
    assert.equal((await f.run(Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0]))).data!.length, 12);
    // LBA without PMI is invalid.
    assertSense(await f.run([0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0]), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('VERIFY: BYTCHK 0 checks the range, 01b compares Data-Out, 11b compares one block against each', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(20, 4), { dataOut: pattern(4, 9) }));
    assertGood(await f.run(cdb10(0x2f, 20, 4)));
    assertSense(await f.run(cdb10(0x2f, 2047, 4)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertGood(await f.run(cdb10(0x2f, 20, 4, 0x02), { dataOut: pattern(4, 9) }));
    const wrong = Buffer.from(pattern(4, 9));
    wrong[BS + 17] ^= 0xff;
    const s = assertSense(await f.run(cdb10(0x2f, 20, 4, 0x02), { dataOut: wrong }), SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY);
    assert.equal(s[0] & 0x80, 0x80, 'VALID');
    assert.equal(s.readUInt32BE(3), BS + 17, 'INFORMATION is the offset of the first miscompare');
    assertGood(await f.run(rw16(0x8f, 20, 4, 0x02), { dataOut: pattern(4, 9) }));
    // 11b: one block of Data-Out against every block
    assertGood(await f.run(write10(30, 3), { dataOut: Buffer.concat([pattern(1, 5), pattern(1, 5), pattern(1, 5)]) }));
    assertGood(await f.run(cdb10(0x2f, 30, 3, 0x06), { dataOut: pattern(1, 5) }));
    assertSense(await f.run(cdb10(0x2f, 29, 3, 0x06), { dataOut: pattern(1, 5) }), SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY);
    assertSense(await f.run(cdb10(0x2f, 30, 3, 0x04)), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('WRITE AND VERIFY(10/16) writes the data', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(cdb10(0x2e, 40, 2), { dataOut: pattern(2, 4) }));
    assertGood(await f.run(rw16(0x8e, 42, 1), { dataOut: pattern(1, 5) }));
    assert.deepEqual((await f.run(read10(40, 3))).data, Buffer.concat([pattern(2, 4), pattern(1, 5)]));
  } finally {
    await f.cleanup();
  }
});

test('PRE-FETCH returns CONDITION MET in range, LBA OUT OF RANGE past the end; SYNCHRONIZE CACHE is GOOD', async () => {
  const f = await fixture({ blocks: 2048 });
  try {
    assert.equal((await f.run(cdb10(0x34, 0, 16))).status, 0x04);
    assert.equal((await f.run(rw16(0x90, 0, 16))).status, 0x04);
    assertSense(await f.run(cdb10(0x34, 2040, 16)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertGood(await f.run(cdb10(0x35, 0, 0)));
    assertGood(await f.run(rw16(0x91, 0, 2048)));
    assertSense(await f.run(rw16(0x91, 2048, 1)), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
  } finally {
    await f.cleanup();
  }
});

function unmapList(ranges: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(8 + 16 * ranges.length);
  b.writeUInt16BE(6 + 16 * ranges.length, 0);
  b.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    b.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    b.writeUInt32BE(n, 16 + 16 * i);
  });
  return b;
}

function unmapCdb(listLength: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x42;
  c.writeUInt16BE(listLength, 7);
  return c;
}

test('UNMAP deallocates: st_blocks drops, the blocks read zeroes and GET LBA STATUS says deallocated', async () => {
  const f = await fixture({ blocks: 8192 });
  try {
    assertGood(await f.run(rw16(0x8a, 0, 8192), { dataOut: Buffer.alloc(8192 * BS, 0x77) }));
    assertGood(await f.run(cdb10(0x35, 0, 0)));
    const before = (await stat(f.path)).blocks;
    const list = unmapList([
      [0, 2048],
      [4096, 2048],
    ]);
    assertGood(await f.run(unmapCdb(list.length), { dataOut: list }));
    const after = (await stat(f.path)).blocks;
    assert.ok(after <= before - 2 * 2048 + 16, `st_blocks ${before} -> ${after}`);
    assert.deepEqual((await f.run(read10(0, 2048))).data, Buffer.alloc(2048 * BS));
    assert.deepEqual((await f.run(read10(2048, 1))).data, Buffer.alloc(BS, 0x77));
    const gls = Buffer.from([0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
    const st = (await f.run(gls)).data!;
    assert.ok(st.readUInt32BE(0) >= 20);
    assert.equal(st.readBigUInt64BE(8), 0n);
    assert.equal(st.readUInt32BE(16), 2048);
    assert.equal(st[20], 0x01, 'deallocated');
    assert.equal(st.readBigUInt64BE(24), 2048n);
    assert.equal(st[36], 0x00, 'mapped');
  } finally {
    await f.cleanup();
  }
});

test('UNMAP validates the whole list before touching anything', async () => {
  const f = await fixture({ blocks: 2048 });
  try {
    assertGood(await f.run(write10(0, 1), { dataOut: pattern(1, 1) }));
    const bad = unmapList([
      [0, 1],
      [2047, 2],
    ]);
    assertSense(await f.run(unmapCdb(bad.length), { dataOut: bad }), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assert.deepEqual((await f.run(read10(0, 1))).data, pattern(1, 1));
    assertGood(await f.run(unmapCdb(0)));
    assertSense(await f.run(unmapCdb(4), { dataOut: Buffer.alloc(4) }), SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
    const anchor = unmapCdb(24);
    anchor[1] = 1;
    assertSense(await f.run(anchor, { dataOut: unmapList([[0, 1]]) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const many = unmapList(Array.from({ length: 257 }, (_, i): [number, number] => [i, 1]));
    assertSense(await f.run(unmapCdb(many.length), { dataOut: many }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
  } finally {
    await f.cleanup();
  }
});

test('WRITE SAME writes the pattern block; with UNMAP and zero data it punches a hole; NDOB writes zeroes', async () => {
  const f = await fixture({ blocks: 8192 });
  try {
    assertGood(await f.run(cdb10(0x41, 10, 5), { dataOut: pattern(1, 2) }));
    const got = (await f.run(read10(10, 5))).data!;
    for (let i = 0; i < 5; i++) assert.deepEqual(got.subarray(i * BS, (i + 1) * BS), pattern(1, 2));
    assertGood(await f.run(rw16(0x8a, 4096, 4096), { dataOut: Buffer.alloc(4096 * BS, 0x33) }));
    assertGood(await f.run(cdb10(0x35, 0, 0)));
    const before = (await stat(f.path)).blocks;
    assertGood(await f.run(rw16(0x93, 4096, 4096, 0x08), { dataOut: Buffer.alloc(BS) }));
    assert.ok((await stat(f.path)).blocks <= before - 4096 + 16, 'WRITE SAME with UNMAP deallocated');
    assert.deepEqual((await f.run(read10(4096, 16))).data, Buffer.alloc(16 * BS));
    // UNMAP deallocates whatever the pattern says; LBPRZ makes the blocks read zeroes
    assertGood(await f.run(write10(100, 8), { dataOut: pattern(8, 1) }));
    assertGood(await f.run(cdb10(0x41, 100, 8, 0x08), { dataOut: Buffer.alloc(BS, 0xff) }));
    assert.deepEqual((await f.run(read10(100, 8))).data, Buffer.alloc(8 * BS));
    // NDOB: no Data-Out at all
    assertGood(await f.run(rw16(0x93, 10, 5, 0x09)));
    assert.deepEqual((await f.run(read10(10, 5))).data, Buffer.alloc(5 * BS));
    // Zero blocks means "to the end of the medium" (WSNZ is 0)
    assertGood(await f.run(cdb10(0x41, 8000, 0), { dataOut: pattern(1, 1) }));
    const tail = (await f.run(read10(8000, 192))).data!;
    assert.deepEqual(tail.subarray(191 * BS), pattern(1, 1));
    assertSense(await f.run(cdb10(0x41, 8193, 0), { dataOut: pattern(1, 1) }), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    // Data-Out must be exactly one block; NDOB is not a WRITE SAME(10) bit
    assertSense(await f.run(cdb10(0x41, 0, 1), { dataOut: pattern(2, 1) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await f.run(cdb10(0x41, 0, 1, 0x01), { dataOut: pattern(1, 1) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await f.run(rw16(0x93, 8190, 4), { dataOut: pattern(1, 1) }), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
  } finally {
    await f.cleanup();
  }
});

function caw(lba: number, blocks: number, flags = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x89;
  c[1] = flags;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c[13] = blocks;
  return c;
}

test('COMPARE AND WRITE writes on a match and reports MISCOMPARE with the offset otherwise', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(50, 2), { dataOut: pattern(2, 1) }));
    assertGood(await f.run(caw(50, 2), { dataOut: Buffer.concat([pattern(2, 1), pattern(2, 2)]) }));
    assert.deepEqual((await f.run(read10(50, 2))).data, pattern(2, 2));
    const stale = Buffer.from(pattern(2, 1));
    const s = assertSense(
      await f.run(caw(50, 2), { dataOut: Buffer.concat([stale, pattern(2, 3)]) }),
      SenseKey.MISCOMPARE,
      Asc.MISCOMPARE_DURING_VERIFY,
    );
    const expectedOffset = pattern(2, 1).findIndex((b, i) => b !== pattern(2, 2)[i]);
    assert.equal(s.readUInt32BE(3), expectedOffset);
    assert.deepEqual((await f.run(read10(50, 2))).data, pattern(2, 2), 'nothing written on miscompare');
    assertSense(await f.run(caw(2047, 2), { dataOut: Buffer.alloc(4 * BS) }), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    // Data-Out that disagrees with the block count, and a count that wrapped to zero
    assertSense(await f.run(caw(50, 1), { dataOut: Buffer.alloc(4 * BS) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await f.run(caw(50, 3), { dataOut: Buffer.alloc(4 * BS) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await f.run(caw(50, 0), { dataOut: Buffer.alloc(512 * BS) }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('concurrent COMPARE AND WRITEs on one block: exactly one wins (the compare and write are atomic)', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(7, 1), { dataOut: Buffer.alloc(BS, 0) }));
    const attempts = Array.from({ length: 16 }, (_, i) =>
      f.run(caw(7, 1), { dataOut: Buffer.concat([Buffer.alloc(BS, 0), Buffer.alloc(BS, i + 1)]) }),
    );
    const results = await Promise.all(attempts);
    assert.equal(results.filter((r) => r.status === 0).length, 1);
    assert.equal(results.filter((r) => r.status === 2 && r.sense![2] === SenseKey.MISCOMPARE).length, 15);
  } finally {
    await f.cleanup();
  }
});

test('ORWRITE ORs the Data-Out into the medium; READ DEFECT DATA reports an empty list', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run(write10(60, 2), { dataOut: Buffer.alloc(2 * BS, 0x0f) }));
    assertGood(await f.run(rw16(0x8b, 60, 2), { dataOut: Buffer.alloc(2 * BS, 0x30) }));
    assert.deepEqual((await f.run(read10(60, 2))).data, Buffer.alloc(2 * BS, 0x3f));
    assertSense(await f.run(rw16(0x8b, 2047, 2), { dataOut: Buffer.alloc(2 * BS) }), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    assertSense(await f.run(rw16(0x8b, 0, 1), { readOnly: true, dataOut: Buffer.alloc(BS) }), SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    const d10 = (await f.run([0x37, 0, 0x18, 0, 0, 0, 0, 0, 32, 0])).data!;
    assert.deepEqual([...d10], [0, 0x18, 0, 0]);
    const d12 = (await f.run([0xb7, 0x0d, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0])).data!;
    assert.equal(d12.length, 8);
    assert.equal(d12.readUInt32BE(4), 0);
  } finally {
    await f.cleanup();
  }
});

test('GET LBA STATUS past the end is LBA OUT OF RANGE; allocation length is honoured', async () => {
  const f = await fixture({ blocks: 2048 });
  try {
    const c = Buffer.from([0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0, 0, 0, 0x20, 0, 0]);
    assertSense(await f.run(c), SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
    const d = Buffer.from(c);
    d.writeBigUInt64BE(0n, 2);
    d.writeUInt32BE(8, 10);
    assert.equal((await f.run(d)).data!.length, 8);
  } finally {
    await f.cleanup();
  }
});

test('the physical block exponent is configurable and reported by READ CAPACITY(16)', async () => {
  const f0 = await fixture();
  await f0.lu.close();
  const dev = await FileBlockDevice.open(f0.path);
  const lu = createLogicalUnit(dev, identity, { limits: { physicalBlockExponent: 3 } });
  const c = { expectedDataLength: 32, nexus: 'x', readOnly: false };
  await lu.execute({ ...c, cdb: Buffer.alloc(6) });
  const r = await lu.execute({ ...c, cdb: Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]) });
  assert.equal(r.data![13] & 0x0f, 3);
  await lu.close();
  await f0.cleanup().catch(() => undefined);
});
