import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Asc, SenseKey } from '../../src/scsi/sense.js';
import { NEXUS_A, NEXUS_B, assertGood, assertSense, fixture, pattern, read10, write10, type Fixture } from './helpers.js';

const CONFLICT = 0x18;
const NEXUS_C = 'iqn.2024-01.test:c,i,0x000000000003';
/** Never registers, so no reservation event queues a unit attention for it. */
const OBSERVER = 'iqn.2024-01.test:observer,i,0x000000000009';

function prOut(sa: number, type: number, key: bigint, saKey: bigint, flags = 0, listLength = 24) {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = sa;
  cdb[2] = type;
  cdb.writeUInt32BE(listLength, 5);
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(saKey, 8);
  p[20] = flags;
  return { cdb, dataOut: p };
}

function prIn(sa: number): Buffer {
  return Buffer.from([0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0x00, 0]);
}

const REGISTER = 0, RESERVE = 1, RELEASE = 2, CLEAR = 3, PREEMPT = 4, PREEMPT_AND_ABORT = 5, REGISTER_IGNORE = 6;
const WE = 1, EA = 3, WE_RO = 5, EA_RO = 6, WE_AR = 7, EA_AR = 8;

async function out(f: Fixture, nexus: string, sa: number, type: number, key: bigint, saKey: bigint, flags = 0) {
  const { cdb, dataOut } = prOut(sa, type, key, saKey, flags);
  return f.run(cdb, { nexus, dataOut });
}

async function keys(f: Fixture): Promise<{ generation: number; keys: bigint[] }> {
  const d = (await f.run(prIn(0), { nexus: OBSERVER })).data!;
  const n = d.readUInt32BE(4) / 8;
  return { generation: d.readUInt32BE(0), keys: Array.from({ length: n }, (_, i) => d.readBigUInt64BE(8 + 8 * i)) };
}

async function reservation(f: Fixture): Promise<{ key: bigint; type: number } | undefined> {
  const d = (await f.run(prIn(1), { nexus: OBSERVER })).data!;
  if (d.readUInt32BE(4) === 0) return undefined;
  return { key: d.readBigUInt64BE(8), type: d[21] & 0x0f };
}

const canRead = async (f: Fixture, nexus: string) => (await f.run(read10(0, 1), { nexus })).status;
const canWrite = async (f: Fixture, nexus: string) => (await f.run(write10(0, 1), { nexus, dataOut: pattern(1, 1) })).status;

test('REGISTER: keys, generation, wrong key conflicts, unregister with zero, REGISTER AND IGNORE', async () => {
  const f = await fixture();
  try {
    assert.deepEqual(await keys(f), { generation: 0, keys: [] });
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xaan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbbn));
    assert.deepEqual(await keys(f), { generation: 2, keys: [0xaan, 0xbbn] });
    assert.equal((await out(f, NEXUS_A, REGISTER, 0, 0x99n, 0xccn)).status, CONFLICT, 'wrong current key');
    assert.equal((await out(f, NEXUS_C, REGISTER, 0, 0x99n, 0xccn)).status, CONFLICT, 'unregistered with non-zero key');
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0xaan, 0xa1n));
    assertGood(await out(f, NEXUS_B, REGISTER_IGNORE, 0, 0x1234n, 0xb1n));
    assert.deepEqual((await keys(f)).keys, [0xa1n, 0xb1n]);
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0xb1n, 0n));
    assert.deepEqual((await keys(f)).keys, [0xa1n]);
    // Unsupported options in the parameter list; wrong parameter list length.
    assertSense(await out(f, NEXUS_C, REGISTER, 0, 0n, 1n, 0x01), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
    assertSense(await out(f, NEXUS_C, REGISTER, 0, 0n, 1n, 0x08), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
    const short = prOut(REGISTER, 0, 0n, 1n, 0, 20);
    assertSense(await f.run(short.cdb, { nexus: NEXUS_C, dataOut: short.dataOut }), SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
  } finally {
    await f.cleanup();
  }
});

