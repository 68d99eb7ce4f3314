// Large transfers use pooled memory (util/large-buffers.ts) and large data segments are read straight into place
// (PduFramer placement). These tests try the ways that could hand one piece of memory to two owners.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { encodePduToBuffer, getU32, newBhs, Opcode, type Pdu } from '../../src/iscsi/pdu.js';
import { INITIATOR, INITIATOR2, startTestTarget, type TestTarget } from './helpers.js';
import { read10, write10, type RawInitiator } from './raw-initiator.js';
import { loggedIn, response } from './raw-session.js';

const BLOCK = 512;
const MIB = 1 << 20;
const REGIONS = 24;

const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + seed * 101) & 0xff));

function dataOut(itt: number, ttt: number, dataSN: number, offset: number, data: Buffer, final = true): Pdu {
  const b = newBhs(Opcode.DATA_OUT, final ? 0x80 : 0);
  b.writeUInt32BE(itt, 16);
  b.writeUInt32BE(ttt, 20);
  b.writeUInt32BE(dataSN, 36);
  b.writeUInt32BE(offset, 40);
  return { bhs: b, ahs: Buffer.alloc(0), data };
}

/** Reads `bytes` at `lba` and returns the data of all its Data-In PDUs. */
async function readBack(c: RawInitiator, lba: number, bytes: number): Promise<Buffer> {
  c.send(c.scsiCommand(read10(lba, bytes / BLOCK), { read: true, edtl: bytes }));
  const parts: Buffer[] = [];
  for (;;) {
    const p = await response(c, Opcode.DATA_IN);
    parts.push(p.data);
    if (p.bhs[1] & 0x01) return Buffer.concat(parts);
  }
}

/** Sends a write's command; returns its ITT. Its data follows through R2Ts (InitialR2T=Yes, no immediate data). */
function startWrite(c: RawInitiator, lba: number, bytes: number): number {
  const cmd = c.scsiCommand(write10(lba, bytes / BLOCK), { write: true, edtl: bytes });
  c.send(cmd);
  return getU32(cmd.bhs, 16);
}

/** Answers an R2T of the write with one Data-Out of what it asks for. */
function answer(c: RawInitiator, r2t: Pdu, itt: number, payload: Buffer): void {
  assert.equal(getU32(r2t.bhs, 16), itt);
  const offset = getU32(r2t.bhs, 40);
  c.send(dataOut(itt, getU32(r2t.bhs, 20), 0, offset, payload.subarray(offset, offset + getU32(r2t.bhs, 44))));
}

const SOLICITED_ONLY: Array<[string, string]> = [
  ['InitialR2T', 'Yes'],
  ['ImmediateData', 'No'],
  ['MaxBurstLength', '262144'],
  ['MaxOutstandingR2T', '1'],
  ['MaxRecvDataSegmentLength', '262144'],
];

