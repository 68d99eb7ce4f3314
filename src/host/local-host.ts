// The local volume host (Cinder's volume manager + LVM-style driver glue): it runs where the bytes are,
// turns the workflow's coarse calls into backend and target-driver steps, and builds Cinder's
// provider_location / provider_auth / connection_info shapes from what the drivers made.
import { performance } from 'node:perf_hooks';
import type {
  AccessMode,
  AclEntry,
  Backend,
  CopySource,
  Connector,
  HostCapacity,
  HostConnection,
  HostLifecycle,
  GroupSnapshotMember,
  StagedCopy,
  TargetDriver,
  VolumeCopy,
  VolumeHost,
  VolumeRef,
} from './types.js';
import { HostError } from './types.js';
import type { Logger } from '../log.js';
import { generateChapCredentials } from '../util/chap.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import { formatProviderAuth, formatProviderLocation, normalizePortal, parseProviderAuth } from './provider.js';
import { connectionData } from './connection-data.js';

export const GiB = 1024 ** 3;

export interface VolumeHostOptions {
  backend: Backend;
  target: TargetDriver;
  logger: Logger;
  hostName: string;
  /** Portals advertised to initiators, "ip:port" (first = target_portal). Defaults to the driver's. */
  portals: string[];
}

export function createVolumeHost(opts: VolumeHostOptions): VolumeHost & HostLifecycle {
  return new LocalVolumeHost(opts);
}

class LocalVolumeHost implements VolumeHost, HostLifecycle {
  readonly hostName: string;
  private readonly backend: Backend;
  private readonly target: TargetDriver;
  private readonly log: Logger;
  private readonly portals: string[];
  /**
   * One volume's calls run one after the other: connect and disconnect are several driver steps (and a
   * rollback) that must not interleave with another call for the same volume. The drivers rely on it.
   */
  private readonly queue = new KeyedQueue();
  readonly busyPollStats?: HostLifecycle['busyPollStats'];
  readonly qosSupport: boolean;

  constructor(opts: VolumeHostOptions) {
    this.hostName = opts.hostName;
    this.backend = opts.backend;
    this.target = opts.target;
    this.log = opts.logger.child({ component: 'volume-host', host: opts.hostName });
    this.portals = opts.portals.map(normalizePortal);
    const target = opts.target;
    if (target.busyPollStats) this.busyPollStats = () => target.busyPollStats!();
    this.qosSupport = typeof target.setQos === 'function';
  }

  async capacity(): Promise<HostCapacity & { backendName: string }> {
    const c = this.backend.capacity ? await this.backend.capacity() : { totalBytes: 0, freeBytes: 0 };
    return { ...c, backendName: this.backend.name };
  }

  async start(): Promise<void> {
    const copyMethod = await this.backend.prepare();
    await this.target.start();
    this.log.info({ backend: this.backend.name, target: this.target.name, copyMethod }, 'volume host started');
  }

  async stop(): Promise<void> {
    await this.target.stop();
  }