test('WRITE EXCLUSIVE: others may read, not write; RELEASE ends it; wrong type release is refused', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assert.equal((await out(f, NEXUS_C, RESERVE, WE, 0n, 0n)).status, CONFLICT, 'unregistered cannot reserve');
    assertGood(await out(f, NEXUS_A, RESERVE, WE, 0xan, 0n));
    assertGood(await out(f, NEXUS_A, RESERVE, WE, 0xan, 0n)); // same holder, same type: no-op
    assert.equal((await out(f, NEXUS_B, RESERVE, WE, 0xbn, 0n)).status, CONFLICT);
    assert.deepEqual(await reservation(f), { key: 0xan, type: WE });
    assert.equal(await canWrite(f, NEXUS_A), 0);
    assert.equal(await canRead(f, NEXUS_B), 0);
    assert.equal(await canWrite(f, NEXUS_B), CONFLICT);
    assert.equal(await canWrite(f, NEXUS_C), CONFLICT);
    // Commands that never conflict
    assertGood(await f.run([0x12, 0, 0, 0, 36, 0], { nexus: NEXUS_C }));
    assertGood(await f.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { nexus: NEXUS_C }));
    assertGood(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_C }));
    // Release by a non-holder is a no-op; wrong type by the holder is an error.
    assertGood(await out(f, NEXUS_B, RELEASE, WE, 0xbn, 0n));
    assert.ok(await reservation(f));
    assertSense(await out(f, NEXUS_A, RELEASE, EA, 0xan, 0n), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
    assertGood(await out(f, NEXUS_A, RELEASE, WE, 0xan, 0n));
    assert.equal(await reservation(f), undefined);
    assert.equal(await canWrite(f, NEXUS_B), 0);
  } finally {
    await f.cleanup();
  }
});

test('EXCLUSIVE ACCESS: others can neither read nor write; registrants-only types admit registrants', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_A, RESERVE, EA, 0xan, 0n));
    assert.equal(await canRead(f, NEXUS_B), CONFLICT);
    assert.equal(await canRead(f, NEXUS_C), CONFLICT);
    assertGood(await out(f, NEXUS_A, RELEASE, EA, 0xan, 0n));

    assertGood(await out(f, NEXUS_A, RESERVE, EA_RO, 0xan, 0n));
    assert.equal(await canWrite(f, NEXUS_B), 0, 'registrant writes under EA registrants-only');
    assert.equal(await canRead(f, NEXUS_C), CONFLICT);
    // Releasing a registrants-only reservation tells the other registrants.
    assertGood(await out(f, NEXUS_A, RELEASE, EA_RO, 0xan, 0n));
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_B }), SenseKey.UNIT_ATTENTION, Asc.RESERVATIONS_RELEASED);

    assertGood(await out(f, NEXUS_A, RESERVE, WE_RO, 0xan, 0n));
    assert.equal(await canWrite(f, NEXUS_B), 0);
    assert.equal(await canRead(f, NEXUS_C), 0);
    assert.equal(await canWrite(f, NEXUS_C), CONFLICT);
    assertGood(await out(f, NEXUS_A, RELEASE, WE_RO, 0xan, 0n));
  } finally {
    await f.cleanup();
  }
});

test('ALL REGISTRANTS: every registrant holds it, the key reads as zero, it survives until the last unregisters', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_A, RESERVE, EA_AR, 0xan, 0n));
    assert.deepEqual(await reservation(f), { key: 0n, type: EA_AR });
    assertGood(await out(f, NEXUS_B, RESERVE, EA_AR, 0xbn, 0n)); // B is a holder too
    assert.equal(await canWrite(f, NEXUS_B), 0);
    assert.equal(await canRead(f, NEXUS_C), CONFLICT);
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0xan, 0n));
    assert.deepEqual(await reservation(f), { key: 0n, type: EA_AR });
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0xbn, 0n));
    assert.equal(await reservation(f), undefined);
    assert.equal(await canRead(f, NEXUS_C), 0);

    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_A, RESERVE, WE_AR, 0xan, 0n));
    assert.equal(await canRead(f, NEXUS_C), 0);
    assert.equal(await canWrite(f, NEXUS_C), CONFLICT);
  } finally {
    await f.cleanup();
  }
});

