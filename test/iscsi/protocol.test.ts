// Protocol behaviour seen from a raw initiator: login status codes, continue bit, command
// windows, R2T, NOP pings, task management, read-only mappings, ACL removal under a live session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodePduToBuffer, newBhs, Opcode, type Pdu } from '../../src/iscsi/pdu.js';
import { parseKeyValues } from '../../src/iscsi/text.js';
import { INITIATOR, INITIATOR2, startTestTarget, TARGET_IQN, type TestTarget } from './helpers.js';
import { RawInitiator, read10, TEST_UNIT_READY, write10 } from './raw-initiator.js';
import { clearUnitAttention, loggedIn, response } from './raw-session.js';

const CHAP_IQN = 'iqn.2010-10.org.openstack:volume-chap';
const CHAP = { username: 'user', password: 'password-123456' };

describe('iSCSI protocol from a raw initiator', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ initiators: [INITIATOR, INITIATOR2], server: { loginTimeoutMs: 1500 } });
    t.server.createTarget(CHAP_IQN, { chap: CHAP });
    t.server.allowInitiator(CHAP_IQN, INITIATOR);
  });
  after(() => t.stop());

  it('answers login errors with the RFC status codes', async () => {
    const cases: Array<{ keys: Array<[string, string]>; status: number }> = [
      { keys: [['InitiatorName', INITIATOR], ['TargetName', 'iqn.2010-10.org.openstack:volume-none'], ['AuthMethod', 'None']], status: 0x0203 },
      { keys: [['TargetName', TARGET_IQN], ['AuthMethod', 'None']], status: 0x0207 },
      { keys: [['InitiatorName', INITIATOR], ['AuthMethod', 'None']], status: 0x0207 },
      { keys: [['InitiatorName', 'iqn.2007-10.com.test:nobody'], ['TargetName', TARGET_IQN], ['AuthMethod', 'None']], status: 0x0202 },
      { keys: [['InitiatorName', INITIATOR], ['TargetName', CHAP_IQN], ['AuthMethod', 'None']], status: 0x0201 },
      { keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_IQN], ['SessionType', 'Bogus']], status: 0x0209 },
    ];
    for (const k of cases) {
      const c = await RawInitiator.connect(t.port);
      const r = await c.loginStep({ csg: 0, nsg: 1, transit: true, keys: k.keys });
      assert.equal(r?.status, k.status, JSON.stringify(k.keys));
      assert.ok(await c.waitClosed(), 'a failed login closes the connection');
    }
  });

  it('refuses a wrong CHAP response and accepts the right one', async () => {
    const bad = await RawInitiator.connect(t.port);
    assert.equal(await bad.login({ initiator: INITIATOR, target: CHAP_IQN, chap: { ...CHAP, password: 'nope' } }), 0x0201);
    const good = await RawInitiator.connect(t.port);
    assert.equal(await good.login({ initiator: INITIATOR, target: CHAP_IQN, chap: CHAP }), 0);
    good.close();
  });

  it('reassembles login text sent over the continue bit', async () => {
    const c = await RawInitiator.connect(t.port);
    const first = await c.loginStep({ csg: 1, nsg: 3, transit: false, cont: true, keys: [['InitiatorName', INITIATOR]] });
    assert.equal(first?.status, 0);
    assert.equal(first?.keys.size, 0, 'a partial request gets an empty response');
    const second = await c.loginStep({ csg: 1, nsg: 3, transit: true, keys: [['TargetName', TARGET_IQN], ['MaxBurstLength', '65536'], ['X-com.example.Unknown', '1']] });
    assert.equal(second?.status, 0);
    assert.equal(second?.transit, true);
    assert.equal(second?.keys.get('MaxBurstLength'), '65536');
    assert.equal(second?.keys.get('X-com.example.Unknown'), 'NotUnderstood');
    assert.equal(second?.keys.get('TargetPortalGroupTag'), '1');
    assert.ok(second!.tsih > 0);
    c.close();
  });

  it('drops a connection that never logs in', async () => {
    const c = await RawInitiator.connect(t.port);
    assert.ok(await c.waitClosed(6000));
  });

  it('keeps 128 commands in flight within the CmdSN window', async () => {
    const c = await RawInitiator.connect(t.port);
    const lr = await c.loginStep({ csg: 1, nsg: 3, transit: true, keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_IQN], ['MaxRecvDataSegmentLength', '65536']] });
    const expCmdSN = lr!.pdu.bhs.readUInt32BE(28);
    const maxCmdSN = lr!.pdu.bhs.readUInt32BE(32);
    assert.equal(maxCmdSN - expCmdSN + 1, 128);
    await clearUnitAttention(c);
    const itts = new Set<number>();
    const batch: Buffer[] = [];
    for (let i = 0; i < 128; i++) {
      const p = c.scsiCommand(read10(i * 8, 8), { read: true, edtl: 4096 });
      itts.add(p.bhs.readUInt32BE(16));
      batch.push(Buffer.concat([p.bhs]));
    }
    c.send(Buffer.concat(batch)); // one write: 128 coalesced PDUs
    let done = 0;
    while (done < 128) {
      const p = await c.receive();
      assert.ok(p);
      assert.notEqual(p.bhs[0] & 0x3f, Opcode.SCSI_RESPONSE, 'every read completes with status in its last Data-In');
      if ((p.bhs[0] & 0x3f) === Opcode.DATA_IN && p.bhs[1] & 0x01) {
        assert.equal(p.bhs[3], 0);
        assert.ok(itts.delete(p.bhs.readUInt32BE(16)));
        done++;
      }
    }
    assert.equal(itts.size, 0);
    // A command beyond MaxCmdSN is ignored; the next in-window one works.
    const tooHigh = c.scsiCommand(TEST_UNIT_READY);
    tooHigh.bhs.writeUInt32BE(c.cmdSN + 1000, 24);
    c.cmdSN -= 1;
    c.send(tooHigh);
    c.send(c.scsiCommand(TEST_UNIT_READY));
    const r = await response(c, Opcode.SCSI_RESPONSE);
    assert.notEqual(r.bhs.readUInt32BE(16), tooHigh.bhs.readUInt32BE(16), 'the out-of-window command got no answer');
    assert.equal(r.bhs[3], 0);
    c.close();
  });

  it('collects immediate, unsolicited and solicited data for one write', async () => {
    const c = await loggedIn(t.port, INITIATOR, [
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['FirstBurstLength', '8192'],
      ['MaxBurstLength', '16384'],
      ['MaxRecvDataSegmentLength', '65536'],
    ]);
    const total = 40960;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 7) & 0xff;
    const cmd = c.scsiCommand(write10(100, total / 512), { write: true, edtl: total, data: payload.subarray(0, 4096), final: false });
    const itt = cmd.bhs.readUInt32BE(16);
    c.send(cmd);
    // Unsolicited Data-Out for the rest of the first burst.
    const dout = newBhs(Opcode.DATA_OUT, 0x80);
    dout.writeUInt32BE(itt, 16);
    dout.writeUInt32BE(0xffffffff, 20);
    dout.writeUInt32BE(0, 36);
    dout.writeUInt32BE(4096, 40);
    c.send({ bhs: dout, ahs: Buffer.alloc(0), data: payload.subarray(4096, 8192) });
    let received = 8192;
    while (received < total) {
      const r2t = await response(c, Opcode.R2T);
      const ttt = r2t.bhs.readUInt32BE(20);
      const offset = r2t.bhs.readUInt32BE(40);
      const len = r2t.bhs.readUInt32BE(44);
      assert.ok(len <= 16384);
      for (let sent = 0, sn = 0; sent < len; sent += 8192, sn++) {
        const b = newBhs(Opcode.DATA_OUT, sent + 8192 >= len ? 0x80 : 0);
        b.writeUInt32BE(itt, 16);
        b.writeUInt32BE(ttt, 20);
        b.writeUInt32BE(sn, 36);
        b.writeUInt32BE(offset + sent, 40);
        c.send({ bhs: b, ahs: Buffer.alloc(0), data: payload.subarray(offset + sent, offset + Math.min(len, sent + 8192)) });
      }
      received += len;
    }
    const status = await response(c, Opcode.SCSI_RESPONSE);
    assert.equal(status.bhs[3], 0);
    c.send(c.scsiCommand(read10(100, total / 512), { read: true, edtl: total }));
    const chunks: Buffer[] = [];
    for (;;) {
      const p = await response(c, Opcode.DATA_IN);
      chunks.push(p.data);
      if (p.bhs[1] & 0x01) break;
    }
    assert.deepEqual(Buffer.concat(chunks), payload);
    c.close();
  });

  it('answers NOP-Out pings, SendTargets and task management', async () => {
    const c = await RawInitiator.connect(t.port);
    assert.equal(await c.login({ initiator: INITIATOR, target: TARGET_IQN }), 0);
    c.send(c.nopOut(Buffer.from('ping-data')));
    const nop = await response(c, Opcode.NOP_IN);
    assert.deepEqual(nop.data, Buffer.from('ping-data'));

    c.send(c.textRequest([['SendTargets', 'All']]));
    const text = await response(c, Opcode.TEXT_RESPONSE);
    const kv = parseKeyValues(text.data);
    assert.deepEqual(kv[0], ['TargetName', TARGET_IQN]);
    assert.equal(kv[1][0], 'TargetAddress');
    assert.equal(kv[1][1], `127.0.0.1:${t.port},1`);

    const tmf = (fn: number, ref = 0) => {
      const b = newBhs(0x40 | Opcode.TASK_MGMT_REQUEST, 0x80 | fn);
      b.writeUInt32BE(c.itt(), 16);
      b.writeUInt32BE(ref, 20);
      b.writeUInt32BE(c.cmdSN, 24);
      return { bhs: b, ahs: Buffer.alloc(0), data: Buffer.alloc(0) };
    };
    c.send(tmf(1, 0x7777));
    assert.equal((await response(c, Opcode.TASK_MGMT_RESPONSE)).bhs[2], 1, 'ABORT TASK of an unknown task');
    c.send(tmf(5));
    assert.equal((await response(c, Opcode.TASK_MGMT_RESPONSE)).bhs[2], 0, 'LUN RESET');
    c.send(tmf(3));
    assert.equal((await response(c, Opcode.TASK_MGMT_RESPONSE)).bhs[2], 5, 'CLEAR ACA is not supported');
    // The LUN reset leaves a unit attention for this nexus.
    c.send(c.scsiCommand(TEST_UNIT_READY));
    const ua = await response(c, Opcode.SCSI_RESPONSE);
    assert.equal(ua.bhs[3], 0x02);
    assert.equal(ua.data[2 + 2] & 0x0f, 0x06);

    const logout = newBhs(0x40 | Opcode.LOGOUT_REQUEST, 0x80);
    logout.writeUInt32BE(c.itt(), 16);
    logout.writeUInt32BE(c.cmdSN, 24);
    c.send({ bhs: logout, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
    assert.equal((await response(c, Opcode.LOGOUT_RESPONSE)).bhs[2], 0);
    assert.ok(await c.waitClosed());
  });

  it('rejects an unknown opcode and keeps the session', async () => {
    const c = await loggedIn(t.port);
    const bogus = newBhs(0x1c, 0x80);
    c.send({ bhs: bogus, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
    const rej = await response(c, Opcode.REJECT);
    assert.equal(rej.bhs[2], 0x05);
    assert.equal(rej.data[0], 0x1c);
    c.send(c.scsiCommand(TEST_UNIT_READY));
    assert.equal((await response(c, Opcode.SCSI_RESPONSE)).bhs[3], 0);
    c.close();
  });

  it('enforces a read-only mapping with DATA PROTECT', async () => {
    t.server.allowInitiator(TARGET_IQN, INITIATOR2, { readOnly: true });
    const c = await loggedIn(t.port, INITIATOR2);
    c.send(c.scsiCommand(write10(0, 1), { write: true, edtl: 512, data: Buffer.alloc(512) }));
    const r = await response(c, Opcode.SCSI_RESPONSE);
    assert.equal(r.bhs[3], 0x02);
    assert.equal(r.data[2 + 2] & 0x0f, 0x07, 'sense key DATA PROTECT');
    c.send(c.scsiCommand(read10(0, 1), { read: true, edtl: 512 }));
    const d = await response(c, Opcode.DATA_IN);
    assert.equal(d.data.length, 512);
    c.close();
    t.server.allowInitiator(TARGET_IQN, INITIATOR2);
  });

  it('denyInitiator drops the live session at once and refuses the next login', async () => {
    const c = await loggedIn(t.port, INITIATOR2);
    const other = await loggedIn(t.port, INITIATOR);
    assert.equal(t.server.listSessions(TARGET_IQN).filter((s) => s.initiator === INITIATOR2).length, 1);
    t.server.denyInitiator(TARGET_IQN, INITIATOR2);
    assert.ok(await c.waitClosed(2000));
    assert.equal(t.server.listSessions(TARGET_IQN).filter((s) => s.initiator === INITIATOR2).length, 0);
    const again = await RawInitiator.connect(t.port);
    assert.equal(await again.login({ initiator: INITIATOR2, target: TARGET_IQN }), 0x0202);
    // The other initiator's session is untouched.
    other.send(other.scsiCommand(TEST_UNIT_READY));
    assert.equal((await response(other, Opcode.SCSI_RESPONSE)).bhs[3], 0);
    other.close();
    t.server.allowInitiator(TARGET_IQN, INITIATOR2);
  });

  it('reinstates a session that logs in again with the same ISID', async () => {
    const a = await loggedIn(t.port);
    const b = await RawInitiator.connect(t.port);
    a.isid.copy(b.isid);
    assert.equal(await b.login({ initiator: INITIATOR, target: TARGET_IQN }), 0);
    assert.ok(await a.waitClosed(2000));
    // Connection reinstatement: same ISID and the session's TSIH keeps the TSIH.
    const tsih = t.server.listSessions(TARGET_IQN).find((s) => s.isid === b.isid.toString('hex'))!.tsih;
    const c = await RawInitiator.connect(t.port);
    b.isid.copy(c.isid);
    const r = await c.loginStep({ csg: 1, nsg: 3, transit: true, tsih, keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_IQN]] });
    assert.equal(r?.status, 0);
    assert.equal(r?.tsih, tsih);
    assert.ok(await b.waitClosed(2000));
    c.close();
    // A TSIH that names no session is refused.
    const d = await RawInitiator.connect(t.port);
    const bad = await d.loginStep({ csg: 1, nsg: 3, transit: true, tsih: 0x7777, keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_IQN]] });
    assert.equal(bad?.status, 0x020a);
  });
});