  createVolume(volumeId: string, sizeGiB: number): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.backend.create(volumeId, toBytes(sizeGiB));
      this.log.info({ volumeId, sizeGiB }, 'volume created');
    });
  }

  /** Removes the export first: deleting a file that tgtd still has open would keep the bytes alive. */
  deleteVolume(volumeId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.target.removeExport(volumeId);
      await this.backend.delete(volumeId);
      this.log.info({ volumeId }, 'volume deleted');
    });
  }

  extendVolume(volumeId: string, newSizeGiB: number): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.backend.extend(volumeId, toBytes(newSizeGiB));
      if (this.target.resized) await this.target.resized(volumeId);
      this.log.info({ volumeId, newSizeGiB }, 'volume extended');
    });
  }

  connect(volume: VolumeRef, connector: Connector & { initiator: string }, mode: AccessMode): Promise<HostConnection> {
    return this.serial(volume.id, async () => {
      const existed = (await this.target.listExports()).includes(volume.id);
      const made = await this.export(volume);
      try {
        await this.target.allowInitiator(volume.id, connector.initiator, mode);
      } catch (err) {
        // Undo only what this call made: an export that was there before still serves other initiators.
        if (!existed) await this.target.removeExport(volume.id).catch((e) => this.log.error({ err: e, volumeId: volume.id }, 'rollback of a new export failed'));
        throw new HostError('backend', `volume ${volume.id}: the target refused initiator ${connector.initiator}`, { cause: err });
      }
      await this.applyQos(volume);
      this.log.info({ volumeId: volume.id, initiator: connector.initiator, mode }, 'initiator allowed');
      const ref = { ...volume, ...made };
      return { ...made, data: connectionData(ref, Boolean(connector.multipath)) };
    });
  }

  disconnect(volume: VolumeRef, initiator: string | null, opts: { dropExport: boolean }): Promise<void> {
    return this.serial(volume.id, async () => {
      if (opts.dropExport) {
        // Removing the target drops every session and ACL entry with it.
        await this.target.removeExport(volume.id);
        this.log.info({ volumeId: volume.id }, 'export removed');
      } else if (initiator !== null) {
        await this.target.denyInitiator(volume.id, initiator);
        this.log.info({ volumeId: volume.id, initiator }, 'initiator denied');
      }
    });
  }

  syncExport(volume: VolumeRef, acl: AclEntry[]): Promise<void> {
    return this.serial(volume.id, async () => {
      // Recreating with fresh CHAP would lock out every attached host, whose credentials came from the DB.
      if (!parseProviderAuth(volume.providerAuth)) {
        throw new HostError('no-credentials', `volume ${volume.id} has no CHAP credentials in provider_auth; cannot restore its export`);
      }
      const made = await this.export(volume);
      if (volume.providerLocation && made.providerLocation !== volume.providerLocation) {
        // Initiators address the target by portal + IQN + LUN, which stay the same; only the tid slot moved.
        this.log.warn({ volumeId: volume.id }, 'export restored with a different provider_location');
      }
      await this.applyQos(volume);
      for (const { initiator, mode } of acl) {
        if (mode === null) await this.target.denyInitiator(volume.id, initiator);
        else await this.target.allowInitiator(volume.id, initiator, mode);
      }
      this.log.info({ volumeId: volume.id, initiators: acl.length }, 'export in sync');
    });
  }

  /**
   * The copy runs on the volume's queue (no extend, revert or delete in between) and, with a target that can,
   * inside its quiesce window: every write acknowledged before is in the snapshot, none accepted after.
   */
  createSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      try {
        await this.copyAtOnePoint([{ liveSource: volumeId, stage: () => this.backend.stageSnapshot(volumeId, snapshotId) }], { volumeId, snapshotId });
      } catch (err) {
        await this.backend.deleteSnapshot(snapshotId).catch((e) => this.log.error({ err: e, snapshotId }, 'rollback of a snapshot failed'));
        throw new HostError(isMissing(err) ? 'not-found' : 'backend', `snapshot ${snapshotId} of volume ${volumeId} failed: ${messageOf(err)}`, { cause: err });
      }
      this.log.info({ volumeId, snapshotId }, 'snapshot created');
    });
  }

  /**
   * Every member volume's queue is held (in id order, so two group calls cannot wait on each other) and, with a
   * target that can, every member's logical unit is quiesced together while the copies are made.
   */
  createGroupSnapshot(members: GroupSnapshotMember[]): Promise<void> {
    const volumeIds = [...new Set(members.map((m) => m.volumeId))];
    return this.serialAll(volumeIds, async () => {
      const discard = () =>
        Promise.all(members.map((m) => this.backend.deleteSnapshot(m.snapshotId).catch((e) => this.log.error({ err: e, snapshotId: m.snapshotId }, 'rollback of a group snapshot member failed'))));
      // Members left by an interrupted run were taken at another moment: the group is taken anew, all at once.
      await discard();
      try {
        const items = members.map((m) => ({ liveSource: m.volumeId, stage: () => this.backend.stageSnapshot(m.volumeId, m.snapshotId) }));
        await this.copyAtOnePoint(items, { volumeIds });
      } catch (err) {
        await discard();
        throw new HostError(isMissing(err) ? 'not-found' : 'backend', `group snapshot of volumes ${volumeIds.join(', ')} failed: ${messageOf(err)}`, { cause: err });
      }
      this.log.info({ volumeIds, snapshotIds: members.map((m) => m.snapshotId) }, 'group snapshot created');
    });
  }

  /** The new volumes' and the volume sources' queues are held; the volume sources are quiesced together. */
  createVolumesFrom(copies: VolumeCopy[]): Promise<void> {
    const sources = [...new Set(copies.filter((c) => c.source.kind === 'volume').map((c) => c.source.id))];
    const targets = copies.map((c) => c.volumeId);
    return this.serialAll([...new Set([...targets, ...sources])], async () => {
      const discard = () =>
        Promise.all(targets.map((id) => this.backend.delete(id).catch((e) => this.log.error({ err: e, volumeId: id }, 'rollback of a group copy failed'))));
      // Copies left by an interrupted run were made at another moment: all are made anew, together.
      await discard();
      try {
        const items = copies.map((c) => ({
          liveSource: c.source.kind === 'volume' ? c.source.id : null,
          stage: () => this.backend.stageFrom(c.volumeId, c.source, toBytes(c.sizeGiB)),
        }));
        await this.copyAtOnePoint(items, { volumeIds: targets });
      } catch (err) {
        await discard();
        throw new HostError(isMissing(err) ? 'not-found' : 'backend', `volumes ${targets.join(', ')} from their sources failed: ${messageOf(err)}`, { cause: err });
      }
      this.log.info({ copies }, 'volumes created from copies, together');
    });
  }

  deleteSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.backend.deleteSnapshot(snapshotId);
      this.log.info({ volumeId, snapshotId }, 'snapshot deleted');
    });
  }

  createVolumeFrom(volumeId: string, source: CopySource, sizeGiB: number): Promise<void> {
    const bytes = toBytes(sizeGiB);
    const stage = () => this.backend.stageFrom(volumeId, source, bytes);
    return this.serial(volumeId, async () => {
      try {
        // A clone of a live volume is a snapshot too: it goes through the source's queue and quiesce window.
        if (source.kind === 'volume') {
          await this.serial(source.id, () => this.copyAtOnePoint([{ liveSource: source.id, stage }], { volumeId }));
        } else {
          await (await stage()).commit();
        }
      } catch (err) {
        throw new HostError(isMissing(err) ? 'not-found' : 'backend', `volume ${volumeId} from ${source.kind} ${source.id} failed: ${messageOf(err)}`, { cause: err });
      }
      this.log.info({ volumeId, source, sizeGiB }, 'volume created from a copy');
    });
  }

  revertToSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      try {
        await this.backend.revert(volumeId, snapshotId);
      } catch (err) {
        throw new HostError('backend', `revert of volume ${volumeId} to snapshot ${snapshotId} failed: ${messageOf(err)}`, { cause: err });
      }
      this.log.info({ volumeId, snapshotId }, 'volume reverted');
    });
  }

  listBackingSnapshots(): Promise<string[]> {
    return this.backend.listSnapshots();
  }

  copyMethod(): Promise<string> {
    return this.backend.copyMethod();
  }

  listExports(): Promise<string[]> {
    return this.target.listExports();
  }

  setQos(volume: VolumeRef): Promise<void> {
    return this.serial(volume.id, async () => {
      if (!(await this.target.listExports()).includes(volume.id)) return;
      await this.applyQos(volume);
    });
  }

  /** The target enforces what it can; tgt cannot (its capabilities say QoS_support false). */
  private async applyQos(volume: VolumeRef): Promise<void> {
    if (volume.qos === undefined || !this.target.setQos) return;
    await this.target.setQos(volume.id, volume.qos);
    this.log.info({ volumeId: volume.id, qos: volume.qos }, volume.qos ? 'QoS limits applied' : 'QoS limits lifted');
  }

  listBackingVolumes(): Promise<string[]> {
    return this.backend.list();
  }

  /** create_export: idempotent; reuses the CHAP credentials of providerAuth (the workflow claims them first). */
  private async export(volume: VolumeRef): Promise<{ providerLocation: string; providerAuth: string }> {
    if (!(await this.backend.exists(volume.id))) {
      throw new HostError('not-found', `volume ${volume.id} has no backing storage on host ${this.hostName}`);
    }
    const chap = parseProviderAuth(volume.providerAuth) ?? generateChapCredentials();
    const made = await this.target.createExport(volume.id, this.backend.devicePath(volume.id), chap);
    const portals = this.portals.length > 0 ? this.portals : made.portals.map(normalizePortal);
    return {
      providerLocation: formatProviderLocation({ portals, tid: made.tid, iqn: made.iqn, lun: made.lun }),
      providerAuth: formatProviderAuth(chap),
    };
  }

  /**
   * Makes the copies at one point in time: with a target that can quiesce, inside the quiesce window of the live
   * volumes they copy (liveSource), then commits them after it. Writes wait only for what fixes the copies' content,
   * not for making them durable (issue 12: the target holds writes "for as short a time as possible"); the caller's
   * rows change only after the commits.
   */
  private async copyAtOnePoint(items: PointInTimeCopy[], subject: object): Promise<void> {
    const live = [...new Set(items.flatMap((i) => i.liveSource ?? []))];
    const t0 = performance.now();
    let staged: StagedCopy[];
    let besideWrites = false;
    if (live.length === 0 || !this.target.quiesced) {
      staged = await stageAll(items);
    } else if (this.target.trackChanges && (await this.backend.copyMethod()) === 'sparse-copy') {
      besideWrites = true;
      staged = await this.copyBesideWrites(items, live);
    } else {
      // A reflink takes milliseconds, plus what the clone costs per extent, during which the filesystem holds the
      // file's writes anyway: it is made inside the window.
      staged = await this.target.quiesced(live, () => stageAll(items));
    }
    const t1 = performance.now();
    await commitAll(staged);
    const t2 = performance.now();
    // takeMs: making the copies, pre-flush and quiesce window included (the target logs the window alone).
    this.log.debug({ ...subject, besideWrites, takeMs: roundMs(t1 - t0), commitMs: roundMs(t2 - t1) }, 'point-in-time copy');
  }

  /**
   * A sparse copy costs seconds per GiB of data, far too long to hold writes for. So it is made while writes run and
   * the target notes the ranges they change; those are copied again, still beside the writes, and only what changed
   * during that second pass is copied inside the quiesce window. Every acknowledged write is then in the copy: each
   * one completed either before the range was read or after, and then its range was copied again.
   */
  private async copyBesideWrites(items: PointInTimeCopy[], live: string[]): Promise<StagedCopy[]> {
    const tracker = this.target.trackChanges!(live);
    try {
      const staged = await stageAll(items);
      try {
        const catchUp = async () => {
          const changed = new Map(live.map((id) => [id, tracker.take(id)]));
          for (const [k, copy] of staged.entries()) {
            const source = items[k]!.liveSource;
            if (source !== null && copy.catchUp) await copy.catchUp(changed.get(source)!);
          }
        };
        await catchUp();
        await this.target.quiesced!(live, catchUp);
        return staged;
      } catch (err) {
        await Promise.allSettled(staged.map((c) => c.discard()));
        throw err;
      }
    } finally {
      tracker.stop();
    }
  }

  private serial<T>(volumeId: string, task: () => Promise<T>): Promise<T> {
    return this.queue.run(volumeId, task);
  }

  /** Runs `task` holding the queues of all `volumeIds`, taken in sorted order so that no two callers deadlock. */
  private serialAll<T>(volumeIds: string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...volumeIds].sort();
    const run = (i: number): Promise<T> => (i === sorted.length ? task() : this.serial(sorted[i], () => run(i + 1)));
    return run(0);
  }
}