test('PREEMPT takes the reservation and removes the preempted registration, which gets a unit attention', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_A, RESERVE, WE, 0xan, 0n));
    const gen = (await keys(f)).generation;
    assertGood(await out(f, NEXUS_B, PREEMPT, EA, 0xbn, 0xan));
    assert.deepEqual(await reservation(f), { key: 0xbn, type: EA });
    const k = await keys(f);
    assert.deepEqual(k.keys, [0xbn]);
    assert.equal(k.generation, gen + 1);
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }), SenseKey.UNIT_ATTENTION, Asc.REGISTRATIONS_PREEMPTED);
    assert.equal(await canRead(f, NEXUS_A), CONFLICT);
    // A preempted nexus no longer has a key to act with.
    assert.equal((await out(f, NEXUS_A, RELEASE, EA, 0xan, 0n)).status, CONFLICT);
    // Preempting a key nobody has is a conflict; zero without a reservation holder is invalid.
    assert.equal((await out(f, NEXUS_B, PREEMPT, EA, 0xbn, 0x77n)).status, CONFLICT);
    assertGood(await out(f, NEXUS_B, RELEASE, EA, 0xbn, 0n));
    assertSense(await out(f, NEXUS_B, PREEMPT, EA, 0xbn, 0n), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST);
  } finally {
    await f.cleanup();
  }
});

test('PREEMPT without a reservation removes registrations only; PREEMPT AND ABORT behaves alike', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_C, REGISTER, 0, 0n, 0xcn));
    assertGood(await out(f, NEXUS_A, PREEMPT, WE, 0xan, 0xbn));
    assert.equal(await reservation(f), undefined);
    assert.deepEqual((await keys(f)).keys, [0xan, 0xcn]);
    assertGood(await out(f, NEXUS_C, RESERVE, WE_AR, 0xcn, 0n));
    // All-registrants with service action key zero: everyone else is removed and the preemptor holds.
    assertGood(await out(f, NEXUS_A, PREEMPT_AND_ABORT, EA, 0xan, 0n));
    assert.deepEqual(await reservation(f), { key: 0xan, type: EA });
    assert.deepEqual((await keys(f)).keys, [0xan]);
  } finally {
    await f.cleanup();
  }
});

test('CLEAR removes every registration and the reservation; the others get RESERVATIONS PREEMPTED', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_A, RESERVE, EA, 0xan, 0n));
    assert.equal((await out(f, NEXUS_C, CLEAR, 0, 0n, 0n)).status, CONFLICT, 'unregistered cannot clear');
    assertGood(await out(f, NEXUS_B, CLEAR, 0, 0xbn, 0n));
    assert.equal(await reservation(f), undefined);
    assert.deepEqual((await keys(f)).keys, []);
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }), SenseKey.UNIT_ATTENTION, Asc.RESERVATIONS_PREEMPTED);
  } finally {
    await f.cleanup();
  }
});

