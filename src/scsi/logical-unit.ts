// A logical unit: a direct-access block device (SBC-3) with SPC-4 primary commands, over a BlockDevice.
import type { CommandInfo, UnitContext } from './command.js';
import { expectedDataOutLength, hasServiceActions, lookupCommand } from './command-table.js';
import type { BlockLimits } from './inquiry.js';
import { ModePages } from './mode-pages.js';
import { Op } from './opcodes.js';
import { QosLimiter, hasQosLimits, ioCost, type QosLimitSettings } from './qos-limits.js';
import { RangeLock } from './range-lock.js';
import { Reservations, type ReservationOptions } from './reservations.js';
import { Asc, ReservationConflict, ScsiError, SenseKey, checkCondition, invalidFieldInCdb, invalidOpcode } from './sense.js';
import { SamStatus, type BlockDevice, type LogicalUnit, type LogicalUnitIdentity, type ScsiCommand, type ScsiResult } from './types.js';
import { UnitAttentions } from './unit-attention.js';

export interface LogicalUnitOptions extends ReservationOptions {
  limits?: Partial<BlockLimits>;
  /** Called with unexpected handler failures (bugs, not SCSI errors) before they become HARDWARE ERROR. */
  onInternalError?: (err: unknown, cdb: Buffer) => void;
}

/** A LogicalUnit with the hooks a target needs beyond the transport contract. */
export interface BlockLogicalUnit extends LogicalUnit {
  readonly device: BlockDevice;
  /** Re-reads the device size; if it changed, every nexus gets CAPACITY DATA HAS CHANGED. */
  capacityChanged(): Promise<void>;
  /** The I_T nexus is gone (session closed): SPC-2 reservations through it are released. */
  nexusLost(nexus: string): void;
  /**
   * Makes the unit quiet for a point-in-time copy: new commands that write are held, writes in flight finish.
   * Resolves with the function that lets the held commands run. It does not flush: every write it acknowledged is
   * in the file then (the page cache included), and a copy sees the page cache (read) or writes it back first
   * (FICLONE); a caller that wants less to write back flushes the device before, while writes still run.
   */
  quiesce(): Promise<() => void>;
  /** Applies QoS limits to the unit's reads and writes at once (live sessions included); null lifts them. */
  setQosLimits(limits: QosLimitSettings | null): void;
}

export function defaultLimits(blockSize: number): BlockLimits {
  return {
    maxTransferBlocks: Math.floor((32 << 20) / blockSize),
    optimalTransferBlocks: Math.floor((1 << 20) / blockSize),
    maxCompareAndWriteBlocks: 255,
    maxUnmapBlocks: 0xffffffff,
    maxUnmapDescriptors: 256,
    maxWriteSameBlocks: Math.floor((1 << 30) / blockSize),
    unmapGranularityBlocks: Math.max(1, Math.floor(4096 / blockSize)),
    physicalBlockExponent: 0,
  };
}

export function createLogicalUnit(
  dev: BlockDevice,
  identity: LogicalUnitIdentity,
  opts: LogicalUnitOptions = {},
): BlockLogicalUnit {
  return new FileBackedLogicalUnit(dev, identity, opts);
}

/** Commands that neither report nor clear a pending unit attention (SAM-5 5.14). */
const UA_EXEMPT = new Set<number>([Op.INQUIRY, Op.REPORT_LUNS, Op.REQUEST_SENSE]);

class FileBackedLogicalUnit implements BlockLogicalUnit, UnitContext {
  readonly blockSize: number;
  readonly limits: BlockLimits;
  readonly locks = new RangeLock();
  blocks: number;
  readonly unitAttentions = new UnitAttentions();
  readonly reservations: Reservations;
  readonly modes = new ModePages();
  /** Commands that write and have not completed; quiesce() waits for them. */
  private writesInFlight = 0;
  private writesDrained: (() => void)[] = [];
  /** While quiesced: settles when the unit is released; writing commands wait for it. */
  private gate: Promise<void> | null = null;
  /** Null when the unit is unlimited: the data path then checks this one field and nothing else. */
  private qos: QosLimiter | null = null;

  constructor(
    readonly dev: BlockDevice,
    readonly identity: LogicalUnitIdentity,
    private readonly opts: LogicalUnitOptions,
  ) {
    this.blockSize = dev.blockSize;
    this.blocks = Math.floor(dev.size() / dev.blockSize);
    this.limits = { ...defaultLimits(dev.blockSize), ...opts.limits };
    this.reservations = new Reservations(this.unitAttentions, opts);
  }

  get device(): BlockDevice {
    return this.dev;
  }

  get writeCacheEnabled(): boolean {
    return this.modes.writeCacheEnabled;
  }

  get deviceReadOnly(): boolean {
    return this.dev.readOnly === true;
  }

