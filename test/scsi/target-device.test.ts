import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { ScsiTargetDevice, createLogicalUnit, encodeLun } from '../../src/scsi/index.js';
import { Asc, SenseKey } from '../../src/scsi/sense.js';
import { assertGood, assertSense, identity, read10 } from './helpers.js';

const nexus = 'iqn.2024-01.test:t,i,0x000000000001';
const cmd = (cdb: number[] | Buffer) => ({
  cdb: Buffer.from(cdb),
  expectedDataLength: 4096,
  nexus,
  readOnly: false,
});
const reportLuns = (alloc = 4096, select = 0) => {
  const c = Buffer.alloc(12);
  c[0] = 0xa0;
  c[2] = select;
  c.writeUInt32BE(alloc, 6);
  return c;
};

async function withTarget(fn: (t: ScsiTargetDevice) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'embervol-target-'));
  const t = new ScsiTargetDevice();
  try {
    for (const lun of [0, 3, 300]) {
      const path = join(dir, `lun${lun}.img`);
      await writeFile(path, '');
      await truncate(path, (lun + 1) * 1024 * 512);
      t.addLun(lun, createLogicalUnit(await FileBlockDevice.open(path), { ...identity, serial: `s${lun}` }));
    }
    await fn(t);
  } finally {
    await t.close();
    await rm(dir, { recursive: true });
  }
}

test('REPORT LUNS lists every LUN with SAM LUN encoding, from any LUN, even an absent one', async () => {
  await withTarget(async (t) => {
    for (const lun of [0, 3, 7]) {
      const r = await t.execute(lun, cmd(reportLuns()));
      assertGood(r);
      assert.equal(r.data!.readUInt32BE(0), 24);
      assert.deepEqual(r.data!.subarray(8), Buffer.concat([encodeLun(0), encodeLun(3), encodeLun(300)]));
    }
    assert.deepEqual([...encodeLun(300)], [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
    assert.equal((await t.execute(0, cmd(reportLuns(16)))).data!.length, 16);
    assertSense(await t.execute(0, cmd(reportLuns(8))), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assertSense(await t.execute(0, cmd(reportLuns(64, 0x77))), SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB);
    assert.equal((await t.execute(0, cmd(reportLuns(64, 1)))).data!.readUInt32BE(0), 0);
  });
});

test('an absent LUN: INQUIRY says qualifier 011b type 1Fh, other commands LOGICAL UNIT NOT SUPPORTED', async () => {
  await withTarget(async (t) => {
    const inq = await t.execute(5, cmd([0x12, 0, 0, 0, 36, 0]));
    assertGood(inq);
    assert.equal(inq.data![0], 0x7f);
    assertSense(await t.execute(5, cmd([0, 0, 0, 0, 0, 0])), SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED);
    assertSense(await t.execute(5, cmd(read10(0, 1))), SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED);
    const rs = await t.execute(5, cmd([0x03, 0, 0, 0, 18, 0]));
    assertGood(rs);
    assert.equal(rs.data![2], SenseKey.ILLEGAL_REQUEST);
    assert.equal(rs.data![12], 0x25);
  });
});

test('LUNs are independent devices; removeLun makes one absent; resetLun reaches only that LU', async () => {
  await withTarget(async (t) => {
    assertSense(await t.execute(3, cmd([0, 0, 0, 0, 0, 0])), SenseKey.UNIT_ATTENTION, Asc.POWER_ON_RESET);
    assertSense(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])), SenseKey.UNIT_ATTENTION, Asc.POWER_ON_RESET);
    const cap = await t.execute(3, cmd([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert.equal(cap.data!.readUInt32BE(0), 4 * 1024 - 1);
    assert.equal(t.resetLun(3), true);
    assert.equal(t.resetLun(9), false);
    assertSense(await t.execute(3, cmd([0, 0, 0, 0, 0, 0])), SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET);
    assertGood(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])));
    const lu = t.removeLun(3);
    assert.ok(lu);
    await lu.close();
    assertSense(await t.execute(3, cmd([0, 0, 0, 0, 0, 0])), SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED);
    assert.deepEqual(t.listLuns(), [0, 300]);
    assert.throws(() => t.addLun(0, t.getLun(0)!), /already exists/);
    assert.throws(() => t.addLun(20000, t.getLun(0)!), RangeError);
    t.resetAll();
    assertSense(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])), SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET);
    // The nexus that asked for the reset gets no unit attention for it.
    t.resetAll(nexus);
    assertGood(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])));
    t.resetLun(0, nexus);
    assertGood(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])));
    t.nexusLost(nexus);
    assertSense(await t.execute(0, cmd([0, 0, 0, 0, 0, 0])), SenseKey.UNIT_ATTENTION, Asc.POWER_ON_RESET);
  });
});
