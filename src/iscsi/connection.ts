// One iSCSI connection (= one session: MaxConnections is 1) from TCP accept to close:
// login, then the full feature phase. A protocol error closes this connection only.

import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { BufferSlab } from '../util/buffer-slab.js';
import type { ScsiResult } from '../scsi/types.js';
import { SamStatus } from '../scsi/types.js';
import { LoginFailure, LoginStatus } from './login-status.js';
import { LoginNegotiator, Stage, type LoginDirectory, type LoginTarget } from './login.js';
import { NOT_UNDERSTOOD, REJECT } from './params.js';
import {
  decodeLun,
  DigestError,
  EMPTY_SEGMENT,
  encodePduInto,
  getU32,
  isFinal,
  isImmediate,
  itt as ittOf,
  newBhs,
  Opcode,
  opcodeOf,
  PduFormatError,
  PduFramer,
  RejectReason,
  RESERVED_TAG,
  setU32,
  snAdd,
  snLess,
  type Pdu,
} from './pdu.js';
import { encodeKeyValues, parseKeyValues, splitSegments, TextFormatError, type KeyValues } from './text.js';
import { WriteCollector, type DataOutOutcome } from './write-collector.js';
import { ioBuffers } from '../util/large-buffers.js';

/** Executes CDBs for one target: the SCSI layer's LUN map. */
export interface LunTable {
  /** A result when the command completed without waiting, else a promise. */
  execute(lun: number, cmd: import('../scsi/types.js').ScsiCommand): ScsiResult | Promise<ScsiResult>;
  /** Bytes of Data-Out the CDB asks for, to report residuals against; undefined: none the SCSI layer knows of. */
  expectedDataOutLength(lun: number, cdb: Buffer): number | undefined;
}

/** What a connection needs from the server it belongs to. */
export interface ConnectionHost extends LoginDirectory {
  readonly logger: Logger;
  readonly loginTimeoutMs: number;
  readonly nopInIntervalMs: number;
  readonly nopTimeoutMs: number;
  readonly queueDepth: number;
  /** "address:port,tpgt" entries to advertise in SendTargets, for a connection on this local address. */
  portalsFor(localAddress: string, localPort: number): string[];
  /** IQNs this initiator may see in SendTargets. */
  visibleTargets(initiator: string): string[];
  lunTableOf(targetIqn: string): LunTable | undefined;
  isReadOnly(targetIqn: string, initiator: string): boolean;
  /** Registers a logged-in session and returns its TSIH; reinstates (drops) an older one with the same ISID. */
  attachSession(conn: IscsiConnection): number;
  detachSession(conn: IscsiConnection): void;
  /** Task management that reaches beyond this session (CLEAR TASK SET, LUN and target resets). */
  taskManagement(conn: IscsiConnection, fn: number, lun: number): Promise<number>;
  dropAfterColdReset(conn: IscsiConnection): void;
  /** Throws LoginFailure unless conn.requestedTsih names a session of the same initiator and ISID. */
  checkReinstatement(conn: IscsiConnection): void;
  /** A write went to the socket: the initiator may answer soon (the server's busy-poll window). */
  outputWritten(): void;
}

const LOGIN_MAX_SEGMENT = 8192;
/** What a read between two placed data segments takes: a header with room to spare, little of the data after it. */
const HEADER_READ_BYTES = 4096;
const MAX_WRITE_BYTES = 64 << 20;
const WRITE_HIGH_WATER = 32 << 20;
const MAX_WRITE_BYTES_PER_SESSION = 256 << 20;
const MAX_LOGIN_TEXT = 65536;
const MAX_TEXT_REQUEST = 65536;

export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

export const TmfResponse = {
  COMPLETE: 0,
  NO_TASK: 1,
  NO_LUN: 2,
  REASSIGN_NOT_SUPPORTED: 4,
  NOT_SUPPORTED: 5,
  REJECTED: 255,
} as const;

// Every field is set when a task is made (see newTask), so all tasks share one shape and the data path's property
// loads stay monomorphic.
interface Task {
  itt: number;
  lun: number;
  /** The request's 8-byte LUN field as two words, echoed in Data-In and R2T. */
  lunHigh: number;
  lunLow: number;
  cdb: Buffer;
  edtl: number;
  read: boolean;
  write: boolean;
  collector: WriteCollector | undefined;
  /** Pooled immediate data that a write runs on directly (placeData): given back when the task is released. */
  immediateData: Buffer | undefined;
  aborted: boolean;
  running: Promise<void> | undefined;
  /** Bytes of write buffer this task holds against the session budget. */
  reservedBytes: number;
}

function newTask(bhs: Buffer, cdb: Buffer, lun: number): Task {
  return {
    itt: getU32(bhs, 16),
    lun,
    lunHigh: getU32(bhs, 8),
    lunLow: getU32(bhs, 12),
    cdb,
    edtl: getU32(bhs, 20),
    read: (bhs[1] & 0x40) !== 0,
    write: (bhs[1] & 0x20) !== 0,
    collector: undefined,
    immediateData: undefined,
    aborted: false,
    running: undefined,
    reservedBytes: 0,
  };
}

function putLun(bhs: Buffer, task: Task): void {
  setU32(bhs, 8, task.lunHigh);
  setU32(bhs, 12, task.lunLow);
}

// Sense for a write whose Data-Out sequence broke (bad DataSN or offset): ABORTED COMMAND,
// DATA PHASE ERROR, so the initiator retries instead of trusting partial data.
/** Where small responses are joined into one write; a piece lives until the socket has sent it. */
const outputBuffers = new BufferSlab();
const RESOLVED = Promise.resolve();