  execute(cmd: ScsiCommand): ScsiResult | Promise<ScsiResult> {
    const info = lookupCommand(cmd.cdb);
    if (info?.access !== 'write') return this.run(cmd, info, false);
    // Held before anything else (unit attentions included), so a held command runs later exactly as it came.
    if (this.gate !== null) return this.gate.then(() => this.execute(cmd));
    this.writesInFlight++;
    return this.run(cmd, info, true);
  }

  private writeDone(): void {
    this.writesInFlight--;
    if (this.writesInFlight === 0) for (const w of this.writesDrained.splice(0)) w();
  }

  async quiesce(): Promise<() => void> {
    // One quiesce at a time: a second waits until the first releases.
    while (this.gate !== null) await this.gate;
    let open!: () => void;
    this.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const release = () => {
      this.gate = null;
      open();
    };
    if (this.writesInFlight > 0) await new Promise<void>((resolve) => this.writesDrained.push(resolve));
    return release;
  }

  /**
   * Runs a command once its entry is known. A write counted in writesInFlight is done when this returns a result,
   * or when the promise it returns settles: the count rides on the one chain an asynchronous command has anyway.
   */
  private run(cmd: ScsiCommand, info: CommandInfo | undefined, counted: boolean): ScsiResult | Promise<ScsiResult> {
    const op = cmd.cdb[0];
    let pending: Promise<ScsiResult> | undefined;
    // Not an async function: a command that did not wait returns its result as is, one that did returns the
    // device's promise chained once.
    try {
      this.unitAttentions.noteNexus(cmd.nexus);
      if (!UA_EXEMPT.has(op)) {
        const ua = this.unitAttentions.take(cmd.nexus);
        if (ua !== undefined) return checkCondition(SenseKey.UNIT_ATTENTION, ua);
      }
      if (info === undefined) throw hasServiceActions(op) ? invalidFieldInCdb(1, 4) : invalidOpcode();
      this.reservations.check(cmd.nexus, info.access, op);
      if (this.qos !== null) {
        const cost = ioCost(cmd.cdb, this.blockSize);
        const admitted = cost === undefined ? undefined : this.qos.admit(cost.write, cost.bytes);
        if (admitted !== undefined) {
          return (pending = admitted.then(
            () => this.runAdmitted(info, cmd, counted),
            (err: unknown) => {
              if (counted) this.writeDone();
              return this.failure(err, cmd);
            },
          ));
        }
      }
      const result = info.run(this, cmd);
      if (!(result instanceof Promise)) return result;
      pending = counted
        ? result.then(
            (r) => {
              this.writeDone();
              return r;
            },
            (err: unknown) => {
              this.writeDone();
              return this.failure(err, cmd);
            },
          )
        : result.catch((err: unknown) => this.failure(err, cmd));
      return pending;
    } catch (err) {
      return this.failure(err, cmd);
    } finally {
      if (counted && pending === undefined) this.writeDone();
    }
  }

  /** A command that waited for the QoS limiter runs now. */
  private async runAdmitted(info: CommandInfo, cmd: ScsiCommand, counted: boolean): Promise<ScsiResult> {
    try {
      return await info.run(this, cmd);
    } catch (err) {
      return this.failure(err, cmd);
    } finally {
      if (counted) this.writeDone();
    }
  }

  setQosLimits(limits: QosLimitSettings | null): void {
    if (!hasQosLimits(limits)) {
      const old = this.qos;
      this.qos = null;
      old?.releaseAll();
      return;
    }
    if (this.qos === null) this.qos = new QosLimiter(limits);
    else this.qos.configure(limits);
  }

  expectedDataOutLength(cdb: Buffer): number | undefined {
    return expectedDataOutLength(cdb, this.blockSize);
  }

  private failure(err: unknown, cmd: ScsiCommand): ScsiResult {
    if (err instanceof ScsiError) return err.toResult();
    if (err instanceof ReservationConflict) return { status: SamStatus.RESERVATION_CONFLICT };
    this.opts.onInternalError?.(err, cmd.cdb);
    return checkCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
  }

  reset(issuingNexus?: string): void {
    this.reservations.reset();
    this.unitAttentions.resetAll(Asc.BUS_DEVICE_RESET, issuingNexus);
  }

  nexusLost(nexus: string): void {
    this.reservations.nexusLost(nexus);
    this.unitAttentions.forget(nexus);
  }

  async capacityChanged(): Promise<void> {
    await this.dev.refreshSize?.();
    const blocks = Math.floor(this.dev.size() / this.blockSize);
    if (blocks === this.blocks) return;
    this.blocks = blocks;
    this.unitAttentions.raiseAll(Asc.CAPACITY_DATA_CHANGED);
  }

  async close(): Promise<void> {
    this.setQosLimits(null);
    await this.dev.close();
  }
}
