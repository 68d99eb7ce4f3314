// One iSCSI connection (= one session: MaxConnections is 1) from TCP accept to close:
// login, then the full feature phase. A protocol error closes this connection only.

import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { ScsiCommandPath, TmfFunction, TmfResponse, type CommandConnection, type LunTable } from './command-path.js';
import { LoginFailure, LoginStatus } from './login-status.js';
import { LoginNegotiator, Stage, type LoginDirectory, type LoginTarget } from './login.js';
import {
  decodeLun,
  DigestError,
  EMPTY_SEGMENT,
  getU32,
  isImmediate,
  itt as ittOf,
  Opcode,
  opcodeOf,
  PduFormatError,
  PduFramer,
  RejectReason,
  RESERVED_TAG,
  type Pdu,
} from './pdu.js';
import {
  loginReject,
  loginResponse,
  logoutResponse,
  nopInPing,
  nopInReply,
  reject,
  taskManagementResponse,
  type LoginStages,
} from './responses.js';
import { OutputQueue, type OutputOwner } from './output-queue.js';
import { CmdSNVerdict, Session } from './session.js';
import { TextExchange, type TextConnection } from './text-exchange.js';
import { encodeKeyValues, parseKeyValues, splitSegments, TextFormatError, type KeyValues } from './text.js';

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
const MAX_LOGIN_TEXT = 65536;

export class IscsiConnection implements CommandConnection, TextConnection, OutputOwner {
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

  private readonly session: Session;
  private readonly commands: ScsiCommandPath;
  private readonly text: TextExchange;
  private readonly output: OutputQueue;
  private loginText: Buffer[] = [];
  private loginTextBytes = 0;
  private lastReceived = Date.now();
  private pingOutstanding: { ttt: number; sentAt: number } | null = null;
  private loggingOut = false;
  private loginStarted = false;

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
    this.session = new Session(host.queueDepth);
    this.commands = new ScsiCommandPath(this, this.session, this.login.params, this.log);
    this.text = new TextExchange(this, this.session, this.login);
    this.output = new OutputQueue(socket, this);
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
  get carriesScsi(): boolean {
    return this.login.sessionType === 'Normal' && this.target !== undefined;
  }

  lunTable(): LunTable | undefined {
    return this.host.lunTableOf(this.target!.iqn);
  }

  abandonPlacement(backing: ArrayBufferLike): boolean {
    return this.framer.abandonPlacement(backing);
  }

  /** Marks matching tasks aborted (no response will be sent) and waits for running ones. */
  abortTasks(match: (lun: number, itt: number) => boolean): Promise<number> {
    return this.commands.abortTasks(match);
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
    this.session.end();
    this.host.detachSession(this);
  }