describe('target NOP-In pings', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ server: { nopInIntervalMs: 100, nopTimeoutMs: 1000 } });
  });
  after(() => t.stop());

  it('pings an idle initiator and drops one that never answers', async () => {
    const c = await loggedIn(t.port);
    const ping = await response(c, Opcode.NOP_IN);
    assert.equal(ping.bhs.readUInt32BE(16), 0xffffffff);
    const ttt = ping.bhs.readUInt32BE(20);
    assert.notEqual(ttt, 0xffffffff);
    const answer = newBhs(0x40 | Opcode.NOP_OUT, 0x80);
    answer.writeUInt32BE(0xffffffff, 16);
    answer.writeUInt32BE(ttt, 20);
    answer.writeUInt32BE(c.cmdSN, 24);
    c.send({ bhs: answer, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
    // Answered: the session lives on and gets pinged again; unanswered: it is closed.
    const next = await response(c, Opcode.NOP_IN);
    assert.notEqual(next.bhs.readUInt32BE(20), ttt);
    assert.ok(await c.waitClosed(5000));
  });
});

describe('header and data digests', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget();
  });
  after(() => t.stop());

  it('negotiates CRC32C both ways, rejects a PDU with a bad data digest and keeps the session', async () => {
    const c = await RawInitiator.connect(t.port);
    const status = await c.login({
      initiator: INITIATOR,
      target: TARGET_IQN,
      operational: [['HeaderDigest', 'CRC32C,None'], ['DataDigest', 'CRC32C,None'], ['MaxRecvDataSegmentLength', '65536']],
    });
    assert.equal(status, 0);
    await clearUnitAttention(c);
    const data = Buffer.alloc(1024, 0x42);
    c.send(c.scsiCommand(write10(10, 2), { write: true, edtl: 1024, data }));
    assert.equal((await response(c, Opcode.SCSI_RESPONSE)).bhs[3], 0);
    // Corrupt the data digest of a NOP-Out: the target must reject that PDU only.
    const nop = c.nopOut(Buffer.from('digest-me'));
    const wire = encodePduToBuffer(nop, { header: true, data: true });
    wire[wire.length - 1] ^= 0xff;
    c.send(wire);
    const rej = await response(c, Opcode.REJECT);
    assert.equal(rej.bhs[2], 0x02);
    c.send(c.scsiCommand(read10(10, 2), { read: true, edtl: 1024 }));
    const d = await response(c, Opcode.DATA_IN);
    assert.deepEqual(d.data, data);
    c.close();
  });
});