/** One copy of an operation made at one point in time; liveSource: the volume it copies, null for a snapshot. */
interface PointInTimeCopy {
  liveSource: string | null;
  stage: () => Promise<StagedCopy>;
}

/** Stages the copies in order; when one fails, those staged before it are discarded. */
async function stageAll(items: PointInTimeCopy[]): Promise<StagedCopy[]> {
  const staged: StagedCopy[] = [];
  try {
    for (const { stage } of items) staged.push(await stage());
    return staged;
  } catch (err) {
    await Promise.allSettled(staged.map((c) => c.discard()));
    throw err;
  }
}

/** Commits the copies in order; when one fails, those not committed yet are discarded. */
async function commitAll(staged: StagedCopy[]): Promise<void> {
  for (let i = 0; i < staged.length; i++) {
    try {
      await staged[i]!.commit();
    } catch (err) {
      await Promise.allSettled(staged.slice(i + 1).map((c) => c.discard()));
      throw err;
    }
  }
}

function roundMs(v: number): number {
  return Math.round(v * 100) / 100;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A backend error that says the file the call needed is not there. */
function isMissing(err: unknown): boolean {
  return (err as { missing?: unknown } | null)?.missing === true;
}

function toBytes(sizeGiB: number): number {
  if (!Number.isInteger(sizeGiB) || sizeGiB <= 0) throw new HostError('invalid', `size must be a positive integer number of GiB, got ${sizeGiB}`);
  return sizeGiB * GiB;
}
