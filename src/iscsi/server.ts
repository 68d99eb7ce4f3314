// The iSCSI target server and its control API: targets, LUNs, CHAP, ACL, sessions.
// It knows nothing of volumes; the `builtin` target driver maps volumes onto it.

import { createServer, type Server, type Socket } from 'node:net';
import type { ChapCredentials } from '../util/chap.js';
import { silentLogger, type Logger } from '../log.js';
import { ScsiTargetDevice } from '../scsi/target-device.js';
import type { LogicalUnit } from '../scsi/types.js';
import { TmfFunction, TmfResponse, type LunTable } from './command-path.js';
import { IscsiConnection, type ConnectionHost } from './connection.js';
import type { LoginTarget } from './login.js';
import { LoginFailure, LoginStatus } from './login-status.js';
import { DEFAULT_BUSY_POLL_MICROSECONDS, DEFAULT_TARGET_LIMITS, type TargetLimits } from './params.js';
import { formatHostPort } from '../util/ports.js';
import { readAcceptedSocket } from './socket-reader.js';
import { AdaptivePoll, type PollStats } from '../util/adaptive-poll.js';

/** The SCSI layer's per-target LUN map (ScsiTargetDevice satisfies it). */
export interface ScsiLunMap extends LunTable {
  addLun(lun: number, lu: LogicalUnit): void;
  removeLun(lun: number): void;
  /** The I_T nexus is gone (logout, drop, reinstatement): reservations held through it end. */
  nexusLost?(nexus: string): void;
}

export interface IscsiServerOptions {
  logger?: Logger;
  /** Creates the SCSI layer's LUN map for a new target (REPORT LUNS, absent LUNs); default ScsiTargetDevice. */
  createLunMap?: () => ScsiLunMap;
  portalGroupTag?: number;
  /** Addresses to advertise in SendTargets ("host:port"); default: the address the initiator connected to. */
  portals?: string[];
  limits?: Partial<TargetLimits>;
  loginTimeoutMs?: number;
  /** Ping an idle full-feature connection with NOP-In after this long; 0 disables. */
  nopInIntervalMs?: number;
  nopTimeoutMs?: number;
  /** Commands in flight per session (the CmdSN window). */
  queueDepth?: number;
  discoveryChap?: ChapCredentials | null;
  /** Connections accepted at once (logged in or not); more are closed on accept. */
  maxConnections?: number;
  /** Longest window in which the event loop keeps polling after input instead of sleeping; 0 turns it off. */
  busyPollMicroseconds?: number;
}

export interface TargetOptions {
  chap?: ChapCredentials | null;
  mutualChap?: ChapCredentials | null;
  alias?: string;
}

export interface SessionInfo {
  tsih: number;
  target: string | null;
  initiator: string;
  isid: string;
  type: 'Normal' | 'Discovery';
  remoteAddress: string;
  remotePort: number;
  readOnly: boolean;
  connectedAt: Date;
}

interface TargetEntry extends LoginTarget {
  acl: Map<string, { readOnly: boolean }>;
  lunMap: ScsiLunMap;
  lus: Map<number, LogicalUnit>;
}

export class IscsiTargetServer implements ConnectionHost {
  readonly logger: Logger;
  readonly limits: TargetLimits;
  readonly portalGroupTag: number;
  readonly loginTimeoutMs: number;
  readonly nopInIntervalMs: number;
  readonly nopTimeoutMs: number;
  readonly queueDepth: number;
  discoveryChap: ChapCredentials | null;

  private readonly targets = new Map<string, TargetEntry>();
  private readonly connections = new Set<IscsiConnection>();
  private readonly sessions = new Map<number, IscsiConnection>();
  private server: Server | null = null;
  private nextConnectionId = 1;
  private nextTsih = 1;
  private readonly advertisedPortals: string[] | undefined;
  private readonly createLunMap: () => ScsiLunMap;
  private readonly maxConnections: number;
  private readonly poll: AdaptivePoll;