describe('discovery with a long SendTargets answer', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget();
    for (let i = 0; i < 40; i++) {
      const iqn = `iqn.2010-10.org.openstack:volume-many-${i}`;
      t.server.createTarget(iqn);
      if (i % 2 === 0) t.server.allowInitiator(iqn, INITIATOR);
    }
  });
  after(() => t.stop());

  it('splits the answer over the continue bit within the initiator MaxRecvDataSegmentLength', async () => {
    const c = await RawInitiator.connect(t.port);
    const status = await c.login({ initiator: INITIATOR, discovery: true, operational: [['MaxRecvDataSegmentLength', '512']] });
    assert.equal(status, 0);
    c.send(c.textRequest([['SendTargets', 'All']]));
    const parts: Buffer[] = [];
    for (;;) {
      const r = await response(c, Opcode.TEXT_RESPONSE);
      assert.ok(r.data.length <= 512);
      parts.push(r.data);
      if (r.bhs[1] & 0x80) break;
      assert.ok(r.bhs[1] & 0x40, 'a partial answer has C set');
      // Ask for the rest: empty Text Request carrying the target transfer tag.
      const more = c.textRequest([]);
      more.bhs.writeUInt32BE(r.bhs.readUInt32BE(16), 16);
      more.bhs.writeUInt32BE(r.bhs.readUInt32BE(20), 20);
      c.send(more);
    }
    assert.ok(parts.length > 1);
    const names = parseKeyValues(Buffer.concat(parts)).filter(([k]) => k === 'TargetName').map(([, v]) => v);
    assert.equal(names.length, 21, 'the 20 allowed "many" targets and the test target');
    assert.ok(!names.includes('iqn.2010-10.org.openstack:volume-many-1'));
    // A discovery session has no SCSI: commands are rejected.
    c.send(c.scsiCommand(TEST_UNIT_READY));
    assert.equal((await response(c, Opcode.REJECT)).bhs[2], 0x04);
    c.close();
  });
});
