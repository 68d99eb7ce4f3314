// The `builtin` target driver: exports volumes through embervol's own userspace iSCSI target,
// in-process (no kernel module, no root, no daemon). Like LIO in Cinder: one target per volume,
// the volume on LUN 0, the IQN in the provider_location tid slot, CHAP per volume and an ACL
// entry per initiator; denying an initiator drops its sessions at once.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AccessMode, ChangeTracker, QosLimits, TargetDriver, TargetExport } from '../host/types.js';
import type { ChapCredentials } from '../util/chap.js';
import type { Logger } from '../log.js';
import { FileBlockDevice } from '../blockdev/file.js';
import { ChangeTrackingDevice } from '../blockdev/change-tracking.js';
import { IscsiTargetServer, type IscsiServerOptions } from '../iscsi/server.js';
import { createLogicalUnit, ScsiTargetDevice, type BlockLogicalUnit } from '../scsi/index.js';
import { formatHostPort } from '../util/ports.js';
import type { PollStats } from '../util/adaptive-poll.js';
import { DEFAULT_IQN_PREFIX, volumeIdOfIqn, volumeIqn } from './naming.js';

export const BUILTIN_VOLUME_LUN = 0;
/** Flushes before a quiesce window: at most this many, fewer once one takes less than QUICK_FLUSH_MS. */
const PRE_FLUSH_PASSES = 3;
const QUICK_FLUSH_MS = 50;

export interface BuiltinTargetOptions {
  portal: { host: string; port: number };
  iqnPrefix?: string;
  logger: Logger;
  /** Transport tuning (timeouts, limits, queue depth); mostly for tests. */
  server?: Partial<Omit<IscsiServerOptions, 'createLunMap' | 'logger'>>;
}

interface VolumeExport {
  devicePath: string;
  lu: BlockLogicalUnit;
  /** The logical unit's device: notes changed ranges while a copy is made beside the writes. */
  changes: ChangeTrackingDevice;
}

/** Calls for one volume arrive one at a time: the volume host orders them (host/local-host.ts). */
export class BuiltinTarget implements TargetDriver {
  readonly name = 'builtin';
  readonly iqnPrefix: string;
  readonly server: IscsiTargetServer;
  private readonly log: Logger;
  private readonly exports = new Map<string, VolumeExport>();
  private boundPort: number;

  constructor(private readonly opts: BuiltinTargetOptions) {
    this.iqnPrefix = opts.iqnPrefix ?? DEFAULT_IQN_PREFIX;
    this.log = opts.logger.child({ component: 'builtin-target' });
    this.boundPort = opts.portal.port;
    const wildcard = opts.portal.host === '0.0.0.0' || opts.portal.host === '::' || opts.portal.host === '';
    this.server = new IscsiTargetServer({
      ...opts.server,
      logger: opts.logger,
      createLunMap: () => new ScsiTargetDevice(),
      // A wildcard listener advertises the address each initiator reached us on.
      portals: wildcard ? undefined : [formatHostPort(opts.portal.host, opts.portal.port)],
    });
  }

  /** The portal initiators are told about ("host:port"); the real port once listening on port 0. */
  get portal(): string {
    return formatHostPort(this.opts.portal.host, this.boundPort);
  }

  private iqnFor(volumeId: string): string {
    return volumeIqn(this.iqnPrefix, volumeId);
  }

  volumeIdOf(iqn: string): string | null {
    return volumeIdOfIqn(this.iqnPrefix, iqn);
  }

  async start(): Promise<void> {
    if (this.server.address) return;
    const { port } = await this.server.listen(this.opts.portal.host, this.opts.portal.port);
    this.boundPort = port;
    this.log.info({ portal: this.portal }, 'builtin iSCSI target started');
  }

  async stop(): Promise<void> {
    await this.server.close();
    const all = [...this.exports.values()];
    this.exports.clear();
    for (const id of this.server.listTargets()) this.server.removeTarget(id);
    await Promise.allSettled(all.map((e) => e.lu.close()));
  }

  async createExport(volumeId: string, devicePath: string, chap: ChapCredentials): Promise<TargetExport> {
    const iqn = this.iqnFor(volumeId);
    const current = this.exports.get(volumeId);
    if (!current || current.devicePath !== devicePath) {
      const changes = new ChangeTrackingDevice(await FileBlockDevice.open(devicePath));
      const lu = createLogicalUnit(changes, identityFor(volumeId), {
        onInternalError: (err) => this.log.error({ volumeId, err: err instanceof Error ? err.message : String(err) }, 'SCSI internal error'),
      });
      this.server.createTarget(iqn, { chap });
      this.server.addLun(iqn, BUILTIN_VOLUME_LUN, lu);
      this.exports.set(volumeId, { devicePath, lu, changes });
      if (current) await current.lu.close();
      this.log.info({ volumeId, iqn }, 'builtin target created');
    } else {
      // Idempotent: same volume and file; only the credentials may have changed.
      this.server.setChap(iqn, chap);
    }
    return { iqn, lun: BUILTIN_VOLUME_LUN, tid: iqn, portals: [this.portal] };
  }