const DATA_PHASE_ERROR_SENSE = Buffer.from([0x70, 0, 0x0b, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x4b, 0x00, 0, 0, 0, 0]);

export class IscsiConnection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private readonly framer = new PduFramer({ maxDataSegmentLength: LOGIN_MAX_SEGMENT });
  private readonly login: LoginNegotiator;
  private readonly log: Logger;
  private closed = false;
  private loginTimer: NodeJS.Timeout | undefined;
  private nopTimer: NodeJS.Timeout | undefined;

  isid = Buffer.alloc(6);
  tsih = 0;
  /** TSIH the initiator asked for in its first login request (0: new session). */
  requestedTsih = 0;
  cid = 0;
  readOnly = false;
  target: LoginTarget | undefined;
  connectedAt = new Date();

  private statSN = 0;
  private expCmdSN = 0;
  private maxCmdSN = 0;
  private readonly pendingByCmdSN = new Map<number, Pdu>();
  private readonly tasks = new Map<number, Task>();
  private loginText: Buffer[] = [];
  private loginTextBytes = 0;
  /** Buffers of PDUs sent in this tick, written together by flush() (one writev). */
  private outQueue: Buffer[] = [];
  /** Pooled read buffers that PDUs in outQueue refer to: given back once the socket has written them. */
  private outLent: Uint8Array[] = [];
  private flushScheduled = false;
  private readonly flushQueued = (): void => {
    try {
      this.flush();
    } catch (err) {
      this.log.info({ reason: err instanceof Error ? err.message : String(err) }, 'closing connection after write failure');
      this.close();
    }
  };

  private textRequest: { itt: number; parts: Buffer[]; bytes: number } | null = null;
  private textContinuation: { ttt: number; segments: Buffer[] } | null = null;
  private nextTargetTag = 1;
  private lastReceived = Date.now();
  private pingOutstanding: { ttt: number; sentAt: number } | null = null;
  private loggingOut = false;
  private loginStarted = false;
  private writeBytesPending = 0;
  private readPaused = false;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    id: number,
  ) {
    this.id = id;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.log = host.logger.child({ conn: id, peer: `${this.remoteAddress}:${this.remotePort}` });
    this.login = new LoginNegotiator(host);
    socket.setNoDelay(true);
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.onClose());
    this.loginTimer = setTimeout(() => {
      this.log.info('login timed out');
      this.close();
    }, host.loginTimeoutMs);
    this.loginTimer.unref();
  }

  get initiatorName(): string {
    return this.login.initiatorName;
  }
  get sessionType(): 'Normal' | 'Discovery' {
    return this.login.sessionType;
  }
  get targetIqn(): string | undefined {
    return this.login.target?.iqn;
  }
  get isFullFeature(): boolean {
    return this.login.fullFeature;
  }
  get nexus(): string {
    // Fixed once the session is in full feature phase; built per command it showed up in profiles.
    if (this.nexusName !== undefined) return this.nexusName;
    const name = `${this.initiatorName},i,0x${this.isid.toString('hex')}`;
    if (this.login.fullFeature) this.nexusName = name;
    return name;
  }
  private nexusName: string | undefined;
  get isClosed(): boolean {
    return this.closed;
  }

  /** Drops the connection at once; in-flight commands are abandoned (ERL 0 semantics). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose();
  }

  /** Flushes what was already sent, then closes. */
  closeGracefully(): void {
    this.flushThenClose();
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.loginTimer);
    clearInterval(this.nopTimer);
    for (const t of this.tasks.values()) t.aborted = true;
    this.tasks.clear();
    this.pendingByCmdSN.clear();
    this.host.detachSession(this);
  }

  // ---- input ---------------------------------------------------------------------------

  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReceived = Date.now();
    this.framer.push(chunk);
    // What the commands in this chunk answer at once goes out in one write when the chunk is done, not from the
    // microtask queue: at queue depth 1 the response is then on the wire before Node winds up the read callback.
    const flushHere = !this.flushScheduled;
    this.flushScheduled = true;
    try {
      for (;;) {
        let pdu: Pdu | null;
        try {
          pdu = this.framer.next();
        } catch (err) {
          if (err instanceof DigestError && this.login.fullFeature) {
            // RFC 7143 section 7.8: discard the PDU, reject it, keep the connection.
            this.sendReject(RejectReason.DATA_DIGEST_ERROR, err.bhs);
            continue;
          }
          throw err;
        }
        if (!pdu) break;
        this.dispatch(pdu);
        if (this.closed) break;
      }
    } catch (err) {
      this.fail(err);
    }
    if (flushHere) this.flushQueued();
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof PduFormatError && err.bhs && this.login.fullFeature) {
      this.sendReject(RejectReason.PROTOCOL_ERROR, err.bhs);
    }
    this.log.info({ reason: message }, 'closing connection after protocol error');
    this.flushThenClose();
  }

  private flushThenClose(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
    this.closed = true;
    // end() waits for the peer; do not let a silent peer keep the socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.onClose();
  }

  private dispatch(pdu: Pdu): void {
    if (!this.login.fullFeature) {
      this.onLoginPdu(pdu);
      return;
    }
    const op = opcodeOf(pdu.bhs);
    switch (op) {
      case Opcode.DATA_OUT:
        this.onDataOut(pdu);
        return;
      case Opcode.SNACK_REQUEST:
        // ERL 0: SNACK is not supported.
        this.sendReject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
        return;
      case Opcode.NOP_OUT:
      case Opcode.SCSI_COMMAND:
      case Opcode.TASK_MGMT_REQUEST:
      case Opcode.TEXT_REQUEST:
      case Opcode.LOGOUT_REQUEST:
        this.sequence(pdu);
        return;
      case Opcode.LOGIN_REQUEST:
        throw new PduFormatError('login request in full feature phase', pdu.bhs);
      default:
        this.sendReject(RejectReason.COMMAND_NOT_SUPPORTED, pdu.bhs);
    }
  }

  // ---- command numbering -----------------------------------------------------------------

  /** Orders non-immediate requests by CmdSN and drops those outside the window (RFC 7143 4.2.2.1). */
  private sequence(pdu: Pdu): void {
    const op = opcodeOf(pdu.bhs);
    // A NOP-Out answering our ping carries no CmdSN semantics.
    if (op === Opcode.NOP_OUT && ittOf(pdu.bhs) === RESERVED_TAG) {
      this.execute(pdu);
      return;
    }
    if (isImmediate(pdu.bhs)) {
      this.execute(pdu);
      return;
    }
    const cmdSN = getU32(pdu.bhs, 24);
    if (cmdSN === this.expCmdSN) {
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      this.execute(pdu);
      // Deliver what was waiting for the gap to close.
      for (let next = this.pendingByCmdSN.get(this.expCmdSN); next; next = this.pendingByCmdSN.get(this.expCmdSN)) {
        this.pendingByCmdSN.delete(this.expCmdSN);
        this.expCmdSN = snAdd(this.expCmdSN, 1);
        this.execute(next);
        if (this.closed) return;
      }
      return;
    }
    if (snLess(this.expCmdSN, cmdSN) && !snLess(this.maxCmdSN, cmdSN)) {
      if (!this.pendingByCmdSN.has(cmdSN)) this.pendingByCmdSN.set(cmdSN, pdu);
      return;
    }
    this.log.debug({ cmdSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN }, 'CmdSN outside window: ignored');
  }

  /** The MaxCmdSN to advertise: never lower than before (initiators ignore decreases). */
  private currentMaxCmdSN(): number {
    const free = Math.max(0, this.host.queueDepth - this.tasks.size);
    const candidate = snAdd(this.expCmdSN, free - 1);
    if (snLess(this.maxCmdSN, candidate)) this.maxCmdSN = candidate;
    return this.maxCmdSN;
  }

  /** Fills StatSN/ExpCmdSN/MaxCmdSN (bytes 24..35), advancing StatSN when the PDU carries status. */
  private stamp(bhs: Buffer, advanceStatSN: boolean): void {
    setU32(bhs, 24, this.statSN);
    if (advanceStatSN) this.statSN = snAdd(this.statSN, 1);
    setU32(bhs, 28, this.expCmdSN);
    setU32(bhs, 32, this.currentMaxCmdSN());
  }

  private execute(pdu: Pdu): void {
    switch (opcodeOf(pdu.bhs)) {
      case Opcode.NOP_OUT:
        return this.onNopOut(pdu);
      case Opcode.SCSI_COMMAND:
        return this.onScsiCommand(pdu);
      case Opcode.TASK_MGMT_REQUEST:
        return void this.onTaskManagement(pdu).catch((err) => this.fail(err));
      case Opcode.TEXT_REQUEST:
        return this.onTextRequest(pdu);
      case Opcode.LOGOUT_REQUEST:
        return void this.onLogout(pdu).catch((err) => this.fail(err));
    }
  }

  /** Memory the socket should read the next bytes into, when they are a placed data segment (socket-reader.ts). */
  placeNextRead(): Buffer | null {
    return this.framer.wantBuffer();
  }

  /** Between two placed segments only the next header is wanted from the arena; its data is then placed too. */
  arenaReadLimit(): number {
    return this.framer.lastPlaced ? HEADER_READ_BYTES : Infinity;
  }

  /**
   * Large data segments are read straight into where they belong instead of into the socket's arenas (which would
   * be new memory for every read, and make V8 collect garbage all the time at 1 MiB writes): Data-Out into the
   * write's buffer at its offset, immediate data into a pooled buffer given back once the command has it.
   */
  private readonly placeData = (bhs: Buffer, length: number): Buffer | null => {
    switch (bhs[0] & 0x3f) {
      case Opcode.DATA_OUT: {
        const task = this.tasks.get(ittOf(bhs));
        if (!task?.collector || task.running) return null;
        const offset = getU32(bhs, 40);
        const buf = task.collector.buffer;
        // A segment that does not fit is left to the collector to refuse.
        return offset + length <= buf.length ? buf.subarray(offset, offset + length) : null;
      }
      case Opcode.SCSI_COMMAND:
        return ioBuffers.take(length);
      default:
        return null;
    }
  };

  // ---- output --------------------------------------------------------------------------

  private send(pdu: Pdu): void {
    if (this.closed) return;
    if (!this.flushScheduled) {
      // Sent outside receive() (an asynchronous completion, a timer): gather every PDU produced in this tick into
      // one write. A plain promise reaction, not nextTick or cork/uncork: it runs after the completions already
      // queued (a batch at high queue depth) and costs one microtask.
      this.flushScheduled = true;
      void RESOLVED.then(this.flushQueued);
    }
    encodePduInto(this.outQueue, pdu, this.framer.digests);
  }

  private flush(): void {
    this.flushScheduled = false;
    const out = this.outQueue;
    if (out.length === 0) return;
    this.outQueue = [];
    const lent = this.outLent;
    if (lent.length > 0) this.outLent = [];
    if (this.socket.destroyed) {
      for (const b of lent) ioBuffers.giveBack(b);
      return;
    }
    // Write callbacks run in order, once the data has left (or the write failed): then nothing reads the buffers.
    const sent = lent.length > 0 ? () => lent.forEach((b) => ioBuffers.giveBack(b)) : undefined;
    let bytes = 0;
    for (const b of out) bytes += b.length;
    if (out.length === 1) this.socket.write(out[0], sent);
    else if (bytes <= outputBuffers.maxPieceBytes) {
      // Small responses (a 4 KiB read's header and data, a batch of statuses) are copied into one buffer: the copy
      // is cheaper than the stream's cork, per-buffer bookkeeping and writev.
      const joined = outputBuffers.allocUnsafe(bytes);
      let at = 0;
      for (const b of out) {
        joined.set(b, at);
        at += b.length;
      }
      this.socket.write(joined, sent);
    } else {
      this.socket.cork();
      const last = out.length - 1;
      for (let i = 0; i < last; i++) this.socket.write(out[i]);
      this.socket.write(out[last], sent);
      this.socket.uncork();
    }
    this.host.outputWritten();
    // Backpressure: a reader that does not keep up stops us reading its new commands,
    // instead of letting responses pile up in memory.
    if (!this.readPaused && this.socket.writableLength > WRITE_HIGH_WATER) {
      this.readPaused = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.readPaused = false;
        if (!this.closed) this.socket.resume();
      });
    }
  }

  private sendReject(reason: number, rejected: Buffer): void {
    const bhs = newBhs(Opcode.REJECT, 0x80);
    bhs[2] = reason;
    bhs.writeUInt32BE(RESERVED_TAG, 16);
    this.stamp(bhs, true);
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: Buffer.from(rejected.subarray(0, 48)) });
  }

  // ---- login ---------------------------------------------------------------------------

  private onLoginPdu(pdu: Pdu): void {
    const { bhs } = pdu;
    if (opcodeOf(bhs) !== Opcode.LOGIN_REQUEST) {
      // Anything but a login request before full feature phase ends the connection.
      this.sendLoginReject(bhs, LoginStatus.INVALID_DURING_LOGIN);
      return;
    }
    if (!this.loginStarted) {
      this.loginStarted = true;
      bhs.copy(this.isid, 0, 8, 14);
      this.requestedTsih = bhs.readUInt16BE(14);
      this.cid = bhs.readUInt16BE(20);
      this.expCmdSN = bhs.readUInt32BE(24);
      this.maxCmdSN = snAdd(this.expCmdSN, this.host.queueDepth - 1);
      this.statSN = (Math.random() * 0x10000) >>> 0;
      if (bhs[3] > 0x00) {
        this.sendLoginReject(bhs, LoginStatus.UNSUPPORTED_VERSION);
        return;
      }
    }
    if (this.pendingLoginResponse) {
      // The initiator is pulling the rest of a long response with empty requests.
      this.sendLoginSegment(bhs);
      return;
    }
    this.loginTextBytes += pdu.data.length;
    if (this.loginTextBytes > MAX_LOGIN_TEXT) {
      this.sendLoginReject(bhs, LoginStatus.OUT_OF_RESOURCES);
      return;
    }
    this.loginText.push(Buffer.from(pdu.data));
    const continues = (bhs[1] & 0x40) !== 0;
    if (continues) {
      // Acknowledge a partial text with an empty response (RFC 7143 section 6.6).
      this.sendLoginResponse(bhs, { keys: [], transit: false, csg: (bhs[1] >> 2) & 3, nsg: bhs[1] & 3 }, EMPTY_SEGMENT, false);
      return;
    }
    const text = Buffer.concat(this.loginText);
    this.loginText = [];
    this.loginTextBytes = 0;
    let keys: KeyValues;
    try {
      keys = parseKeyValues(text);
    } catch (err) {
      if (err instanceof TextFormatError) {
        this.sendLoginReject(bhs, LoginStatus.INITIATOR_ERROR);
        return;
      }
      throw err;
    }
    const request = { csg: (bhs[1] >> 2) & 3, nsg: bhs[1] & 3, transit: (bhs[1] & 0x80) !== 0, keys };
    try {
      const firstRequest = !this.target && this.login.initiatorName === '';
      const answer = this.login.handle(request);
      this.target = this.login.target;
      // A non-zero TSIH names an existing session (connection reinstatement, RFC 7143 6.3.4).
      if (firstRequest && this.requestedTsih !== 0) this.host.checkReinstatement(this);
      if (answer.transit && answer.nsg === Stage.FULL_FEATURE) {
        this.readOnly = this.target ? this.host.isReadOnly(this.target.iqn, this.login.initiatorName) : false;
        this.tsih = this.host.attachSession(this);
      }
      this.sendLoginResponse(bhs, answer, encodeKeyValues(answer.keys), true);
      if (answer.transit && answer.nsg === Stage.FULL_FEATURE) this.enterFullFeature();
    } catch (err) {
      if (err instanceof LoginFailure) {
        this.log.info({ status: `0x${err.status.toString(16).padStart(4, '0')}`, reason: err.message, initiator: this.login.initiatorName }, 'login refused');
        this.sendLoginReject(bhs, err.status);
        return;
      }
      throw err;
    }
  }

  private pendingLoginResponse: { answer: { transit: boolean; csg: number; nsg: number }; segments: Buffer[] } | null = null;

  private sendLoginResponse(
    req: Buffer,
    answer: { keys: KeyValues; transit: boolean; csg: number; nsg: number },
    text: Buffer,
    allowSplit: boolean,
  ): void {
    const segments = allowSplit ? splitSegments(text, LOGIN_MAX_SEGMENT) : [text];
    this.pendingLoginResponse = { answer, segments };
    this.sendLoginSegment(req);
  }

  private sendLoginSegment(req: Buffer): void {
    const pending = this.pendingLoginResponse!;
    const segment = pending.segments.shift() ?? EMPTY_SEGMENT;
    const more = pending.segments.length > 0;
    if (!more) this.pendingLoginResponse = null;
    const { answer } = pending;
    const bhs = newBhs(Opcode.LOGIN_RESPONSE);
    // While more text follows, T must stay 0 and C is set.
    bhs[1] = (more ? 0x40 : answer.transit ? 0x80 : 0) | (answer.csg << 2) | (answer.transit && !more ? answer.nsg : 0);
    bhs[2] = 0x00;
    bhs[3] = 0x00;
    this.isid.copy(bhs, 8);
    bhs.writeUInt16BE(answer.transit && answer.nsg === Stage.FULL_FEATURE && !more ? this.tsih : 0, 14);
    bhs.writeUInt32BE(ittOf(req), 16);
    this.stamp(bhs, true);
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: segment });
  }

  private sendLoginReject(req: Buffer, status: number): void {
    const bhs = newBhs(Opcode.LOGIN_RESPONSE);
    bhs[1] = req[1] & 0x0c; // CSG as received, T=0
    req.copy(bhs, 8, 8, 14);
    bhs.writeUInt32BE(ittOf(req), 16);
    this.stamp(bhs, true);
    bhs[36] = status >> 8;
    bhs[37] = status & 0xff;
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
    this.flushThenClose();
  }

  private enterFullFeature(): void {
    clearTimeout(this.loginTimer);
    const p = this.login.params;
    // Digests start with the first PDU after the final login response (RFC 7143 13.1).
    this.framer.digests = { header: p.headerDigest, data: p.dataDigest };
    this.framer.limits.maxDataSegmentLength = p.targetMaxRecvDataSegmentLength;
    if (this.login.sessionType === 'Normal') this.framer.placement = this.placeData;
    this.log.info(
      { initiator: this.login.initiatorName, target: this.target?.iqn, type: this.login.sessionType, tsih: this.tsih },
      'session logged in',
    );
    if (this.host.nopInIntervalMs > 0) {
      this.nopTimer = setInterval(() => this.pingIfIdle(), Math.max(50, Math.floor(this.host.nopInIntervalMs / 2)));
      this.nopTimer.unref();
    }
  }

  // ---- NOP -----------------------------------------------------------------------------

  private pingIfIdle(): void {
    const now = Date.now();
    if (this.pingOutstanding) {
      if (now - this.pingOutstanding.sentAt > this.host.nopTimeoutMs) {
        this.log.info('initiator did not answer NOP-In: closing connection');
        this.close();
      }
      return;
    }
    if (now - this.lastReceived < this.host.nopInIntervalMs) return;
    const ttt = this.newTargetTag();
    this.pingOutstanding = { ttt, sentAt: now };
    const bhs = newBhs(Opcode.NOP_IN, 0x80);
    bhs.writeUInt32BE(RESERVED_TAG, 16);
    bhs.writeUInt32BE(ttt, 20);
    // A target-initiated ping does not consume a StatSN.
    this.stamp(bhs, false);
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
  }

  private onNopOut(pdu: Pdu): void {
    const tag = ittOf(pdu.bhs);
    const ttt = pdu.bhs.readUInt32BE(20);
    if (tag === RESERVED_TAG) {
      if (this.pingOutstanding && ttt === this.pingOutstanding.ttt) this.pingOutstanding = null;
      return;
    }
    const bhs = newBhs(Opcode.NOP_IN, 0x80);
    pdu.bhs.copy(bhs, 8, 8, 16);
    bhs.writeUInt32BE(tag, 16);
    bhs.writeUInt32BE(RESERVED_TAG, 20);
    this.stamp(bhs, true);
    const maxEcho = this.login.params.initiatorMaxRecvDataSegmentLength;
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: Buffer.from(pdu.data.subarray(0, maxEcho)) });
  }

  private newTargetTag(): number {
    const t = this.nextTargetTag;
    this.nextTargetTag = this.nextTargetTag >= 0x7fffffff ? 1 : this.nextTargetTag + 1;
    return t;
  }

  // ---- SCSI commands -------------------------------------------------------------------

  private onScsiCommand(pdu: Pdu): void {
    const { bhs } = pdu;
    // Immediate data placed in a pooled buffer: whoever ends up with it gives it back (placeData).
    const pooled = pdu.data.length > 0 && ioBuffers.owns(pdu.data) ? pdu.data : undefined;
    const giveBackPooled = (): void => {
      if (pooled) ioBuffers.giveBack(pooled);
    };
    if (this.login.sessionType !== 'Normal' || !this.target) {
      giveBackPooled();
      this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    const tag = ittOf(bhs);
    if (this.tasks.has(tag)) {
      giveBackPooled();
      this.sendReject(RejectReason.TASK_IN_PROGRESS, bhs);
      return;
    }
    const write = (bhs[1] & 0x20) !== 0;
    const edtl = getU32(bhs, 20);
    // The framer's PDUs are views of memory nothing else reuses: keeping a view of the BHS is safe.
    let cdb = bhs.subarray(32, 48);
    // An extended CDB arrives in an AHS of type 1 (RFC 7143 11.3.1.2).
    for (let off = 0; off + 4 <= pdu.ahs.length; ) {
      const len = pdu.ahs.readUInt16BE(off);
      const type = pdu.ahs[off + 2];
      if (type === 1 && off + 4 + len - 1 <= pdu.ahs.length) {
        cdb = Buffer.concat([cdb, pdu.ahs.subarray(off + 4, off + 3 + len)]);
      }
      off += 4 + len + ((4 - ((len) & 3)) & 3);
    }
    const p = this.login.params;
    if (pdu.data.length > 0 && (!write || !p.immediateData || pdu.data.length > edtl || pdu.data.length > p.firstBurstLength)) {
      giveBackPooled();
      this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    if (write && edtl > 0 && (edtl > MAX_WRITE_BYTES || this.writeBytesPending + edtl > MAX_WRITE_BYTES_PER_SESSION)) {
      // Write data is gathered in memory before execution: bound it so no initiator can exhaust us.
      giveBackPooled();
      this.sendScsiResponse(newTask(bhs, cdb, 0), { status: SamStatus.TASK_SET_FULL }, 0);
      return;
    }
    const task = newTask(bhs, cdb, decodeLun(bhs, 8));
    this.tasks.set(tag, task);
    if (write && edtl > 0) {
      this.writeBytesPending += edtl;
      task.reservedBytes = edtl;
      const unsolicitedAllowed = !p.initialR2T && !isFinal(bhs);
      if (!unsolicitedAllowed && pdu.data.length === edtl) {
        // The common small write: all its data came as immediate data, nothing to solicit or gather.
        task.immediateData = pooled;
        this.run(task, pdu.data);
        return;
      }
      task.collector = new WriteCollector(edtl, {
        firstBurstLength: p.firstBurstLength,
        maxBurstLength: p.maxBurstLength,
        maxOutstandingR2T: p.maxOutstandingR2T,
        unsolicitedOpen: unsolicitedAllowed,
        newTargetTag: () => this.newTargetTag(),
      });
      if (pdu.data.length > 0) task.collector.immediate(pdu.data);
      giveBackPooled(); // copied into the collector
      this.advanceWrite(task);
      return;
    }
    this.run(task, undefined);
  }

  private onDataOut(pdu: Pdu): void {
    const task = this.tasks.get(ittOf(pdu.bhs));
    // Data for a task we no longer know (aborted, failed) is dropped quietly.
    if (!task || !task.collector || task.running) return;
    const outcome: DataOutOutcome = task.collector.dataOut({
      ttt: getU32(pdu.bhs, 20),
      dataSN: getU32(pdu.bhs, 36),
      offset: getU32(pdu.bhs, 40),
      final: isFinal(pdu.bhs),
      data: pdu.data,
    });
    if (outcome === 'error') {
      this.log.debug({ itt: task.itt }, 'Data-Out sequence error: failing the command');
      this.tasks.delete(task.itt);
      this.release(task);
      this.sendScsiResponse(task, { status: SamStatus.CHECK_CONDITION, sense: DATA_PHASE_ERROR_SENSE }, 0);
      return;
    }
    this.advanceWrite(task);
  }

  /** Sends the R2Ts the collector wants, or runs the command once all data is in. */
  private advanceWrite(task: Task): void {
    const c = task.collector!;
    if (c.complete) {
      this.run(task, c.buffer);
      return;
    }
    for (const r2t of c.takeR2Ts()) {
      const bhs = newBhs(Opcode.R2T, 0x80);
      putLun(bhs, task);
      setU32(bhs, 16, task.itt);
      setU32(bhs, 20, r2t.ttt);
      this.stamp(bhs, false);
      setU32(bhs, 36, r2t.r2tSN);
      setU32(bhs, 40, r2t.offset);
      setU32(bhs, 44, r2t.length);
      this.send({ bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
    }
  }

  private run(task: Task, dataOut: Buffer | undefined): void {
    const table = this.host.lunTableOf(this.target!.iqn);
    let exec: ScsiResult | Promise<ScsiResult>;
    try {
      exec = table
        ? table.execute(task.lun, { cdb: task.cdb, dataOut, expectedDataLength: task.edtl, nexus: this.nexus, readOnly: this.readOnly })
        : { status: SamStatus.BUSY };
    } catch (err) {
      exec = Promise.reject(err);
    }
    if (!(exec instanceof Promise)) {
      // Completed without waiting (the page cache served it): respond now, no promise, no microtask.
      this.complete(task, exec, dataOut);
      return;
    }
    // One reaction per command: completion and its own failure handled in the same callback.
    task.running = exec.then(
      (result) => {
        try {
          this.complete(task, result, dataOut);
        } catch (err) {
          this.fail(err);
        }
      },
      (err: unknown) => {
        try {
          this.log.error({ err: err instanceof Error ? err.message : String(err), itt: task.itt }, 'SCSI execution failed');
          this.complete(task, { status: SamStatus.BUSY }, dataOut);
        } catch (err2) {
          this.fail(err2);
        }
      },
    );
  }


  private release(task: Task): void {
    if (task.reservedBytes) this.writeBytesPending -= task.reservedBytes;
    task.reservedBytes = 0;
    // Only called once the command no longer runs: nothing reads the written data any more. But the socket may have
    // been told to read a Data-Out segment into it (an abort from another session): then it is left to the collector.
    if (task.collector && !this.framer.abandonPlacement(task.collector.buffer.buffer)) ioBuffers.giveBack(task.collector.buffer);
    task.collector = undefined;
    if (task.immediateData) ioBuffers.giveBack(task.immediateData);
    task.immediateData = undefined;
  }

  private complete(task: Task, result: ScsiResult, dataOut: Buffer | undefined): void {
    this.release(task);
    if (task.aborted || this.closed) {
      if (result.data) ioBuffers.giveBack(result.data);
      return;
    }
    this.tasks.delete(task.itt);
    let data = task.read ? (result.data ?? EMPTY_SEGMENT) : EMPTY_SEGMENT;
    // Residuals compare what the command wanted with what the initiator expected (RFC 7143 11.4.5).
    let residual = 0;
    if (task.read) residual = (result.data?.length ?? 0) - task.edtl;
    else if (result.status === SamStatus.GOOD) {
      const wanted = this.host.lunTableOf(this.target!.iqn)?.expectedDataOutLength(task.lun, task.cdb);
      if (wanted !== undefined) residual = wanted - task.edtl;
    }
    if (data.length > task.edtl) data = data.subarray(0, task.edtl);
    if (data.length > 0) this.sendDataIn(task, data, result, residual);
    else this.sendScsiResponse(task, result, residual);
    if (result.data && ioBuffers.owns(result.data)) this.outLent.push(result.data);
  }

  private sendDataIn(task: Task, data: Buffer, result: ScsiResult, residual: number): void {
    const p = this.login.params;
    const maxSegment = p.initiatorMaxRecvDataSegmentLength;
    const statusInData = result.status === SamStatus.GOOD && !result.sense;
    let dataSN = 0;
    let sinceBurst = 0;
    for (let offset = 0; offset < data.length; ) {
      const len = Math.min(maxSegment, data.length - offset, p.maxBurstLength - sinceBurst);
      const last = offset + len >= data.length;
      sinceBurst += len;
      const endOfBurst = last || sinceBurst >= p.maxBurstLength;
      if (endOfBurst) sinceBurst = 0;
      const bhs = newBhs(Opcode.DATA_IN);
      let flags = endOfBurst ? 0x80 : 0;
      if (last && statusInData) {
        flags |= 0x01;
        if (residual > 0) flags |= 0x04;
        else if (residual < 0) flags |= 0x02;
        bhs[3] = result.status;
        setU32(bhs, 44, Math.abs(residual));
      }
      bhs[1] = flags;
      putLun(bhs, task);
      setU32(bhs, 16, task.itt);
      setU32(bhs, 20, RESERVED_TAG);
      this.stamp(bhs, last && statusInData);
      if (!(last && statusInData)) setU32(bhs, 24, 0);
      setU32(bhs, 36, dataSN++);
      setU32(bhs, 40, offset);
      this.send({ bhs, ahs: EMPTY_SEGMENT, data: len === data.length ? data : data.subarray(offset, offset + len) });
      offset += len;
    }
    if (!statusInData) this.sendScsiResponse(task, result, residual, dataSN);
  }

  /** Response code 0x00 (command completed at target) always: failures travel as status and sense data. */
  private sendScsiResponse(task: Task, result: ScsiResult, residual: number, expDataSN = 0): void {
    const bhs = newBhs(Opcode.SCSI_RESPONSE);
    let flags = 0x80;
    if (residual > 0) flags |= 0x04;
    else if (residual < 0) flags |= 0x02;
    bhs[1] = flags;
    bhs[3] = result.status;
    setU32(bhs, 16, task.itt);
    this.stamp(bhs, true);
    setU32(bhs, 36, expDataSN);
    setU32(bhs, 44, Math.abs(residual));
    let data = EMPTY_SEGMENT;
    if (result.sense && result.sense.length > 0) {
      data = Buffer.alloc(2 + result.sense.length);
      data.writeUInt16BE(result.sense.length, 0);
      result.sense.copy(data, 2);
    }
    this.send({ bhs, ahs: EMPTY_SEGMENT, data });
  }

  // ---- task management -----------------------------------------------------------------

  /** Marks matching tasks aborted (no response will be sent) and waits for running ones. */
  async abortTasks(match: (lun: number, itt: number) => boolean): Promise<number> {
    const waits: Promise<void>[] = [];
    let count = 0;
    for (const t of [...this.tasks.values()]) {
      if (!match(t.lun, t.itt)) continue;
      t.aborted = true;
      this.tasks.delete(t.itt);
      if (!t.running) this.release(t);
      count++;
      if (t.running) waits.push(t.running);
    }
    await Promise.allSettled(waits);
    return count;
  }

  private async onTaskManagement(pdu: Pdu): Promise<void> {
    const { bhs } = pdu;
    const fn = bhs[1] & 0x7f;
    const lun = decodeLun(bhs.subarray(8, 16));
    let response: number;
    if (this.login.sessionType !== 'Normal') response = TmfResponse.REJECTED;
    else if (fn === TmfFunction.ABORT_TASK) {
      const ref = bhs.readUInt32BE(20);
      const n = await this.abortTasks((_l, t) => t === ref);
      response = n > 0 ? TmfResponse.COMPLETE : TmfResponse.NO_TASK;
    } else if (fn === TmfFunction.ABORT_TASK_SET) {
      await this.abortTasks((l) => l === lun);
      response = TmfResponse.COMPLETE;
    } else if (fn === TmfFunction.TASK_REASSIGN) {
      response = TmfResponse.REASSIGN_NOT_SUPPORTED;
    } else if (
      fn === TmfFunction.CLEAR_TASK_SET ||
      fn === TmfFunction.LOGICAL_UNIT_RESET ||
      fn === TmfFunction.TARGET_WARM_RESET ||
      fn === TmfFunction.TARGET_COLD_RESET
    ) {
      response = await this.host.taskManagement(this, fn, lun);
    } else response = TmfResponse.NOT_SUPPORTED;
    if (this.closed) return;
    const out = newBhs(Opcode.TASK_MGMT_RESPONSE, 0x80);
    out[2] = response;
    out.writeUInt32BE(ittOf(bhs), 16);
    this.stamp(out, true);
    this.send({ bhs: out, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
    // A cold reset ends every session of the target once the response is out (RFC 7143 11.5.1).
    if (fn === TmfFunction.TARGET_COLD_RESET && response === TmfResponse.COMPLETE) this.host.dropAfterColdReset(this);
  }

  // ---- text ----------------------------------------------------------------------------

  private onTextRequest(pdu: Pdu): void {
    const { bhs } = pdu;
    const tag = ittOf(bhs);
    const ttt = bhs.readUInt32BE(20);
    if (ttt !== RESERVED_TAG) {
      if (this.textContinuation && this.textContinuation.ttt === ttt) {
        this.sendTextSegment(tag, bhs);
        return;
      }
      this.sendReject(RejectReason.INVALID_PDU_FIELD, bhs);
      return;
    }
    this.textContinuation = null;
    if (!this.textRequest || this.textRequest.itt !== tag) this.textRequest = { itt: tag, parts: [], bytes: 0 };
    this.textRequest.parts.push(Buffer.from(pdu.data));
    this.textRequest.bytes += pdu.data.length;
    if (this.textRequest.bytes > MAX_TEXT_REQUEST) {
      this.textRequest = null;
      this.sendReject(RejectReason.OUT_OF_RESOURCES, bhs);
      return;
    }
    if ((bhs[1] & 0x40) !== 0) {
      // More request text follows: answer with an empty response that keeps the exchange open.
      const ack = newBhs(Opcode.TEXT_RESPONSE, 0x00);
      bhs.copy(ack, 8, 8, 16);
      ack.writeUInt32BE(tag, 16);
      ack.writeUInt32BE(this.newTargetTag(), 20);
      this.stamp(ack, true);
      this.send({ bhs: ack, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
      return;
    }
    const text = Buffer.concat(this.textRequest.parts);
    this.textRequest = null;
    let keys: KeyValues;
    try {
      keys = parseKeyValues(text);
    } catch {
      this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    const answers: KeyValues = [];
    for (const [k, v] of keys) {
      if (k === 'SendTargets') answers.push(...this.sendTargets(v));
      else if (k === 'MaxRecvDataSegmentLength') {
        const n = Number(v);
        if (/^[0-9]+$/.test(v) && n >= 512 && n <= 16777215) this.login.params.initiatorMaxRecvDataSegmentLength = n;
        else answers.push([k, REJECT]);
      } else if (this.login.sessionType === 'Discovery') answers.push([k, NOT_UNDERSTOOD]);
      else answers.push([k, NOT_UNDERSTOOD]);
    }
    const segments = splitSegments(encodeKeyValues(answers), this.login.params.initiatorMaxRecvDataSegmentLength);
    this.textContinuation = { ttt: this.newTargetTag(), segments };
    this.sendTextSegment(tag, bhs);
  }

  private sendTextSegment(tag: number, req: Buffer): void {
    const cont = this.textContinuation!;
    const segment = cont.segments.shift() ?? EMPTY_SEGMENT;
    const more = cont.segments.length > 0;
    const bhs = newBhs(Opcode.TEXT_RESPONSE, more ? 0x40 : 0x80);
    req.copy(bhs, 8, 8, 16);
    bhs.writeUInt32BE(tag, 16);
    bhs.writeUInt32BE(more ? cont.ttt : RESERVED_TAG, 20);
    if (!more) this.textContinuation = null;
    this.stamp(bhs, true);
    this.send({ bhs, ahs: EMPTY_SEGMENT, data: segment });
  }

  private sendTargets(value: string): KeyValues {
    let names: string[];
    const visible = this.host.visibleTargets(this.login.initiatorName);
    if (value === 'All') {
      // A normal session may only learn about its own target (RFC 7143 section 13.22 / appendix C).
      names = this.login.sessionType === 'Discovery' ? visible : visible.filter((n) => n === this.target?.iqn);
    } else if (value === '') {
      names = this.target ? [this.target.iqn] : [];
    } else names = visible.filter((n) => n === value);
    const portals = this.host.portalsFor(this.socket.localAddress ?? '', this.socket.localPort ?? 0);
    const out: KeyValues = [];
    for (const n of names) {
      out.push(['TargetName', n]);
      for (const p of portals) out.push(['TargetAddress', p]);
    }
    return out;
  }

  // ---- logout --------------------------------------------------------------------------

  private async onLogout(pdu: Pdu): Promise<void> {
    if (this.loggingOut) return;
    const { bhs } = pdu;
    const reason = bhs[1] & 0x7f;
    let response = 0;
    if (reason === 2) response = 2; // connection recovery needs ERL 2
    else {
      this.loggingOut = true;
      // Commands already received complete before the logout response (RFC 7143 11.14).
      await Promise.allSettled([...this.tasks.values()].map((t) => t.running).filter((r): r is Promise<void> => !!r));
    }
    if (this.closed) return;
    const out = newBhs(Opcode.LOGOUT_RESPONSE, 0x80);
    out[2] = response;
    out.writeUInt32BE(ittOf(bhs), 16);
    this.stamp(out, true);
    out.writeUInt16BE(this.login.params.defaultTime2Wait, 40);
    out.writeUInt16BE(this.login.params.defaultTime2Retain, 42);
    this.send({ bhs: out, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT });
    if (response === 0) this.flushThenClose();
  }
}
