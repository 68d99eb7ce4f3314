import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chapResponse, decodeChapBinary } from '../../src/iscsi/chap.js';
import { crc32c } from '../../src/iscsi/crc32c.js';
import {
  decodeLun,
  DigestError,
  encodeLun,
  encodePduToBuffer,
  newBhs,
  Opcode,
  PduFormatError,
  PduFramer,
  snLess,
  type Pdu,
} from '../../src/iscsi/pdu.js';
import { encodeKeyValues, parseKeyValues, splitSegments, TextFormatError } from '../../src/iscsi/text.js';
import { WriteCollector } from '../../src/iscsi/write-collector.js';

function pdu(opcode: number, data: Buffer, ahs = Buffer.alloc(0)): Pdu {
  const bhs = newBhs(opcode, 0x80);
  bhs.writeUInt32BE(0x11223344, 16);
  return { bhs, ahs, data };
}

function drain(f: PduFramer): Pdu[] {
  const out: Pdu[] = [];
  for (let p = f.next(); p; p = f.next()) out.push(p);
  return out;
}

describe('CRC32C', () => {
  it('matches the RFC 3720 appendix B.4 vectors', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    assert.equal(crc32c(inc), 0x46dd794e);
  });

  it('chains across segments like one pass', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const b = Buffer.from(bytes);
        const k = Math.min(cut, b.length);
        assert.equal(crc32c(b, crc32c(b, 0, 0, k), k), crc32c(b));
      }),
    );
  });
});

