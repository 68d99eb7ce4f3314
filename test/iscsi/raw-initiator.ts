// A deliberately small iSCSI initiator over a raw TCP socket, for tests that need to see or
// break the protocol itself (status codes, CmdSN windows, hostile PDUs). Real initiators
// (libiscsi, qemu) are used for everything else.
import { connect, type Socket } from 'node:net';
import { chapResponse, decodeChapBinary, encodeHex } from '../../src/iscsi/chap.js';
import { encodePduToBuffer, newBhs, Opcode, PduFramer, type DigestSettings, type Pdu } from '../../src/iscsi/pdu.js';
import { encodeKeyValues, parseKeyValues, type KeyValues } from '../../src/iscsi/text.js';

export class RawInitiator {
  private readonly framer = new PduFramer({ maxDataSegmentLength: 1 << 24 });
  private readonly queue: Pdu[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  cmdSN = 1;
  expStatSN = 0;
  private nextItt = 1;
  readonly isid = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x78, Math.floor(Math.random() * 256)]);

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (let p = this.framer.next(); p; p = this.framer.next()) this.queue.push(p);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawInitiator> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawInitiator(s)));
      s.once('error', reject);
    });
  }

  set digests(d: DigestSettings) {
    this.framer.digests = d;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  itt(): number {
    return this.nextItt++;
  }

  send(pdu: Pdu | Buffer, digests?: DigestSettings): void {
    this.socket.write(Buffer.isBuffer(pdu) ? pdu : encodePduToBuffer(pdu, digests ?? this.framer.digests));
  }

  /** Next PDU from the target, or null if the connection closed (or timeoutMs passed). */
  async receive(timeoutMs = 5000): Promise<Pdu | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const p = this.queue.shift()!;
    const op = p.bhs[0] & 0x3f;
    const carriesStatus =
      (op === Opcode.DATA_IN && (p.bhs[1] & 0x01) !== 0) ||
      (op === Opcode.NOP_IN && p.bhs.readUInt32BE(16) !== 0xffffffff) ||
      [Opcode.SCSI_RESPONSE, Opcode.LOGIN_RESPONSE, Opcode.TEXT_RESPONSE, Opcode.TASK_MGMT_RESPONSE, Opcode.LOGOUT_RESPONSE, Opcode.REJECT].includes(op as never);
    if (carriesStatus) this.expStatSN = (p.bhs.readUInt32BE(24) + 1) >>> 0;
    return p;
  }

  /** Waits until the target closes the connection; true if it did within timeoutMs. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      this.queue.length = 0;
      await this.receive(deadline - Date.now());
    }
    return this.closed;
  }

  loginPdu(opts: { csg: number; nsg: number; transit: boolean; keys: KeyValues; itt?: number; tsih?: number; cont?: boolean }): Pdu {
    const bhs = newBhs(0x40 | Opcode.LOGIN_REQUEST);
    bhs[1] = (opts.transit ? 0x80 : 0) | (opts.cont ? 0x40 : 0) | (opts.csg << 2) | (opts.transit ? opts.nsg : 0);
    this.isid.copy(bhs, 8);
    bhs.writeUInt16BE(opts.tsih ?? 0, 14);
    bhs.writeUInt32BE(opts.itt ?? 0x1000, 16);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    return { bhs, ahs: Buffer.alloc(0), data: encodeKeyValues(opts.keys) };
  }

  /** Sends one login request and returns the response's status, flags and keys. */
  async loginStep(opts: Parameters<RawInitiator['loginPdu']>[0]): Promise<{ status: number; transit: boolean; nsg: number; tsih: number; keys: Map<string, string>; pdu: Pdu } | null> {
    this.send(this.loginPdu(opts));
    const r = await this.receive();
    if (!r) return null;
    return {
      status: (r.bhs[36] << 8) | r.bhs[37],
      transit: (r.bhs[1] & 0x80) !== 0,
      nsg: r.bhs[1] & 3,
      tsih: r.bhs.readUInt16BE(14),
      keys: new Map(parseKeyValues(r.data)),
      pdu: r,
    };
  }

  /** Full login to FFP. Returns the final status (0 on success). */
  async login(opts: {
    initiator: string;
    target?: string;
    discovery?: boolean;
    chap?: { username: string; password: string };
    operational?: KeyValues;
  }): Promise<number> {
    const names: KeyValues = [['InitiatorName', opts.initiator], ['SessionType', opts.discovery ? 'Discovery' : 'Normal']];
    if (opts.target) names.push(['TargetName', opts.target]);
    const op: KeyValues = opts.operational ?? [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '65536'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['MaxOutstandingR2T', '1'],
    ];
    let r = await this.loginStep({ csg: 0, nsg: 1, transit: !opts.chap, keys: [...names, ['AuthMethod', opts.chap ? 'CHAP,None' : 'None']] });
    if (!r) return -1;
    if (r.status) return r.status;
    if (opts.chap) {
      r = await this.loginStep({ csg: 0, nsg: 1, transit: false, keys: [['CHAP_A', '5']] });
      if (!r) return -1;
      if (r.status) return r.status;
      const id = Number(r.keys.get('CHAP_I'));
      const challenge = decodeChapBinary(r.keys.get('CHAP_C') ?? '')!;
      r = await this.loginStep({
        csg: 0,
        nsg: 1,
        transit: true,
        keys: [['CHAP_N', opts.chap.username], ['CHAP_R', encodeHex(chapResponse(id, opts.chap.password, challenge))]],
      });
      if (!r) return -1;
      if (r.status) return r.status;
    }
    r = await this.loginStep({ csg: 1, nsg: 3, transit: true, keys: op });
    if (!r) return -1;
    if (r.status) return r.status;
    if (r.keys.get('HeaderDigest') === 'CRC32C' || r.keys.get('DataDigest') === 'CRC32C') {
      this.digests = { header: r.keys.get('HeaderDigest') === 'CRC32C', data: r.keys.get('DataDigest') === 'CRC32C' };
    }
    return r.transit && r.nsg === 3 ? 0 : -2;
  }

  /** A SCSI Command PDU (non-immediate unless `immediate`). Advances CmdSN. */
  scsiCommand(cdb: Buffer, opts: { read?: boolean; write?: boolean; edtl?: number; data?: Buffer; lun?: number; immediate?: boolean; itt?: number; final?: boolean } = {}): Pdu {
    const bhs = newBhs((opts.immediate ? 0x40 : 0) | Opcode.SCSI_COMMAND);
    bhs[1] = (opts.final === false ? 0 : 0x80) | (opts.read ? 0x40 : 0) | (opts.write ? 0x20 : 0) | 0x01;
    bhs[9] = opts.lun ?? 0;
    bhs.writeUInt32BE(opts.itt ?? this.itt(), 16);
    bhs.writeUInt32BE(opts.edtl ?? 0, 20);
    bhs.writeUInt32BE(this.cmdSN, 24);
    if (!opts.immediate) this.cmdSN = (this.cmdSN + 1) >>> 0;
    bhs.writeUInt32BE(this.expStatSN, 28);
    cdb.copy(bhs, 32, 0, Math.min(16, cdb.length));
    return { bhs, ahs: Buffer.alloc(0), data: opts.data ?? Buffer.alloc(0) };
  }

  nopOut(data = Buffer.alloc(0)): Pdu {
    const bhs = newBhs(0x40 | Opcode.NOP_OUT, 0x80);
    bhs.writeUInt32BE(this.itt(), 16);
    bhs.writeUInt32BE(0xffffffff, 20);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    return { bhs, ahs: Buffer.alloc(0), data };
  }

  textRequest(keys: KeyValues): Pdu {
    const bhs = newBhs(0x40 | Opcode.TEXT_REQUEST, 0x80);
    bhs.writeUInt32BE(this.itt(), 16);
    bhs.writeUInt32BE(0xffffffff, 20);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    return { bhs, ahs: Buffer.alloc(0), data: encodeKeyValues(keys) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The CDB builders live with the SCSI tests; re-exported for the initiator's callers. */
export { read10, write10 } from '../scsi/helpers.js';

export const TEST_UNIT_READY = Buffer.alloc(6);