  constructor(opts: IscsiServerOptions = {}) {
    this.logger = (opts.logger ?? silentLogger()).child({ component: 'iscsi' });
    this.limits = { ...DEFAULT_TARGET_LIMITS, ...opts.limits };
    this.portalGroupTag = opts.portalGroupTag ?? 1;
    this.loginTimeoutMs = opts.loginTimeoutMs ?? 15000;
    this.nopInIntervalMs = opts.nopInIntervalMs ?? 5000;
    this.nopTimeoutMs = opts.nopTimeoutMs ?? 15000;
    this.queueDepth = opts.queueDepth ?? 128;
    this.discoveryChap = opts.discoveryChap ?? null;
    this.advertisedPortals = opts.portals;
    this.createLunMap = opts.createLunMap ?? (() => new ScsiTargetDevice());
    this.maxConnections = opts.maxConnections ?? 4096;
    this.poll = new AdaptivePoll(opts.busyPollMicroseconds ?? DEFAULT_BUSY_POLL_MICROSECONDS);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('already listening');
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    server.on('error', (err) => this.logger.error({ err: err.message }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address();
    const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
    this.logger.info(bound, 'iSCSI target listening');
    return bound;
  }

  outputWritten(): void {
    this.poll.sent();
  }

  /** How the busy-poll window is doing (for /metrics). */
  pollStats(): PollStats {
    return this.poll.stats();
  }

  get address(): { host: string; port: number } | null {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : null;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.poll.stop();
    for (const c of [...this.connections]) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(accepted: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      this.logger.warn({ limit: this.maxConnections }, 'connection limit reached: refusing a connection');
      accepted.destroy();
      return;
    }
    // The first read can only complete in a later turn of the event loop, after `conn` is set.
    let receiver: IscsiConnection | null = null;
    const socket = readAcceptedSocket(
      accepted,
      (chunk) => {
        this.poll.arrived();
        receiver?.receive(chunk);
      },
      { next: () => receiver?.placeNextRead() ?? null, arenaReadLimit: () => receiver?.arenaReadLimit() ?? Infinity },
    );
    const conn = new IscsiConnection(socket, this, this.nextConnectionId++);
    receiver = conn;
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  // ---- control API ---------------------------------------------------------------------

  createTarget(iqn: string, opts: TargetOptions = {}): void {
    validateIqn(iqn);
    const existing = this.targets.get(iqn);
    if (existing) {
      // Idempotent: a second create only updates the authentication settings.
      existing.chap = opts.chap ?? null;
      existing.mutualChap = opts.mutualChap ?? null;
      if (opts.alias !== undefined) existing.alias = opts.alias;
      return;
    }
    const acl = new Map<string, { readOnly: boolean }>();
    this.targets.set(iqn, {
      iqn,
      alias: opts.alias,
      chap: opts.chap ?? null,
      mutualChap: opts.mutualChap ?? null,
      acl,
      lunMap: this.createLunMap(),
      lus: new Map(),
      isAllowed: (initiator: string) => acl.has(nameKey(initiator)),
    });
  }

  hasTarget(iqn: string): boolean {
    return this.targets.has(iqn);
  }

  listTargets(): string[] {
    return [...this.targets.keys()];
  }

  /** Removes the target and drops its sessions; the caller closes the logical units it gave us. */
  removeTarget(iqn: string): void {
    if (!this.targets.delete(iqn)) return;
    this.dropSessions(iqn);
  }

  addLun(iqn: string, lun: number, lu: LogicalUnit): void {
    const t = this.requireTarget(iqn);
    if (!Number.isInteger(lun) || lun < 0 || lun > 16383) throw new Error(`invalid LUN ${lun}`);
    if (t.lus.has(lun)) t.lunMap.removeLun(lun);
    t.lunMap.addLun(lun, lu);
    t.lus.set(lun, lu);
  }

  removeLun(iqn: string, lun: number): LogicalUnit | undefined {
    const t = this.targets.get(iqn);
    const lu = t?.lus.get(lun);
    if (!t || !lu) return undefined;
    t.lunMap.removeLun(lun);
    t.lus.delete(lun);
    return lu;
  }

  getLun(iqn: string, lun: number): LogicalUnit | undefined {
    return this.targets.get(iqn)?.lus.get(lun);
  }

  /** Sets or clears CHAP; applies to new logins (existing sessions stay authenticated). */
  setChap(iqn: string, chap: ChapCredentials | null, mutualChap: ChapCredentials | null = null): void {
    const t = this.requireTarget(iqn);
    t.chap = chap;
    t.mutualChap = chap ? mutualChap : null;
  }

  allowInitiator(iqn: string, initiator: string, opts: { readOnly?: boolean } = {}): void {
    const t = this.requireTarget(iqn);
    const readOnly = opts.readOnly ?? false;
    t.acl.set(nameKey(initiator), { readOnly });
    // A changed mapping applies to live sessions at once, as LIO's mapped LUNs do.
    for (const c of this.connectionsOf(iqn, initiator)) c.readOnly = readOnly;
  }

  /** Removes the ACL entry and drops the initiator's sessions at once. */
  denyInitiator(iqn: string, initiator: string): void {
    this.targets.get(iqn)?.acl.delete(nameKey(initiator));
    this.dropSessions(iqn, initiator);
  }

  allowedInitiators(iqn: string): Array<{ initiator: string; readOnly: boolean }> {
    const t = this.targets.get(iqn);
    return t ? [...t.acl].map(([initiator, v]) => ({ initiator, readOnly: v.readOnly })) : [];
  }

  listSessions(iqn?: string): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const c of this.sessions.values()) {
      if (iqn !== undefined && c.targetIqn !== iqn) continue;
      out.push({
        tsih: c.tsih,
        target: c.targetIqn ?? null,
        initiator: c.initiatorName,
        isid: c.isid.toString('hex'),
        type: c.sessionType,
        remoteAddress: c.remoteAddress,
        remotePort: c.remotePort,
        readOnly: c.readOnly,
        connectedAt: c.connectedAt,
      });
    }
    return out;
  }

  /** Drops the sessions (and half-logged-in connections) of a target, or of one initiator on it. */
  dropSessions(iqn: string, initiator?: string): number {
    let n = 0;
    for (const c of this.connectionsOf(iqn, initiator)) {
      c.close();
      n++;
    }
    return n;
  }

  private connectionsOf(iqn: string, initiator?: string): IscsiConnection[] {
    return [...this.connections].filter(
      (c) => c.targetIqn === iqn && (initiator === undefined || nameKey(c.initiatorName) === nameKey(initiator)),
    );
  }

  private requireTarget(iqn: string): TargetEntry {
    const t = this.targets.get(iqn);
    if (!t) throw new Error(`no such target: ${iqn}`);
    return t;
  }

  // ---- ConnectionHost ------------------------------------------------------------------

  findTarget(iqn: string): LoginTarget | undefined {
    return this.targets.get(iqn);
  }

  discoveryChapCandidates(initiator: string): Array<{ chap: ChapCredentials; mutualChap: ChapCredentials | null }> {
    const out: Array<{ chap: ChapCredentials; mutualChap: ChapCredentials | null }> = [];
    for (const t of this.targets.values()) {
      if (t.chap && t.acl.has(nameKey(initiator))) out.push({ chap: t.chap, mutualChap: t.mutualChap });
    }
    return out;
  }

  portalsFor(localAddress: string, localPort: number): string[] {
    const list = this.advertisedPortals ?? [formatHostPort(localAddress, localPort)];
    return list.map((p) => `${p},${this.portalGroupTag}`);
  }

  visibleTargets(initiator: string): string[] {
    return [...this.targets.values()].filter((t) => t.acl.has(nameKey(initiator))).map((t) => t.iqn);
  }

  lunTableOf(targetIqn: string): LunTable | undefined {
    return this.targets.get(targetIqn)?.lunMap;
  }

  isReadOnly(targetIqn: string, initiator: string): boolean {
    return this.targets.get(targetIqn)?.acl.get(nameKey(initiator))?.readOnly ?? false;
  }

  checkReinstatement(conn: IscsiConnection): void {
    const old = this.sessions.get(conn.requestedTsih);
    if (!old || nameKey(old.initiatorName) !== nameKey(conn.initiatorName) || !old.isid.equals(conn.isid) || old.targetIqn !== conn.targetIqn) {
      throw new LoginFailure(LoginStatus.SESSION_DOES_NOT_EXIST, 'TSIH names no session of this initiator');
    }
    // With MaxConnections=1 only the reinstatement of the session's one connection is possible.
    if (old.cid !== conn.cid) throw new LoginFailure(LoginStatus.TOO_MANY_CONNECTIONS, 'MaxConnections is 1');
  }

  attachSession(conn: IscsiConnection): number {
    // Session reinstatement (RFC 7143 6.3.5): a new login with the same initiator, ISID and
    // target replaces the old session, whose tasks die with it (ERL 0).
    for (const other of this.sessions.values()) {
      if (
        other !== conn &&
        nameKey(other.initiatorName) === nameKey(conn.initiatorName) &&
        other.targetIqn === conn.targetIqn &&
        other.sessionType === conn.sessionType &&
        other.isid.equals(conn.isid)
      ) {
        other.close();
      }
    }
    if (conn.requestedTsih !== 0) {
      // Connection reinstatement: the old connection of that session goes, the TSIH stays.
      const old = this.sessions.get(conn.requestedTsih);
      if (old && old !== conn) old.close();
      this.sessions.set(conn.requestedTsih, conn);
      return conn.requestedTsih;
    }
    let tsih = this.nextTsih;
    while (this.sessions.has(tsih) || tsih === 0) tsih = (tsih + 1) & 0xffff;
    this.nextTsih = (tsih + 1) & 0xffff || 1;
    this.sessions.set(tsih, conn);
    return tsih;
  }

  detachSession(conn: IscsiConnection): void {
    if (this.sessions.get(conn.tsih) !== conn) return;
    this.sessions.delete(conn.tsih);
    const iqn = conn.targetIqn;
    if (iqn) this.targets.get(iqn)?.lunMap.nexusLost?.(conn.nexus);
  }

  dropAfterColdReset(conn: IscsiConnection): void {
    const iqn = conn.targetIqn;
    if (!iqn) return;
    // Let the TMF response reach the initiator first; then every session of the target goes.
    setImmediate(() => {
      for (const c of this.connectionsOf(iqn)) c.closeGracefully();
    });
  }

  async taskManagement(conn: IscsiConnection, fn: number, lun: number): Promise<number> {
    const iqn = conn.targetIqn;
    const t = iqn ? this.targets.get(iqn) : undefined;
    if (!t) return TmfResponse.REJECTED;
    const peers = [...this.sessions.values()].filter((c) => c.targetIqn === iqn);
    if (fn === TmfFunction.TARGET_WARM_RESET || fn === TmfFunction.TARGET_COLD_RESET) {
      await Promise.all(peers.map((c) => c.abortTasks(() => true)));
      for (const lu of t.lus.values()) lu.reset();
      return TmfResponse.COMPLETE;
    }
    const lu = t.lus.get(lun);
    if (!lu) return TmfResponse.NO_LUN;
    await Promise.all(peers.map((c) => c.abortTasks((l) => l === lun)));
    // Every nexus gets the reset unit attention, the issuer's too: initiators (libiscsi's MultipathIO.Reset, Linux
    // multipath) expect to see it on each path, as tgt and LIO report it.
    if (fn === TmfFunction.LOGICAL_UNIT_RESET) lu.reset();
    return TmfResponse.COMPLETE;
  }
}

/** iSCSI names compare case-insensitively (RFC 3722 stringprep folds case). */
function nameKey(name: string): string {
  return name.toLowerCase();
}

const IQN_PATTERN = /^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

function validateIqn(iqn: string): void {
  if (!IQN_PATTERN.test(iqn) || iqn.length > 223) throw new Error(`invalid iSCSI name: ${iqn}`);
}