describe('PDU codec and framer', () => {
  for (const digests of [
    { header: false, data: false },
    { header: true, data: false },
    { header: true, data: true },
  ]) {
    it(`round-trips PDUs split at every byte (digests ${JSON.stringify(digests)})`, () => {
      const pdus = [pdu(Opcode.NOP_IN, Buffer.from('abcde')), pdu(Opcode.SCSI_RESPONSE, Buffer.alloc(0)), pdu(Opcode.DATA_IN, Buffer.alloc(1000, 9), Buffer.alloc(8, 1))];
      const wire = Buffer.concat(pdus.map((p) => encodePduToBuffer(p, digests)));
      for (let chunk = 1; chunk <= 64; chunk += 7) {
        const f = new PduFramer({ maxDataSegmentLength: 8192 });
        f.digests = digests;
        const got: Pdu[] = [];
        for (let i = 0; i < wire.length; i += chunk) {
          f.push(wire.subarray(i, i + chunk));
          got.push(...drain(f));
        }
        assert.equal(got.length, 3);
        assert.deepEqual(got[0].data, Buffer.from('abcde'));
        assert.equal(got[1].data.length, 0);
        assert.deepEqual(got[2].data, Buffer.alloc(1000, 9));
        assert.deepEqual(got[2].ahs, Buffer.alloc(8, 1));
        assert.equal(got[2].bhs.readUInt32BE(16), 0x11223344);
        assert.equal(f.pendingBytes, 0);
      }
    });
  }

  describe('placed data segments', () => {
    const big = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
    /** A large Data-Out, a small NOP-Out, another large one whose length needs padding. */
    const stream = () => [pdu(Opcode.DATA_OUT, big(70_001, 1)), pdu(Opcode.NOP_OUT, Buffer.from('hi')), pdu(Opcode.DATA_OUT, big(65_537, 2), Buffer.alloc(4, 3))];

    for (const digests of [
      { header: false, data: false },
      { header: true, data: true },
    ]) {
      it(`puts large segments where the placement says, however the stream is split (digests ${JSON.stringify(digests)})`, () => {
        const pdus = stream();
        const wire = Buffer.concat(pdus.map((p) => encodePduToBuffer(p, digests)));
        for (const chunk of [1000, 4096, 65_536, 100_000, wire.length]) {
          for (const inPlace of [false, true]) {
            const f = new PduFramer({ maxDataSegmentLength: 1 << 20 });
            f.digests = digests;
            const dests: Buffer[] = [];
            f.placement = (bhs, len) => {
              assert.equal(bhs[0] & 0x3f, Opcode.DATA_OUT);
              const d = Buffer.alloc(len);
              dests.push(d);
              return d;
            };
            const got: Pdu[] = [];
            for (let i = 0; i < wire.length; ) {
              // As the socket reader does: read into the placed memory when the framer asks for it.
              const want = inPlace ? f.wantBuffer() : null;
              const n = Math.min(chunk, wire.length - i, want ? want.length : Infinity);
              if (want) {
                wire.copy(want, 0, i, i + n);
                f.push(want.subarray(0, n));
              } else f.push(wire.subarray(i, i + n));
              i += n;
              got.push(...drain(f));
            }
            assert.equal(got.length, 3, `chunk ${chunk} inPlace ${inPlace}`);
            // A PDU that arrives whole in one read is framed from the read buffers as usual.
            if (chunk < 65_536) {
              assert.equal(dests.length, 2);
              assert.equal(got[0].data, dests[0], 'the PDU data is the placed buffer');
              assert.equal(got[2].data, dests[1]);
            }
            assert.deepEqual(got[0].data, pdus[0].data);
            assert.deepEqual(got[1].data, Buffer.from('hi'));
            assert.deepEqual(got[2].data, pdus[2].data);
            assert.deepEqual(got[2].ahs, Buffer.alloc(4, 3));
            assert.equal(got[2].bhs.readUInt32BE(16), 0x11223344);
            assert.equal(f.pendingBytes, 0);
          }
        }
      });
    }

    it('leaves a declined segment in the read buffers and asks once per PDU', () => {
      const f = new PduFramer({ maxDataSegmentLength: 1 << 20 });
      let asked = 0;
      f.placement = () => {
        asked++;
        return null;
      };
      const wire = encodePduToBuffer(stream()[0]);
      const got: Pdu[] = [];
      for (let i = 0; i < wire.length; i += 5000) {
        f.push(wire.subarray(i, i + 5000));
        got.push(...drain(f));
      }
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].data, big(70_001, 1));
      assert.equal(asked, 1);
    });

    it('checks the data digest of a placed segment', () => {
      const digests = { header: true, data: true };
      const wire = encodePduToBuffer(stream()[0], digests);
      wire[48 + 4 + 100] ^= 1;
      const f = new PduFramer({ maxDataSegmentLength: 1 << 20 });
      f.digests = digests;
      f.placement = (_bhs, len) => Buffer.alloc(len);
      f.push(wire.subarray(0, 4096));
      assert.equal(f.next(), null);
      f.push(wire.subarray(4096));
      assert.throws(() => f.next(), DigestError);
    });

    it('moves a segment to memory of its own when the receiver abandons the placement', () => {
      const f = new PduFramer({ maxDataSegmentLength: 1 << 20 });
      const dest = Buffer.alloc(70_001);
      f.placement = () => dest;
      const wire = encodePduToBuffer(stream()[0]);
      f.push(wire.subarray(0, 30_000));
      assert.equal(f.next(), null);
      assert.equal(f.abandonPlacement(Buffer.alloc(1).buffer), false, 'other memory: nothing to do');
      assert.equal(f.abandonPlacement(dest.buffer), true);
      dest.fill(0xee); // the memory now belongs to someone else
      f.push(wire.subarray(30_000));
      const [got] = drain(f);
      assert.notEqual(got.data.buffer, dest.buffer);
      assert.deepEqual(got.data, big(70_001, 1));
    });
  });

  it('pads data segments to four bytes and fills the length fields', () => {
    const wire = encodePduToBuffer(pdu(Opcode.NOP_IN, Buffer.from('abcde')));
    assert.equal(wire.length, 48 + 8);
    assert.equal(wire.readUIntBE(5, 3), 5);
    assert.deepEqual(wire.subarray(53), Buffer.alloc(3));
  });

  it('refuses a data segment longer than the limit before buffering it', () => {
    const f = new PduFramer({ maxDataSegmentLength: 1024 });
    f.push(encodePduToBuffer(pdu(Opcode.NOP_OUT, Buffer.alloc(2048))).subarray(0, 48));
    assert.throws(() => f.next(), PduFormatError);
  });

  it('treats a header digest mismatch as fatal and a data digest mismatch as per-PDU', () => {
    const digests = { header: true, data: true };
    const wire = encodePduToBuffer(pdu(Opcode.NOP_OUT, Buffer.from('hello')), digests);
    const badHeader = Buffer.from(wire);
    badHeader[20] ^= 1;
    let f = new PduFramer({ maxDataSegmentLength: 8192 });
    f.digests = digests;
    f.push(badHeader);
    assert.throws(() => f.next(), PduFormatError);
    const badData = Buffer.concat([Buffer.from(wire), wire]);
    badData[48 + 4] ^= 1;
    f = new PduFramer({ maxDataSegmentLength: 8192 });
    f.digests = digests;
    f.push(badData);
    assert.throws(() => f.next(), DigestError);
    assert.deepEqual(f.next()?.data, Buffer.from('hello'), 'the next PDU is still framed correctly');
  });

  it('decodes peripheral and flat LUNs and orders sequence numbers modulo 2^32', () => {
    assert.equal(decodeLun(encodeLun(0)), 0);
    assert.equal(decodeLun(encodeLun(5)), 5);
    assert.equal(decodeLun(encodeLun(300)), 300);
    assert.ok(snLess(0xfffffff0, 5));
    assert.ok(!snLess(5, 0xfffffff0));
    assert.ok(!snLess(7, 7));
  });
});

