// Target driver for tgtd, in the spirit of Cinder's tgt helper (docs/cinder-compatibility.md#tgt-helper) but driving tgtadm
// directly instead of writing tgt-admin config files, and with what Cinder's helper lacks
// (docs/cinder-compatibility.md#known-weak-points): a per-initiator ACL so only attached hosts can log in, session teardown when an
// initiator is denied, unique SCSI ids per volume, and targets restored when tgtd restarts.
import { EventEmitter } from 'node:events';
import type { AccessMode, TargetDriver, TargetExport } from '../host/types.js';
import type { ChapCredentials } from '../util/chap.js';
import type { Logger } from '../log.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import { formatHostPort } from '../util/ports.js';
import { Tgtadm, TgtErrors, TgtadmError } from './tgtadm.js';
import { TgtdDaemon } from './tgtd-daemon.js';
import { parseConnShow, parseTargetShow, type TgtTargetInfo } from './tgt-show.js';
import { DEFAULT_IQN_PREFIX, volumeIdOfIqn, volumeIqn } from './naming.js';

/** LUN 0 is tgt's controller LUN, so the volume is LUN 1 (as in Cinder). */
export const TGT_VOLUME_LUN = 1;
// tgt truncates scsi_id / scsi_sn to 36 bytes; a UUID volume id fits exactly.
const SCSI_ID_MAX = 36;

export interface TgtTargetOptions {
  /** Where tgtd listens for initiators; a managed tgtd is started with exactly this portal. */
  portal: { host: string; port: number };
  iqnPrefix?: string;
  logger: Logger;
  /** manage: start and supervise a private tgtd; otherwise talk to a running one (default control socket unless controlPort). */
  daemon: { manage: boolean; controlPort?: number };
  tgtdPath?: string;
  tgtadmPath?: string;
}

export interface TgtTargetEvents {
  /** After a tgtd restart, the exports this driver made were recreated (failed = how many could not be). */
  restored: [summary: { restored: number; failed: number }];
}

/** What this process asked tgtd to hold for one volume: replayed when tgtd restarts. */
interface DesiredExport {
  devicePath: string;
  chap: ChapCredentials;
  /** initiator as given -> mode (tgt cannot enforce ro per initiator; kept for the record). */
  acl: Map<string, AccessMode>;
}

export class TgtTarget extends EventEmitter<TgtTargetEvents> implements TargetDriver {
  readonly name = 'tgt';
  readonly iqnPrefix: string;
  readonly daemon: TgtdDaemon | null;
  private readonly adm: Tgtadm;
  private readonly log: Logger;
  private readonly queue = new KeyedQueue();
  private readonly desired = new Map<string, DesiredExport>();
  /** CHAP user/password this process has set on the current tgtd for a volume (tgtd never shows passwords). */
  private readonly appliedChap = new Map<string, ChapCredentials>();
  /** tids handed out but maybe not yet visible in `show`, so concurrent creates never pick the same one. */
  private readonly reservedTids = new Set<number>();

  constructor(private readonly opts: TgtTargetOptions) {
    super();
    this.iqnPrefix = opts.iqnPrefix ?? DEFAULT_IQN_PREFIX;
    this.log = opts.logger.child({ component: 'tgt-target' });
    if (opts.daemon.manage) {
      this.daemon = new TgtdDaemon({
        portal: opts.portal,
        controlPort: opts.daemon.controlPort,
        logger: opts.logger,
        tgtdPath: opts.tgtdPath,
        tgtadmPath: opts.tgtadmPath,
      });
      this.adm = this.daemon.tgtadm;
      this.daemon.on('restarted', () => void this.restoreAfterRestart());
    } else {
      this.daemon = null;
      this.adm = new Tgtadm({ controlPort: opts.daemon.controlPort, program: opts.tgtadmPath });
    }
  }

  get portal(): string {
    return formatHostPort(this.opts.portal.host, this.opts.portal.port);
  }

  private iqnFor(volumeId: string): string {
    return volumeIqn(this.iqnPrefix, volumeId);
  }

  /** The volume id of one of our IQNs, or null for targets that are not ours. */
  volumeIdOf(iqn: string): string | null {
    return volumeIdOfIqn(this.iqnPrefix, iqn);
  }