test('PERSISTENT RESERVE IN: REPORT CAPABILITIES, READ FULL STATUS, bad service action; RESERVE with a bad type', async () => {
  const f = await fixture();
  try {
    const caps = (await f.run(prIn(2))).data!;
    assert.equal(caps.readUInt16BE(0), 8);
    assert.equal(caps[3] & 0x80, 0x80, 'TMV');
    assert.equal(caps.readUInt16BE(4), 0xea01, 'all six reservation types');
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_B, REGISTER, 0, 0n, 0xbn));
    assertGood(await out(f, NEXUS_B, RESERVE, WE, 0xbn, 0n));
    const full = (await f.run(prIn(3))).data!;
    assert.equal(full.readUInt32BE(4) + 8, full.length);
    const found: Array<{ key: bigint; holder: boolean; name: string }> = [];
    for (let off = 8; off < full.length; ) {
      const tidLen = full.readUInt32BE(off + 20);
      const tid = full.subarray(off + 24, off + 24 + tidLen);
      assert.equal(tid[0] & 0x0f, 5, 'iSCSI TransportID');
      found.push({ key: full.readBigUInt64BE(off), holder: (full[off + 12] & 1) === 1, name: tid.subarray(4).toString('utf8').replace(/\0+$/, '') });
      off += 24 + tidLen;
    }
    assert.deepEqual(found, [
      { key: 0xan, holder: false, name: NEXUS_A },
      { key: 0xbn, holder: true, name: NEXUS_B },
    ]);
    assertSense(await f.run(prIn(7)), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await out(f, NEXUS_A, RESERVE, 2, 0xan, 0n), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assert.equal((await f.run(prIn(0), { nexus: NEXUS_A })).status, 0);
    void WE_RO;
  } finally {
    await f.cleanup();
  }
});

test('RESERVE(6)/RELEASE(6/10): other nexuses conflict until release, LU reset or nexus loss', async () => {
  const f = await fixture();
  try {
    assertGood(await f.run([0x16, 0, 0, 0, 0, 0], { nexus: NEXUS_A }));
    assertGood(await f.run([0x16, 0, 0, 0, 0, 0], { nexus: NEXUS_A }));
    assert.equal((await f.run([0x16, 0, 0, 0, 0, 0], { nexus: NEXUS_B })).status, CONFLICT);
    assert.equal(await canRead(f, NEXUS_B), CONFLICT);
    assert.equal((await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_B })).status, CONFLICT);
    assertGood(await f.run([0x12, 0, 0, 0, 36, 0], { nexus: NEXUS_B }));
    assertGood(await f.run([0x17, 0, 0, 0, 0, 0], { nexus: NEXUS_B })); // no-op for a non-holder
    assert.equal(await canRead(f, NEXUS_B), CONFLICT);
    assert.equal(await canWrite(f, NEXUS_A), 0);
    assertGood(await f.run([0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }));
    assert.equal(await canRead(f, NEXUS_B), 0);

    assertGood(await f.run([0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }));
    f.lu.nexusLost(NEXUS_A);
    assert.equal(await canRead(f, NEXUS_B), 0, 'nexus loss releases');
    // The lost nexus comes back as a new one: POWER ON, RESET first.
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }), SenseKey.UNIT_ATTENTION, Asc.POWER_ON_RESET);

    assertGood(await f.run([0x16, 0, 0, 0, 0, 0], { nexus: NEXUS_B }));
    f.lu.reset();
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_A }), SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET);
    assert.equal(await canRead(f, NEXUS_A), 0, 'LU reset releases');

    // With a persistent reservation in place, RESERVE(6) conflicts.
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_A, RESERVE, WE, 0xan, 0n));
    assert.equal((await f.run([0x16, 0, 0, 0, 0, 0], { nexus: NEXUS_A })).status, CONFLICT);
  } finally {
    await f.cleanup();
  }
});

test('persistent reservations survive LU reset and nexus loss', async () => {
  const f = await fixture();
  try {
    assertGood(await out(f, NEXUS_A, REGISTER, 0, 0n, 0xan));
    assertGood(await out(f, NEXUS_A, RESERVE, EA, 0xan, 0n));
    assertGood(await f.run([0x12, 0, 0, 0, 36, 0], { nexus: NEXUS_B }));
    f.lu.reset();
    f.lu.nexusLost(NEXUS_A);
    assertSense(await f.run([0, 0, 0, 0, 0, 0], { nexus: NEXUS_B }), SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET);
    assert.equal(await canRead(f, NEXUS_B), CONFLICT);
    assert.deepEqual(await reservation(f), { key: 0xan, type: EA });
  } finally {
    await f.cleanup();
  }
});