  async removeExport(volumeId: string): Promise<void> {
    const iqn = this.iqnFor(volumeId);
    this.server.removeTarget(iqn);
    const current = this.exports.get(volumeId);
    this.exports.delete(volumeId);
    if (current) await current.lu.close();
    if (current) this.log.info({ volumeId, iqn }, 'builtin target removed');
  }

  async allowInitiator(volumeId: string, initiator: string, mode: AccessMode): Promise<void> {
    const iqn = this.iqnFor(volumeId);
    if (!this.server.hasTarget(iqn)) throw new Error(`volume ${volumeId} has no export`);
    this.server.allowInitiator(iqn, initiator, { readOnly: mode === 'ro' });
    this.log.info({ volumeId, initiator, mode }, 'initiator allowed');
  }

  async denyInitiator(volumeId: string, initiator: string): Promise<void> {
    const iqn = this.iqnFor(volumeId);
    if (!this.server.hasTarget(iqn)) return;
    this.server.denyInitiator(iqn, initiator);
    this.log.info({ volumeId, initiator }, 'initiator denied and its sessions dropped');
  }

  async listExports(): Promise<string[]> {
    return [...this.exports.keys()];
  }

  busyPollStats(): PollStats {
    return this.server.pollStats();
  }

  /**
   * Every listed volume that is exported is quiesced (new writes held, writes in flight done) before fn runs, and
   * all are released together after it: one point in time for all of them (a group snapshot). Each device is
   * flushed first while writes still run, so that the copy's own writeback inside the window has little left;
   * the window holds no flush of its own (BlockLogicalUnit.quiesce says why none is needed).
   */
  async quiesced<T>(volumeIds: string[], fn: () => Promise<T>): Promise<T> {
    const lus = volumeIds.flatMap((id) => this.exports.get(id)?.lu ?? []);
    const t0 = performance.now();
    // Writes go on while a flush runs and dirty pages again: a slow pass is followed by another, which has far less
    // left to write, so the copy inside the window finds little to write back.
    for (let pass = 1; pass <= PRE_FLUSH_PASSES; pass++) {
      const start = performance.now();
      await Promise.all(lus.map((lu) => lu.device.flush()));
      if (performance.now() - start < QUICK_FLUSH_MS) break;
    }
    const t1 = performance.now();
    const quiesced = await Promise.allSettled(lus.map((lu) => lu.quiesce()));
    const releases = quiesced.flatMap((q) => (q.status === 'fulfilled' ? [q.value] : []));
    const t2 = performance.now();
    try {
      const failed = quiesced.find((q) => q.status === 'rejected');
      if (failed) throw failed.reason;
      return await fn();
    } finally {
      for (const release of releases) release();
      const t3 = performance.now();
      this.log.debug({ volumeIds, preFlushMs: ms(t1 - t0), drainMs: ms(t2 - t1), heldMs: ms(t3 - t1) }, 'quiesce window');
    }
  }

  trackChanges(volumeIds: string[]): ChangeTracker {
    const devices = new Map(volumeIds.flatMap((id) => {
      const e = this.exports.get(id);
      return e ? [[id, e.changes] as const] : [];
    }));
    for (const d of devices.values()) d.startTracking();
    return {
      // A volume without an export has no writer: nothing changes it.
      take: (volumeId) => devices.get(volumeId)?.takeChanges() ?? [],
      stop: () => {
        for (const d of devices.values()) d.stopTracking();
      },
    };
  }

  async setQos(volumeId: string, limits: QosLimits | null): Promise<void> {
    const current = this.exports.get(volumeId);
    if (!current) throw new Error(`volume ${volumeId} has no export`);
    current.lu.setQosLimits(limits);
  }

  async resized(volumeId: string): Promise<void> {
    // Re-reads the file size; every session then sees CAPACITY DATA HAS CHANGED once.
    await this.exports.get(volumeId)?.lu.capacityChanged();
  }
}

/** INQUIRY identity derived only from the volume id, so it survives restarts and re-exports. */
export function identityFor(volumeId: string) {
  const digest = createHash('sha256').update(`embervol-volume:${volumeId}`).digest();
  return {
    vendor: 'EMBERVOL',
    product: 'VOLUME          ',
    revision: '0001',
    // VPD 0x80: the volume id itself is what operators recognise (LIO does the same).
    serial: volumeId.slice(0, 64),
    uniqueId: digest.subarray(0, 16),
  };
}

function ms(v: number): number {
  return Math.round(v * 100) / 100;
}