  async start(): Promise<void> {
    if (this.daemon) await this.daemon.start();
    // Targets left by an earlier run of a shared tgtd keep their tids; new ones are allocated around them.
    const existing = (await this.showTargets()).filter((t) => this.volumeIdOf(t.iqn) !== null);
    this.log.info({ portal: this.portal, controlPort: this.adm.controlPort, existingTargets: existing.length }, 'tgt target driver started');
  }

  async stop(): Promise<void> {
    if (this.daemon) await this.daemon.stop();
  }

  createExport(volumeId: string, devicePath: string, chap: ChapCredentials): Promise<TargetExport> {
    return this.serial(volumeId, async () => {
      const prev = this.desired.get(volumeId);
      const want: DesiredExport = { devicePath, chap: { ...chap }, acl: prev?.acl ?? new Map() };
      this.desired.set(volumeId, want);
      const tid = await this.apply(volumeId, want);
      return { iqn: this.iqnFor(volumeId), lun: TGT_VOLUME_LUN, tid: String(tid), portals: [this.portal] };
    });
  }

  removeExport(volumeId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      this.desired.delete(volumeId);
      this.appliedChap.delete(volumeId);
      const target = await this.findTarget(volumeId);
      if (!target) return;
      await this.dropConnections(target, () => true);
      try {
        await this.adm.run(['--op', 'delete', '--mode', 'target', '--tid', String(target.tid)]);
      } catch (err) {
        // Gone already (someone else removed it) is fine; its accounts are still removed below.
        // A session that logged in between the drop and the delete keeps the target "active".
        if (!isTgt(err, TgtErrors.noTarget) && !isTgt(err, TgtErrors.targetActive)) throw err;
        if (isTgt(err, TgtErrors.targetActive)) await this.adm.runTolerating(['--op', 'delete', '--mode', 'target', '--tid', String(target.tid), '--force'], TgtErrors.noTarget);
      }
      // Cinder saw deletes that reported success and left the target (bug #1304122): check.
      if (await this.findTarget(volumeId)) throw new Error(`tgt target for volume ${volumeId} still exists after delete`);
      // Accounts are global in tgtd and outlive the target; ours are per volume, so remove them.
      for (const user of target.accounts) {
        await this.adm.runTolerating(['--op', 'delete', '--mode', 'account', '--user', user], TgtErrors.noAccount);
      }
      this.log.info({ volumeId, tid: target.tid }, 'tgt target removed');
    });
  }

  allowInitiator(volumeId: string, initiator: string, mode: AccessMode): Promise<void> {
    return this.serial(volumeId, async () => {
      this.desired.get(volumeId)?.acl.set(initiator, mode);
      const target = await this.findTarget(volumeId);
      if (!target) throw new Error(`volume ${volumeId} has no tgt target; create the export first`);
      if (target.acl.includes(initiator)) return;
      await this.adm.runTolerating(
        ['--op', 'bind', '--mode', 'target', '--tid', String(target.tid), '--initiator-name', initiator],
        TgtErrors.aclExists,
      );
      // tgt has no per-initiator read-only mapping; 'ro' is enforced by the consumer via access_mode, as with Cinder's tgt.
      this.log.debug({ volumeId, initiator, mode }, 'tgt ACL entry added');
    });
  }

  denyInitiator(volumeId: string, initiator: string): Promise<void> {
    return this.serial(volumeId, async () => {
      const acl = this.desired.get(volumeId)?.acl;
      if (acl) for (const name of [...acl.keys()]) if (sameIqn(name, initiator)) acl.delete(name);
      const target = await this.findTarget(volumeId);
      if (!target) return;
      // IQNs are case-insensitive (RFC 3722), tgt compares them exactly; remove every spelling.
      for (const name of target.acl.filter((a) => sameIqn(a, initiator))) {
        await this.adm.runTolerating(
          ['--op', 'unbind', '--mode', 'target', '--tid', String(target.tid), '--initiator-name', name],
          TgtErrors.noAcl,
        );
      }
      // Unbinding only stops new logins; existing sessions keep working until dropped.
      const dropped = await this.dropConnections(target, (i) => sameIqn(i, initiator));
      this.log.info({ volumeId, initiator, droppedConnections: dropped }, 'tgt initiator denied');
    });
  }

  async listExports(): Promise<string[]> {
    await this.daemon?.whenReady();
    const ids = (await this.showTargets()).map((t) => this.volumeIdOf(t.iqn)).filter((id): id is string => id !== null);
    return ids.sort();
  }

  /** tgt reads the backing file size when the LUN is added, so re-add LUN 1 to report the new capacity. */
  resized(volumeId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      const target = await this.findTarget(volumeId);
      const lun = target?.luns.find((l) => l.lun === TGT_VOLUME_LUN);
      if (!target || !lun?.backingStorePath) return;
      await this.adm.runTolerating(['--op', 'delete', '--mode', 'logicalunit', '--tid', String(target.tid), '--lun', String(TGT_VOLUME_LUN)], TgtErrors.noLun);
      await this.addVolumeLun(volumeId, target.tid, lun.backingStorePath);
      this.log.info({ volumeId }, 'tgt LUN re-added with the new size');
    });
  }

  /**
   * While a crashed tgtd is being restarted, calls wait for it instead of failing. The volume host already
   * orders one volume's calls; this queue also orders them against restoreAfterRestart, which tgtd's
   * supervisor starts on its own.
   */
  private serial<T>(volumeId: string, task: () => Promise<T>): Promise<T> {
    return this.queue.run(volumeId, async () => {
      await this.daemon?.whenReady();
      return task();
    });
  }

  /** Makes tgtd hold exactly what `want` describes for the volume (adding only; it never removes ACL entries). */
  private async apply(volumeId: string, want: DesiredExport): Promise<number> {
    const iqn = this.iqnFor(volumeId);
    const all = await this.showTargets();
    let target = all.find((t) => t.iqn === iqn);
    let tid: number;
    if (target) {
      tid = target.tid;
    } else {
      tid = await this.createTarget(iqn, all);
      this.appliedChap.delete(volumeId);
      target = { tid, iqn, state: null, nexuses: [], luns: [], accounts: [], acl: [] };
    }

    const lun = target.luns.find((l) => l.lun === TGT_VOLUME_LUN);
    if (lun && lun.backingStorePath !== want.devicePath) {
      await this.adm.runTolerating(['--op', 'delete', '--mode', 'logicalunit', '--tid', String(tid), '--lun', String(TGT_VOLUME_LUN)], TgtErrors.noLun);
    }
    if (!lun || lun.backingStorePath !== want.devicePath) await this.addVolumeLun(volumeId, tid, want.devicePath);

    await this.applyChap(volumeId, tid, target.accounts, want.chap);

    for (const initiator of want.acl.keys()) {
      if (target.acl.includes(initiator)) continue;
      await this.adm.runTolerating(['--op', 'bind', '--mode', 'target', '--tid', String(tid), '--initiator-name', initiator], TgtErrors.aclExists);
    }
    return tid;
  }

  private async createTarget(iqn: string, known: TgtTargetInfo[]): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const taken = new Set((attempt === 0 ? known : await this.showTargets()).map((t) => t.tid));
      let tid = 1;
      while (taken.has(tid) || this.reservedTids.has(tid)) tid++;
      this.reservedTids.add(tid);
      try {
        await this.adm.run(['--op', 'new', '--mode', 'target', '--tid', String(tid), '--targetname', iqn]);
        return tid;
      } catch (err) {
        // Someone else (another tool on a shared tgtd) took the tid between show and new: pick again.
        if (!isTgt(err, TgtErrors.targetExists)) throw err;
        const again = (await this.showTargets()).find((t) => t.iqn === iqn);
        if (again) return again.tid;
      } finally {
        this.reservedTids.delete(tid);
      }
    }
    throw new Error(`could not allocate a tgt target id for ${iqn}`);
  }

  private async addVolumeLun(volumeId: string, tid: number, devicePath: string): Promise<void> {
    await this.adm.run([
      '--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', String(TGT_VOLUME_LUN), '--backing-store', devicePath,
    ]);
    // tgt's default ids ("beaf<tid><lun>") repeat when tids are reused and across hosts, which made hosts
    // confuse devices (Cinder bug #1917750); thin provisioning lets initiators UNMAP the sparse file.
    const id = volumeId.slice(0, SCSI_ID_MAX);
    await this.adm.run([
      '--op', 'update', '--mode', 'logicalunit', '--tid', String(tid), '--lun', String(TGT_VOLUME_LUN),
      '--params', `scsi_id=${id},scsi_sn=${id},thin_provisioning=1`,
    ]);
  }

  /** tgtd lists account names but never passwords, so an account we did not set in this daemon's life is reset. */
  private async applyChap(volumeId: string, tid: number, bound: string[], chap: ChapCredentials): Promise<void> {
    const applied = this.appliedChap.get(volumeId);
    const current = applied && applied.username === chap.username && applied.password === chap.password;
    if (current && bound.length === 1 && bound[0] === chap.username) return;
    for (const user of bound) {
      if (user !== chap.username) await this.adm.runTolerating(['--op', 'delete', '--mode', 'account', '--user', user], TgtErrors.noAccount);
    }
    const newAccount = ['--op', 'new', '--mode', 'account', '--user', chap.username, '--password', chap.password];
    if ((await this.adm.runTolerating(newAccount, TgtErrors.accountExists)) === null) {
      // Its password is unknown: replace it. Deleting an account also unbinds it, so bind below starts clean.
      await this.adm.runTolerating(['--op', 'delete', '--mode', 'account', '--user', chap.username], TgtErrors.noAccount);
      await this.adm.run(newAccount);
    }
    await this.adm.run(['--op', 'bind', '--mode', 'account', '--tid', String(tid), '--user', chap.username]);
    this.appliedChap.set(volumeId, { ...chap });
  }

  /**
   * Deletes every connection of the target whose initiator matches; returns how many. The first round
   * uses the I_T nexus list of the caller's `show` (nexus id = session id), saving a tgtadm call when idle.
   */
  private async dropConnections(target: TgtTargetInfo, match: (initiator: string) => boolean): Promise<number> {
    const tid = target.tid;
    let dropped = 0;
    let conns = target.nexuses
      .filter((n) => match(n.initiator))
      .flatMap((n) => n.connections.map((cid) => ({ sid: n.nexus, cid })));
    // A connection that logged in again in between (allowed until the ACL change) is caught by the
    // re-check; loop until no matching connection is left.
    for (let round = 0; round < 5; round++) {
      if (round > 0) {
        const out = await this.adm.runTolerating(['--op', 'show', '--mode', 'conn', '--tid', String(tid)], TgtErrors.noTarget);
        conns = out === null ? [] : parseConnShow(out).filter((c) => match(c.initiator));
      }
      if (conns.length === 0) return dropped;
      for (const c of conns) {
        await this.adm.runTolerating(
          ['--op', 'delete', '--mode', 'conn', '--tid', String(tid), '--sid', String(c.sid), '--cid', String(c.cid)],
          TgtErrors.noTarget, TgtErrors.noSession, TgtErrors.noConnection,
        );
        dropped++;
      }
    }
    return dropped;
  }

  private async showTargets(): Promise<TgtTargetInfo[]> {
    return parseTargetShow(await this.adm.run(['--op', 'show', '--mode', 'target']));
  }

  private async findTarget(volumeId: string): Promise<TgtTargetInfo | undefined> {
    const iqn = this.iqnFor(volumeId);
    return (await this.showTargets()).find((t) => t.iqn === iqn);
  }

  /** A restarted tgtd is empty: put back every export (target, LUN, CHAP, ACL) this process made. */
  private async restoreAfterRestart(): Promise<void> {
    this.appliedChap.clear();
    const ids = [...this.desired.keys()];
    let failed = 0;
    await Promise.all(
      ids.map((id) =>
        this.queue.run(id, async () => {
          const want = this.desired.get(id);
          if (!want) return;
          try {
            await this.apply(id, want);
          } catch (err) {
            failed++;
            this.log.error({ volumeId: id, err: (err as Error).message }, 'could not restore tgt export after tgtd restart');
          }
        }),
      ),
    );
    this.log.info({ restored: ids.length - failed, failed }, 'tgt exports restored after tgtd restart');
    this.emit('restored', { restored: ids.length - failed, failed });
  }
}

function sameIqn(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function isTgt(err: unknown, pattern: RegExp): boolean {
  return err instanceof TgtadmError && err.matches(pattern);
}