  // ---- input ---------------------------------------------------------------------------

  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReceived = Date.now();
    this.framer.push(chunk);
    // What the commands in this chunk answer at once goes out in one write when the chunk is done, not from the
    // microtask queue: at queue depth 1 the response is then on the wire before Node winds up the read callback.
    const flushHere = this.output.hold();
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
    if (flushHere) this.output.flushHeld();
  }

  fail(err: unknown): void {
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
    this.output.flush();
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
        this.commands.onDataOut(pdu);
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
    // A NOP-Out answering our ping carries no CmdSN semantics.
    if ((opcodeOf(pdu.bhs) === Opcode.NOP_OUT && ittOf(pdu.bhs) === RESERVED_TAG) || isImmediate(pdu.bhs)) {
      this.execute(pdu);
      return;
    }
    const cmdSN = getU32(pdu.bhs, 24);
    const verdict = this.session.admit(cmdSN, pdu);
    if (verdict === CmdSNVerdict.OUTSIDE) this.log.debug({ cmdSN, ...this.session.window() }, 'CmdSN outside window: ignored');
    if (verdict !== CmdSNVerdict.RUN) return;
    this.execute(pdu);
    // Deliver what was waiting for the gap to close.
    for (let next = this.session.nextInOrder(); next; next = this.session.nextInOrder()) {
      this.execute(next);
      if (this.closed) return;
    }
  }

  private execute(pdu: Pdu): void {
    switch (opcodeOf(pdu.bhs)) {
      case Opcode.NOP_OUT:
        return this.onNopOut(pdu);
      case Opcode.SCSI_COMMAND:
        return this.commands.onScsiCommand(pdu);
      case Opcode.TASK_MGMT_REQUEST:
        return void this.onTaskManagement(pdu).catch((err) => this.fail(err));
      case Opcode.TEXT_REQUEST:
        return this.text.onRequest(pdu);
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

  // ---- output --------------------------------------------------------------------------

  send(pdu: Pdu): void {
    if (!this.closed) this.output.send(pdu);
  }

  lendUntilWritten(buffer: Buffer): void {
    this.output.lend(buffer);
  }

  outputWritten(): void {
    this.host.outputWritten();
  }

  writeFailed(err: unknown): void {
    this.log.info({ reason: err instanceof Error ? err.message : String(err) }, 'closing connection after write failure');
    this.close();
  }

  sendReject(reason: number, rejected: Buffer): void {
    this.send(reject(this.session, reason, rejected));
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
      this.session.start(getU32(bhs, 24));
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
      this.sendLoginResponse(bhs, { transit: false, csg: (bhs[1] >> 2) & 3, nsg: bhs[1] & 3 }, EMPTY_SEGMENT, false);
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

  private pendingLoginResponse: { stages: LoginStages; segments: Buffer[] } | null = null;

  private sendLoginResponse(req: Buffer, stages: LoginStages, text: Buffer, allowSplit: boolean): void {
    const segments = allowSplit ? splitSegments(text, LOGIN_MAX_SEGMENT) : [text];
    this.pendingLoginResponse = { stages, segments };
    this.sendLoginSegment(req);
  }

  private sendLoginSegment(req: Buffer): void {
    const { stages, segments } = this.pendingLoginResponse!;
    const segment = segments.shift() ?? EMPTY_SEGMENT;
    const more = segments.length > 0;
    if (!more) this.pendingLoginResponse = null;
    const tsih = stages.transit && stages.nsg === Stage.FULL_FEATURE && !more ? this.tsih : 0;
    this.send(loginResponse(this.session, stages, more, this.isid, tsih, ittOf(req), segment));
  }

  private sendLoginReject(req: Buffer, status: number): void {
    this.send(loginReject(this.session, req, status));
    this.flushThenClose();
  }

  private enterFullFeature(): void {
    clearTimeout(this.loginTimer);
    const p = this.login.params;
    // Digests start with the first PDU after the final login response (RFC 7143 13.1).
    this.framer.digests = { header: p.headerDigest, data: p.dataDigest };
    this.output.digests = this.framer.digests;
    this.framer.limits.maxDataSegmentLength = p.targetMaxRecvDataSegmentLength;
    if (this.login.sessionType === 'Normal') this.framer.placement = this.commands.placeData;
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
    const ttt = this.session.newTargetTag();
    this.pingOutstanding = { ttt, sentAt: now };
    this.send(nopInPing(this.session, ttt));
  }

  private onNopOut(pdu: Pdu): void {
    const tag = ittOf(pdu.bhs);
    const ttt = getU32(pdu.bhs, 20);
    if (tag === RESERVED_TAG) {
      if (this.pingOutstanding && ttt === this.pingOutstanding.ttt) this.pingOutstanding = null;
      return;
    }
    this.send(nopInReply(this.session, pdu, this.login.params.initiatorMaxRecvDataSegmentLength));
  }

  // ---- task management -----------------------------------------------------------------

  private async onTaskManagement(pdu: Pdu): Promise<void> {
    const { bhs } = pdu;
    const fn = bhs[1] & 0x7f;
    const lun = decodeLun(bhs.subarray(8, 16));
    let response: number;
    if (this.login.sessionType !== 'Normal') response = TmfResponse.REJECTED;
    else if (fn === TmfFunction.ABORT_TASK) {
      const ref = getU32(bhs, 20);
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
    this.send(taskManagementResponse(this.session, ittOf(bhs), response));
    // A cold reset ends every session of the target once the response is out (RFC 7143 11.5.1).
    if (fn === TmfFunction.TARGET_COLD_RESET && response === TmfResponse.COMPLETE) this.host.dropAfterColdReset(this);
  }

  // ---- text (text-exchange.ts) ---------------------------------------------------------

  visibleTargets(): string[] {
    return this.host.visibleTargets(this.login.initiatorName);
  }

  portals(): string[] {
    return this.host.portalsFor(this.socket.localAddress ?? '', this.socket.localPort ?? 0);
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
      await this.commands.settle();
    }
    if (this.closed) return;
    const p = this.login.params;
    this.send(logoutResponse(this.session, ittOf(bhs), response, p.defaultTime2Wait, p.defaultTime2Retain));
    if (response === 0) this.flushThenClose();
  }
}