describe('large transfers', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ bytes: REGIONS * MIB, initiators: [INITIATOR, INITIATOR2] });
    const fh = await open(join(t.dir, 'lun0.img'), 'r+');
    for (let i = 0; i < REGIONS; i++) await fh.write(Buffer.alloc(MIB, 0x20 + i), 0, MIB, i * MIB);
    await fh.close();
  });
  after(async () => t.stop());

  it('every 1 MiB read returns its own data although the initiator read nothing while they ran', async () => {
    // A read buffer given back too early would be filled by a later read while its Data-In still waits in the socket.
    const c = await loggedIn(t.port);
    try {
      c.socket.pause();
      const itts = new Map<number, number>();
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < REGIONS; i++) {
          const pdu = c.scsiCommand(read10((i * MIB) / BLOCK, MIB / BLOCK), { read: true, edtl: MIB });
          itts.set(getU32(pdu.bhs, 16), i);
          c.send(pdu);
        }
        // The target answers into a socket nobody reads; the second pass starts once the first one's data waits there.
        await sleep(300);
      }
      c.socket.resume();
      const got = new Map<number, Buffer[]>();
      let done = 0;
      while (done < itts.size) {
        const pdu = await c.receive(10_000);
        assert.ok(pdu, `the target answered every read (${done} of ${itts.size})`);
        assert.equal(pdu.bhs[0] & 0x3f, Opcode.DATA_IN, 'only Data-In, status in the last one');
        const itt = getU32(pdu.bhs, 16);
        got.set(itt, [...(got.get(itt) ?? []), pdu.data]);
        if (pdu.bhs[1] & 0x01) done++;
      }
      for (const [itt, region] of itts) {
        const data = Buffer.concat(got.get(itt) ?? []);
        assert.equal(data.length, MIB);
        const wrong = data.findIndex((b) => b !== 0x20 + region);
        assert.equal(wrong, -1, `read of region ${region} (ITT ${itt}) returned byte 0x${data[wrong]?.toString(16)} at ${wrong}`);
      }
    } finally {
      c.close();
    }
  });

  it('a 1 MiB write with digests, its immediate data and Data-Out arriving in small pieces, is stored exactly', async () => {
    const c = await loggedIn(t.port, INITIATOR, [
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'CRC32C'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['FirstBurstLength', '131072'],
      ['MaxBurstLength', '262144'],
      ['MaxOutstandingR2T', '1'],
      ['MaxRecvDataSegmentLength', '65536'],
    ]);
    try {
      const payload = pattern(MIB, 1);
      const lba = (4 * MIB) / BLOCK;
      const cmd = c.scsiCommand(write10(lba, MIB / BLOCK), { write: true, edtl: MIB, data: payload.subarray(0, 131072) });
      const itt = getU32(cmd.bhs, 16);
      // Every PDU goes out in 3000-byte writes, each on its own turn, so the target reads them piece by piece.
      const trickle = async (pdu: Pdu): Promise<void> => {
        const wire = encodePduToBuffer(pdu, { header: true, data: true });
        for (let i = 0; i < wire.length; i += 3000) {
          c.socket.write(wire.subarray(i, i + 3000));
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await trickle(cmd);
      for (let received = 131072; received < MIB; ) {
        const r2t = await response(c, Opcode.R2T);
        const offset = getU32(r2t.bhs, 40);
        const length = getU32(r2t.bhs, 44);
        await trickle(dataOut(itt, getU32(r2t.bhs, 20), 0, offset, payload.subarray(offset, offset + length)));
        received += length;
      }
      assert.equal((await response(c, Opcode.SCSI_RESPONSE)).bhs[3], 0, 'GOOD');
      assert.ok((await readBack(c, lba, MIB)).equals(payload), 'read back as written');
    } finally {
      c.close();
    }
  });

  it("a LUN reset from another session while a Data-Out is half read leaves the other session's write intact", async () => {
    // Session A's write is aborted while its Data-Out is being read straight into the write's buffer. That buffer
    // must not go back to the pool: session B's next write could get it, and the rest of A's Data-Out would land in
    // B's data.
    const a = await loggedIn(t.port, INITIATOR, SOLICITED_ONLY);
    const b = await loggedIn(t.port, INITIATOR2, SOLICITED_ONLY);
    try {
      const aData = Buffer.alloc(MIB, 0xaa);
      const aItt = startWrite(a, (8 * MIB) / BLOCK, MIB);
      const r2t = await response(a, Opcode.R2T);
      const aWire = encodePduToBuffer(dataOut(aItt, getU32(r2t.bhs, 20), 0, 0, aData.subarray(0, getU32(r2t.bhs, 44))));
      const half = 48 + 100_000;
      a.socket.write(aWire.subarray(0, half));
      await sleep(100);

      const reset = newBhs(0x40 | Opcode.TASK_MGMT_REQUEST, 0x80 | 5);
      reset.writeUInt32BE(b.itt(), 16);
      reset.writeUInt32BE(b.cmdSN, 24);
      b.send({ bhs: reset, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
      assert.equal((await response(b, Opcode.TASK_MGMT_RESPONSE)).bhs[2], 0, 'LUN RESET done');
      b.send(b.scsiCommand(read10(0, 1), { read: true, edtl: BLOCK })); // takes the reset's unit attention
      await response(b, Opcode.SCSI_RESPONSE);

      // B's write has its first burst in (the target asks for the second), then A's Data-Out goes on, then B finishes.
      const bData = pattern(MIB, 2);
      const bLba = (12 * MIB) / BLOCK;
      const bItt = startWrite(b, bLba, MIB);
      answer(b, await response(b, Opcode.R2T), bItt, bData);
      const second = await response(b, Opcode.R2T);
      a.socket.write(aWire.subarray(half));
      await sleep(100);
      answer(b, second, bItt, bData);
      for (let i = 2; i < 4; i++) answer(b, await response(b, Opcode.R2T), bItt, bData);
      assert.equal((await response(b, Opcode.SCSI_RESPONSE)).bhs[3], 0, 'GOOD');
      const back = await readBack(b, bLba, MIB);
      const wrong = back.findIndex((x, i) => x !== bData[i]);
      assert.equal(wrong, -1, `B's data changed at byte ${wrong} (0x${back[wrong]?.toString(16)})`);
      // A's session lives on; its aborted write got no answer and its data went nowhere.
      a.send(a.scsiCommand(read10(0, 1), { read: true, edtl: BLOCK }));
      assert.equal((await response(a, Opcode.SCSI_RESPONSE)).bhs[3], 0x02, 'the reset unit attention, then the session goes on');
      assert.ok((await readBack(a, (8 * MIB) / BLOCK, MIB)).equals(Buffer.alloc(MIB, 0x28)), "the aborted write's region is as it was");
    } finally {
      a.close();
      b.close();
    }
  });
});