describe('text keys', () => {
  it('round-trips key=value pairs and rejects malformed items', () => {
    const kv: Array<[string, string]> = [['InitiatorName', 'iqn.2007-10.com.test:a'], ['X-Empty', '']];
    assert.deepEqual(parseKeyValues(encodeKeyValues(kv)), kv);
    assert.throws(() => parseKeyValues(Buffer.from('novalue\0')), TextFormatError);
    assert.throws(() => parseKeyValues(Buffer.from('=x\0')), TextFormatError);
  });

  it('splits long text into segments that concatenate back', () => {
    const data = Buffer.alloc(20000, 0x41);
    const parts = splitSegments(data, 8192);
    assert.deepEqual(parts.map((p) => p.length), [8192, 8192, 3616]);
    assert.deepEqual(Buffer.concat(parts), data);
  });
});

describe('CHAP helpers', () => {
  it('decodes hex and base64 and computes the RFC 1994 MD5 response', () => {
    assert.deepEqual(decodeChapBinary('0x0102ff'), Buffer.from([1, 2, 255]));
    assert.deepEqual(decodeChapBinary('0x102'), Buffer.from([1, 2]));
    assert.deepEqual(decodeChapBinary('0bAQL/'), Buffer.from([1, 2, 255]));
    assert.equal(decodeChapBinary('0xzz'), null);
    assert.equal(decodeChapBinary('plain'), null);
    // MD5(0x01 || "secret" || 0x00..0f), computed independently with Python's hashlib.
    const r = chapResponse(1, 'secret', Buffer.from([...Array(16).keys()]));
    assert.equal(r.toString('hex'), '740e86463bda3a4d7017d6e0fba0699d');
  });
});

describe('write collection', () => {
  const opts = (o: Partial<ConstructorParameters<typeof WriteCollector>[1]> = {}) => {
    let tag = 100;
    return { firstBurstLength: 4096, maxBurstLength: 8192, maxOutstandingR2T: 2, unsolicitedOpen: false, newTargetTag: () => tag++, ...o };
  };

  it('takes immediate data, solicits the rest within MaxBurstLength and MaxOutstandingR2T', () => {
    const c = new WriteCollector(30000, opts());
    c.immediate(Buffer.alloc(1000, 1));
    const r2ts = c.takeR2Ts();
    assert.deepEqual(r2ts.map((r) => [r.offset, r.length, r.r2tSN]), [[1000, 8192, 0], [9192, 8192, 1]]);
    assert.equal(c.dataOut({ ttt: r2ts[0].ttt, dataSN: 0, offset: 1000, final: true, data: Buffer.alloc(8192, 2) }), 'ok');
    const more = c.takeR2Ts();
    assert.deepEqual(more.map((r) => [r.offset, r.length]), [[17384, 8192]]);
    assert.equal(c.dataOut({ ttt: r2ts[1].ttt, dataSN: 0, offset: 9192, final: true, data: Buffer.alloc(8192, 3) }), 'ok');
    const last = c.takeR2Ts();
    assert.deepEqual(last.map((r) => [r.offset, r.length]), [[25576, 4424]]);
    assert.equal(c.dataOut({ ttt: more[0].ttt, dataSN: 0, offset: 17384, final: true, data: Buffer.alloc(8192, 4) }), 'ok');
    assert.equal(c.complete, false);
    assert.equal(c.dataOut({ ttt: last[0].ttt, dataSN: 0, offset: 25576, final: true, data: Buffer.alloc(4424, 5) }), 'ok');
    assert.equal(c.complete, true);
    assert.equal(c.buffer[999], 1);
    assert.equal(c.buffer[29999], 5);
  });

  it('waits for the unsolicited burst before soliciting and rejects bad DataSN or offsets', () => {
    const c = new WriteCollector(10000, opts({ unsolicitedOpen: true }));
    assert.deepEqual(c.takeR2Ts(), []);
    assert.equal(c.dataOut({ ttt: 0xffffffff, dataSN: 0, offset: 0, final: false, data: Buffer.alloc(2048) }), 'ok');
    assert.equal(c.dataOut({ ttt: 0xffffffff, dataSN: 1, offset: 2048, final: true, data: Buffer.alloc(2048) }), 'ok');
    const [r] = c.takeR2Ts();
    assert.deepEqual([r.offset, r.length], [4096, 5904]);
    assert.equal(c.dataOut({ ttt: r.ttt, dataSN: 1, offset: 4096, final: true, data: Buffer.alloc(5904) }), 'error');
    const d = new WriteCollector(10000, opts({ unsolicitedOpen: true }));
    assert.equal(d.dataOut({ ttt: 0xffffffff, dataSN: 0, offset: 512, final: false, data: Buffer.alloc(512) }), 'error');
    const e = new WriteCollector(1000, opts());
    assert.equal(e.dataOut({ ttt: 12345, dataSN: 0, offset: 0, final: true, data: Buffer.alloc(10) }), 'error');
  });
});
