// Hostile input: thousands of mutated PDUs (valid login and command PDUs with flipped bytes,
// bogus lengths, truncated streams, garbage) against a live target. The process must survive
// and an unrelated session must keep working. EMBERVOL_FUZZ_PDUS raises the count
// (default 4000); EMBERVOL_FUZZ_SEED replays a run.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodePduToBuffer, newBhs, Opcode, type Pdu } from '../../src/iscsi/pdu.js';
import { encodeKeyValues } from '../../src/iscsi/text.js';
import { INITIATOR, INITIATOR2, startTestTarget, TARGET_IQN, type TestTarget } from './helpers.js';
import { RawInitiator, read10, TEST_UNIT_READY, write10 } from './raw-initiator.js';

const TOTAL = Number(process.env.EMBERVOL_FUZZ_PDUS ?? 4000);
const SEED = Number(process.env.EMBERVOL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** xorshift32: reproducible from the printed seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function templates(cmdSN: number): Pdu[] {
  const login = newBhs(0x40 | Opcode.LOGIN_REQUEST, 0x87);
  login.writeUInt32BE(cmdSN, 24);
  const loginData = encodeKeyValues([['InitiatorName', INITIATOR2], ['TargetName', TARGET_IQN], ['SessionType', 'Normal'], ['AuthMethod', 'CHAP,None'], ['CHAP_A', '5'], ['MaxRecvDataSegmentLength', '8192']]);
  const cmd = (cdb: Buffer, flags: number, edtl: number, data = Buffer.alloc(0), itt = Math.floor(Math.random() * 1000)): Pdu => {
    const b = newBhs(Opcode.SCSI_COMMAND, flags);
    b.writeUInt32BE(itt, 16);
    b.writeUInt32BE(edtl, 20);
    b.writeUInt32BE(cmdSN, 24);
    cdb.copy(b, 32);
    return { bhs: b, ahs: Buffer.alloc(0), data };
  };
  const dataOut = newBhs(Opcode.DATA_OUT, 0x80);
  dataOut.writeUInt32BE(0xffffffff, 20);
  const text = newBhs(Opcode.TEXT_REQUEST, 0x80);
  text.writeUInt32BE(0xffffffff, 20);
  text.writeUInt32BE(cmdSN, 24);
  const tmf = newBhs(0x40 | Opcode.TASK_MGMT_REQUEST, 0x85);
  const nop = newBhs(0x40 | Opcode.NOP_OUT, 0x80);
  nop.writeUInt32BE(0xffffffff, 20);
  const logout = newBhs(0x40 | Opcode.LOGOUT_REQUEST, 0x80);
  // Segments large enough to be read straight into place (PduFramer.placement): a write's 64 KiB of immediate data,
  // and 64 KiB of Data-Out for that write's ITT (placed into its buffer, then refused: InitialR2T is Yes).
  const PLACED_ITT = 0x4242;
  const bigDataOut = newBhs(Opcode.DATA_OUT, 0x80);
  bigDataOut.writeUInt32BE(PLACED_ITT, 16);
  bigDataOut.writeUInt32BE(0xffffffff, 20);
  bigDataOut.writeUInt32BE(65536, 40);
  return [
    cmd(write10(64, 256), 0xa1, 131072, Buffer.alloc(65536, 0xcc), PLACED_ITT),
    { bhs: bigDataOut, ahs: Buffer.alloc(0), data: Buffer.alloc(65536, 0xbb) },
    { bhs: login, ahs: Buffer.alloc(0), data: loginData },
    cmd(read10(0, 8), 0xc1, 4096),
    cmd(write10(8, 2), 0xa1, 1024, Buffer.alloc(512, 0xee)),
    cmd(write10(16, 64), 0x21, 32768, Buffer.alloc(1024, 0xdd)),
    cmd(TEST_UNIT_READY, 0x81, 0),
    { bhs: dataOut, ahs: Buffer.alloc(0), data: Buffer.alloc(512, 1) },
    { bhs: text, ahs: Buffer.alloc(0), data: encodeKeyValues([['SendTargets', 'All']]) },
    { bhs: tmf, ahs: Buffer.alloc(0), data: Buffer.alloc(0) },
    { bhs: nop, ahs: Buffer.alloc(0), data: Buffer.alloc(16, 2) },
    { bhs: logout, ahs: Buffer.alloc(0), data: Buffer.alloc(0) },
  ];
}

function mutate(wire: Buffer, r: () => number): Buffer {
  const b = Buffer.from(wire);
  switch (Math.floor(r() * 7)) {
    case 0: // flip a few bytes anywhere
      for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return b;
    case 1: // bogus data segment length
      b.writeUIntBE(Math.floor(r() * 0x1000000), 5, 3);
      return b;
    case 2: // bogus AHS length
      b[4] = Math.floor(r() * 256);
      return b;
    case 3: // truncated
      return b.subarray(0, Math.floor(r() * b.length));
    case 4: // random opcode and flags
      b[0] = Math.floor(r() * 256);
      b[1] = Math.floor(r() * 256);
      return b;
    case 5: // huge expected transfer length / offsets
      b.writeUInt32BE(Math.floor(r() * 0x100000000), 20 + 4 * Math.floor(r() * 6));
      return b;
    default: // pure garbage
      return Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
  }
}

async function checkWitness(c: RawInitiator): Promise<void> {
  // Fuzzed LUN/target resets legitimately leave unit attentions for every nexus: retry past them.
  for (let attempt = 0; attempt < 5; attempt++) {
    c.send(c.scsiCommand(read10(0, 1), { read: true, edtl: 512 }));
    for (;;) {
      const p = await c.receive(10000);
      assert.ok(p, 'the witness session was disturbed');
      const op = p.bhs[0] & 0x3f;
      if (op === Opcode.DATA_IN && p.bhs[1] & 0x01) {
        assert.equal(p.bhs[3], 0);
        return;
      }
      if (op === Opcode.SCSI_RESPONSE) {
        assert.equal(p.bhs[3], 0x02);
        assert.equal(p.data[4] & 0x0f, 0x06, 'only a unit attention may interrupt the witness');
        break;
      }
    }
  }
  assert.fail('the witness never got its data');
}

describe(`fuzzing the target (${TOTAL} PDUs, seed ${SEED})`, () => {
  let t: TestTarget;
  let witness: RawInitiator;
  before(async () => {
    t = await startTestTarget({ initiators: [INITIATOR, INITIATOR2], server: { loginTimeoutMs: 2000 } });
    witness = await RawInitiator.connect(t.port);
    assert.equal(await witness.login({ initiator: INITIATOR, target: TARGET_IQN }), 0);
    witness.send(witness.scsiCommand(TEST_UNIT_READY));
    await witness.receive();
  });
  after(async () => {
    witness.close();
    await t.stop();
  });

  it('survives mutated PDUs before and after login while another session keeps working', async () => {
    const r = rng(SEED);
    let sent = 0;
    let connections = 0;
    const worker = async () => {
      while (sent < TOTAL) {
        connections++;
        const c = await RawInitiator.connect(t.port);
        // Half the connections log in properly first, so the full feature phase gets fuzzed too.
        const loggedIn = r() < 0.5 && (await c.login({ initiator: INITIATOR2, target: TARGET_IQN })) === 0;
        const base = templates(loggedIn ? c.cmdSN : 0);
        const burst = 1 + Math.floor(r() * 40);
        const chunks: Buffer[] = [];
        for (let i = 0; i < burst && sent < TOTAL; i++, sent++) {
          const tpl = base[Math.floor(r() * base.length)];
          const wire = encodePduToBuffer({ bhs: Buffer.from(tpl.bhs), ahs: tpl.ahs, data: tpl.data });
          chunks.push(r() < 0.2 ? wire : mutate(wire, r));
        }
        // Send coalesced, or split at random points, to exercise the framer too.
        const stream = Buffer.concat(chunks);
        for (let off = 0; off < stream.length && !c.closed; ) {
          const n = r() < 0.5 ? stream.length : 1 + Math.floor(r() * 300);
          c.send(stream.subarray(off, off + n));
          off += n;
        }
        await c.receive(20);
        c.close();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.ok(connections > 0);
    await checkWitness(witness);
    // And the target still accepts new sessions.
    const fresh = await RawInitiator.connect(t.port);
    assert.equal(await fresh.login({ initiator: INITIATOR2, target: TARGET_IQN }), 0);
    fresh.close();
  });
});
