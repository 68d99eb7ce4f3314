import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Asc, SenseKey } from '../../src/scsi/sense.js';
import { BS, NEXUS_A, NEXUS_B, assertGood, assertSense, fixture, identity, inquiryCdb, write10, pattern } from './helpers.js';

test('standard INQUIRY: direct-access, SPC-4, identity strings, allocation length honoured', async () => {
  const f = await fixture();
  try {
    const d = (await f.run(inquiryCdb(false, 0, 96))).data!;
    assert.equal(d[0], 0x00);
    assert.equal(d[2], 0x06);
    assert.equal(d[3] & 0x0f, 2);
    assert.equal(d[4] + 5, d.length);
    assert.equal(d.subarray(8, 16).toString('ascii'), 'EMBERVOL');
    assert.equal(d.subarray(16, 32).toString('ascii').trimEnd(), 'VOLUME');
    assert.equal(d.subarray(32, 36).toString('ascii'), '0001');
    assert.equal((await f.run(inquiryCdb(false, 0, 36))).data!.length, 36);
    assertSense(await f.run(inquiryCdb(false, 0x80)), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const cmddt = inquiryCdb(false, 0);
    cmddt[1] = 0x02;
    assertSense(await f.run(cmddt), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('VPD pages: supported list, serial, device identification, block limits, characteristics, provisioning', async () => {
  const f = await fixture();
  try {
    const vpd = async (page: number): Promise<Buffer> => {
      const r = await f.run(inquiryCdb(true, page, 0x400));
      assertGood(r);
      assert.equal(r.data![1], page);
      assert.equal(r.data!.readUInt16BE(2) + 4, r.data!.length);
      return r.data!;
    };
    assert.deepEqual([...(await vpd(0x00)).subarray(4)], [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    assert.equal((await vpd(0x80)).subarray(4).toString('ascii'), identity.serial);

    const id = await vpd(0x83);
    const designators: Array<{ codeSet: number; assoc: number; type: number; value: Buffer }> = [];
    for (let off = 4; off < id.length; ) {
      const len = id[off + 3];
      designators.push({ codeSet: id[off] & 0x0f, assoc: (id[off + 1] >> 4) & 3, type: id[off + 1] & 0x0f, value: id.subarray(off + 4, off + 4 + len) });
      off += 4 + len;
    }
    const naa = designators.find((d) => d.type === 3)!;
    assert.equal(naa.value.length, 16);
    assert.equal(naa.value[0] >> 4, 6, 'NAA IEEE Registered Extended');
    assert.deepEqual(naa.value.subarray(1), identity.uniqueId.subarray(1, 16));
    const t10 = designators.find((d) => d.type === 1)!;
    assert.equal(t10.codeSet, 2);
    assert.equal(t10.value.toString('ascii'), 'EMBERVOL' + identity.serial);
    // Stable: a second LU over the same identity reports the same designator.
    assert.deepEqual(await vpd(0x83), id);

    const bl = await vpd(0xb0);
    assert.equal(bl.readUInt16BE(2), 0x3c);
    assert.equal(bl[4] & 1, 0, 'WSNZ: zero blocks in WRITE SAME means to the end');
    assert.ok(bl[5] > 0, 'MAXIMUM COMPARE AND WRITE LENGTH');
    assert.ok(bl.readUInt32BE(8) > 0, 'MAXIMUM TRANSFER LENGTH');
    assert.ok(bl.readUInt32BE(20) > 0, 'MAXIMUM UNMAP LBA COUNT');
    assert.ok(bl.readUInt32BE(24) > 0, 'MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT');
    assert.ok(bl.readBigUInt64BE(36) > 0n, 'MAXIMUM WRITE SAME LENGTH');

    const bdc = await vpd(0xb1);
    assert.equal(bdc.readUInt16BE(4), 1, 'non-rotating');
    const lbp = await vpd(0xb2);
    assert.equal(lbp[5] & 0xe4, 0xe4, 'LBPU, LBPWS, LBPWS10, LBPRZ');
    assert.equal(lbp[6] & 0x07, 2, 'thin provisioned');

    assertSense(await f.run(inquiryCdb(true, 0x99)), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assert.equal((await f.run(inquiryCdb(true, 0x83, 8))).data!.length, 8);
  } finally {
    await f.cleanup();
  }
});

test('unit attention: POWER ON once per nexus; INQUIRY does not consume it, REQUEST SENSE reports it', async () => {
  const f = await fixture();
  try {
    const exec = (cdb: number[], nexus: string) =>
      f.lu.execute({ cdb: Buffer.from(cdb), expectedDataLength: 255, nexus, readOnly: false });
    assertGood(await exec([0x12, 0, 0, 0, 36, 0], 'fresh'));
    const rs = await exec([0x03, 0, 0, 0, 18, 0], 'fresh');
    assertGood(rs);
    assert.equal(rs.data![2], SenseKey.UNIT_ATTENTION);
    assert.equal((rs.data![12] << 8) | rs.data![13], Asc.POWER_ON_RESET);
    assertGood(await exec([0, 0, 0, 0, 0, 0], 'fresh'));
    const rs2 = await exec([0x03, 0, 0, 0, 18, 0], 'fresh');
    assert.equal(rs2.data![2], SenseKey.NO_SENSE);
    // Another nexus still has its own.
    assertSense(await exec([0, 0, 0, 0, 0, 0], 'other'), SenseKey.UNIT_ATTENTION, Asc.POWER_ON_RESET);
    assertGood(await exec([0, 0, 0, 0, 0, 0], 'other'));
    // Descriptor format sense is not implemented
    assertSense(await exec([0x03, 1, 0, 0, 18, 0], 'other'), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('LU reset raises a reset unit attention; capacity change after a resize raises CAPACITY DATA HAS CHANGED', async () => {
  const { truncate } = await import('node:fs/promises');
  const f = await fixture({ blocks: 2048 });
  try {
    assertGood(await f.run([0, 0, 0, 0, 0, 0]));
    f.lu.reset();
    assertSense(await f.run([0, 0, 0, 0, 0, 0]), SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET);
    assertGood(await f.run([0, 0, 0, 0, 0, 0]));
    await truncate(f.path, 4096 * BS);
    await f.lu.capacityChanged();
    assertSense(await f.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]), SenseKey.UNIT_ATTENTION, Asc.CAPACITY_DATA_CHANGED);
    const cap = (await f.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).data!;
    assert.equal(cap.readUInt32BE(0), 4095);
    assertGood(await f.run(write10(4000, 1), { dataOut: pattern(1, 1) }));
    // Same size again: no new unit attention.
    await f.lu.capacityChanged();
    assertGood(await f.run([0, 0, 0, 0, 0, 0]));
  } finally {
    await f.cleanup();
  }
});

test('unknown opcode: INVALID COMMAND OPERATION CODE; unknown service action: INVALID FIELD IN CDB', async () => {
  const f = await fixture();
  try {
    assertSense(await f.run([0xc0, 0, 0, 0, 0, 0]), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_OPCODE);
    assertSense(await f.run([0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('MODE SENSE(6/10): caching, control, informational exceptions, all pages, DBD, block descriptors', async () => {
  const f = await fixture({ blocks: 2048 });
  try {
    const ms6 = (page: number, opts: { dbd?: boolean; pc?: number; sub?: number } = {}) =>
      f.run([0x1a, opts.dbd ? 0x08 : 0, ((opts.pc ?? 0) << 6) | page, opts.sub ?? 0, 255, 0]);
    const all = (await ms6(0x3f)).data!;
    assert.equal(all[0] + 1, all.length);
    assert.equal(all[3], 8, 'one short block descriptor');
    assert.equal(all.readUInt32BE(4), 2048);
    assert.equal(all.readUIntBE(9, 3), BS);
    const codes: number[] = [];
    for (let off = 12; off < all.length; off += 2 + all[off + 1]) codes.push(all[off] & 0x3f);
    assert.deepEqual(codes, [0x01, 0x08, 0x0a, 0x1c]);

    const caching = (await ms6(0x08, { dbd: true })).data!;
    assert.equal(caching[3], 0, 'DBD: no block descriptor');
    assert.equal(caching[4], 0x08);
    assert.equal(caching[5], 0x12);
    assert.equal(caching[6] & 0x04, 0x04, 'WCE');
    assert.equal((await ms6(0x08, { dbd: true, pc: 1 })).data![6] & 0x04, 0x04, 'WCE changeable');
    const control = (await ms6(0x0a, { dbd: true })).data!;
    assert.equal(control[4], 0x0a);
    assert.equal(control[6] & 0x04, 0, 'D_SENSE off: fixed-format sense');
    assert.equal((await ms6(0x1c, { dbd: true })).data![4], 0x1c);

    assertSense(await ms6(0x08, { pc: 3 }), SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED);
    assertSense(await ms6(0x2b), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertGood(await ms6(0x3f, { sub: 0xff }));
    assert.equal((await f.run([0x1a, 0, 0x3f, 0, 4, 0])).data!.length, 4);

    // MODE SENSE(10) with LLBAA: 16-byte descriptor
    const ms10 = (await f.run([0x5a, 0x10, 0x08, 0, 0, 0, 0, 0x01, 0x00, 0])).data!;
    assert.equal(ms10.readUInt16BE(0) + 2, ms10.length);
    assert.equal(ms10[4] & 1, 1, 'LONGLBA');
    assert.equal(ms10.readUInt16BE(6), 16);
    assert.equal(ms10.readBigUInt64BE(8), 2048n);
    assert.equal(ms10.readUInt32BE(20), BS);
    assert.equal(ms10[24], 0x08);

    // Write protect bit for a read-only mapping
    assert.equal((await f.run([0x1a, 0x08, 0x3f, 0, 255, 0], { readOnly: true })).data![2] & 0x80, 0x80);
    assert.equal((await f.run([0x1a, 0x08, 0x3f, 0, 255, 0])).data![2] & 0x80, 0);
  } finally {
    await f.cleanup();
  }
});

test('MODE SELECT changes WCE, refuses unchangeable bits and bad lengths, and tells other nexuses', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_B }));
    const current = (await f.run([0x1a, 0x08, 0x08, 0, 255, 0])).data!;
    const page = Buffer.from(current.subarray(4));
    page[0] &= 0x3f; // PS is reserved in MODE SELECT
    page[2] &= ~0x04; // clear WCE
    const list = Buffer.concat([Buffer.alloc(4), page]);
    assertGood(await f.run([0x15, 0x10, 0, 0, list.length, 0], { dataOut: list }));
    assert.equal((await f.run([0x1a, 0x08, 0x08, 0, 255, 0])).data![6] & 0x04, 0);
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_B }), SenseKey.UNIT_ATTENTION, Asc.MODE_PARAMETERS_CHANGED);
    // Writes still land (now write-through).
    assertGood(await f.run(write10(0, 1), { dataOut: pattern(1, 1) }));

    // MODE SELECT(10) setting WCE back
    page[2] |= 0x04;
    const list10 = Buffer.concat([Buffer.alloc(8), page]);
    assertGood(await f.run([0x55, 0x10, 0, 0, 0, 0, 0, 0, list10.length, 0], { dataOut: list10 }));
    assert.equal((await f.run([0x1a, 0x08, 0x08, 0, 255, 0])).data![6] & 0x04, 0x04);

    const bad = Buffer.from(list);
    bad[4 + 2] |= 0x01; // RCD is not changeable
    assertSense(await f.run([0x15, 0x10, 0, 0, bad.length, 0], { dataOut: bad }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
    const unknown = Buffer.concat([Buffer.alloc(4), Buffer.from([0x2b, 2, 0, 0])]);
    assertSense(await f.run([0x15, 0x10, 0, 0, unknown.length, 0], { dataOut: unknown }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
    assertSense(await f.run([0x15, 0x10, 0, 0, 40, 0], { dataOut: list }), SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
    assertSense(await f.run([0x15, 0x11, 0, 0, list.length, 0], { dataOut: list }), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
  } finally {
    await f.cleanup();
  }
});

test('REPORT SUPPORTED OPERATION CODES: all commands, one command, with timeouts; RSTMF', async () => {
  const f = await fixture();
  try {
    const rsoc = (options: number, opcode = 0, sa = 0, rctd = false) => {
      const c = Buffer.alloc(12);
      c[0] = 0xa3;
      c[1] = 0x0c;
      c[2] = (rctd ? 0x80 : 0) | options;
      c[3] = opcode;
      c.writeUInt16BE(sa, 4);
      c.writeUInt32BE(8192, 6);
      return f.run(c);
    };
    const all = (await rsoc(0)).data!;
    assert.equal(all.readUInt32BE(0) + 4, all.length);
    const ops = new Set<string>();
    for (let off = 4; off < all.length; off += 8) {
      ops.add(`${all[off].toString(16)}/${all[off + 5] & 1 ? all.readUInt16BE(off + 2).toString(16) : '-'}`);
    }
    for (const k of ['28/-', '2a/-', '88/-', '8a/-', '89/-', '42/-', '93/-', '9e/10', '9e/12', '5e/0', '5f/6', 'a3/c', 'a0/-', '12/-']) {
      assert.ok(ops.has(k), `RSOC lists ${k}`);
    }
    const withTimeouts = (await rsoc(0, 0, 0, true)).data!;
    assert.equal(withTimeouts.length - 4, ((all.length - 4) / 8) * 20);

    const one = (await rsoc(1, 0x28)).data!;
    assert.equal(one[1] & 0x07, 3, 'supported');
    assert.equal(one.readUInt16BE(2), 10);
    assert.equal(one[4], 0x28);
    assert.equal((await rsoc(1, 0xc0)).data![1] & 0x07, 1, 'not supported');
    assertSense(await rsoc(1, 0x9e), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    const sa = (await rsoc(2, 0x9e, 0x10)).data!;
    assert.equal(sa[1] & 0x07, 3);
    assert.equal(sa.readUInt16BE(2), 16);
    assertSense(await rsoc(2, 0x28), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assert.equal((await rsoc(1, 0x28, 0, true)).data!.length, 4 + 10 + 12);

    const tmf = (await f.run([0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0])).data!;
    assert.equal(tmf.length, 4);
    assert.equal(tmf[0] & 0xca, 0xca, 'ABORT TASK, ABORT TASK SET, LU RESET, TARGET RESET');
    assert.equal((await f.run([0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0])).data!.length, 16);
  } finally {
    await f.cleanup();
  }
});

test('START STOP UNIT and TEST UNIT READY succeed on a non-removable disk', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run([0x1b, 0, 0, 0, 0x00, 0]));
    assertGood(await f.run([0x1b, 0, 0, 0, 0x01, 0]));
    assertGood(await f.run([0x1b, 1, 0, 0, 0x01, 0]));
    assertGood(await f.run([0, 0, 0, 0, 0, 0]));
    void NEXUS_A;
  } finally {
    await f.cleanup();
  }
});
