// Large reads use pooled buffers that go back to the pool once the socket has written them. An initiator that stops
// reading makes the target's writes wait in the socket: a buffer given back too early would then be filled by a
// later read while its Data-In still waits to be sent, and the initiator would get another command's data.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Opcode, getU32 } from '../../src/iscsi/pdu.js';
import { INITIATOR, startTestTarget, TARGET_IQN, type TestTarget } from './helpers.js';
import { RawInitiator, read10, TEST_UNIT_READY } from './raw-initiator.js';

const BLOCK = 512;
const REGION = 1 << 20;
const REGIONS = 24;

describe('large reads with a slow initiator', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ bytes: REGIONS * REGION });
    const fh = await open(join(t.dir, 'lun0.img'), 'r+');
    for (let i = 0; i < REGIONS; i++) await fh.write(Buffer.alloc(REGION, 0x20 + i), 0, REGION, i * REGION);
    await fh.close();
  });
  after(async () => t.stop());

  it('every 1 MiB read returns its own data although the initiator read nothing while they ran', async () => {
    const ini = await RawInitiator.connect(t.port);
    try {
      assert.equal(await ini.login({ initiator: INITIATOR, target: TARGET_IQN }), 0);
      // A new nexus first meets the power-on unit attention; take it before the reads.
      ini.send(ini.scsiCommand(TEST_UNIT_READY));
      assert.equal((await ini.receive())?.bhs[0]! & 0x3f, Opcode.SCSI_RESPONSE);
      ini.socket.pause();
      const itts = new Map<number, number>();
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < REGIONS; i++) {
          const pdu = ini.scsiCommand(read10((i * REGION) / BLOCK, REGION / BLOCK), { read: true, edtl: REGION });
          itts.set(getU32(pdu.bhs, 16), i);
          ini.send(pdu);
        }
        // The target answers into a socket nobody reads; the second pass starts once the first one's data waits there.
        await sleep(300);
      }
      ini.socket.resume();
      const got = new Map<number, Buffer[]>();
      let done = 0;
      while (done < itts.size) {
        const pdu = await ini.receive(10_000);
        assert.ok(pdu, `the target answered every read (${done} of ${itts.size})`);
        assert.equal(pdu.bhs[0] & 0x3f, Opcode.DATA_IN, 'only Data-In, status in the last one');
        const itt = getU32(pdu.bhs, 16);
        got.set(itt, [...(got.get(itt) ?? []), pdu.data]);
        if (pdu.bhs[1] & 0x01) done++; // status in the last Data-In
      }
      for (const [itt, region] of itts) {
        const data = Buffer.concat(got.get(itt) ?? []);
        assert.equal(data.length, REGION);
        const wrong = data.findIndex((b) => b !== 0x20 + region);
        assert.equal(wrong, -1, `read of region ${region} (ITT ${itt}) returned byte 0x${data[wrong]?.toString(16)} at ${wrong}`);
      }
    } finally {
      ini.close();
    }
  });
});
