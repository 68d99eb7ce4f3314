// A logical unit: a direct-access block device (SBC-3) with SPC-4 primary commands, over a BlockDevice.
import * as sbc from './block-commands.js';
import type { BlockContext } from './block-commands.js';
import { range10, range12, range16, range6 } from './cdb.js';
import { hasServiceActions, lookupCommand } from './command-table.js';
import { inquiry, type BlockLimits } from './inquiry.js';
import { reportSupportedOperationCodes, reportSupportedTaskManagementFunctions } from './maintenance-in.js';
import { ModePages } from './mode-pages.js';
import { MaintenanceIn, Op, ServiceActionIn16 } from './opcodes.js';
import { RangeLock } from './range-lock.js';
import { Reservations, type ReservationOptions } from './reservations.js';
import { reportLunsData } from './report-luns.js';
import {
  Asc,
  ReservationConflict,
  ScsiError,
  SenseKey,
  buildSense,
  checkCondition,
  dataIn,
  good,
  invalidFieldInCdb,
  invalidOpcode,
} from './sense.js';
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

class FileBackedLogicalUnit implements BlockLogicalUnit, BlockContext {
  readonly blockSize: number;
  readonly limits: BlockLimits;
  readonly locks = new RangeLock();
  blocks: number;
  private readonly ua = new UnitAttentions();
  private readonly reservations: Reservations;
  private readonly modes = new ModePages();

  constructor(
    readonly dev: BlockDevice,
    readonly identity: LogicalUnitIdentity,
    private readonly opts: LogicalUnitOptions,
  ) {
    this.blockSize = dev.blockSize;
    this.blocks = Math.floor(dev.size() / dev.blockSize);
    this.limits = { ...defaultLimits(dev.blockSize), ...opts.limits };
    this.reservations = new Reservations(this.ua, opts);
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
    const op = cmd.cdb[0];
    this.ua.noteNexus(cmd.nexus);
    if (!UA_EXEMPT.has(op)) {
      const pending = this.ua.take(cmd.nexus);
      if (pending !== undefined) return checkCondition(SenseKey.UNIT_ATTENTION, pending);
    }
    // Not an async function: a command that did not wait returns its result as is, one that did returns the
    // device's promise chained once.
    try {
      const info = lookupCommand(cmd.cdb);
      if (info === undefined) throw hasServiceActions(op) ? invalidFieldInCdb(1, 4) : invalidOpcode();
      this.reservations.check(cmd.nexus, info.access, op);
      const result = this.dispatch(cmd);
      if (result instanceof Promise) return result.catch((err: unknown) => this.failure(err, cmd));
      return result;
    } catch (err) {
      return this.failure(err, cmd);
    }
  }

  private failure(err: unknown, cmd: ScsiCommand): ScsiResult {
    if (err instanceof ScsiError) return err.toResult();
    if (err instanceof ReservationConflict) return { status: SamStatus.RESERVATION_CONFLICT };
    this.opts.onInternalError?.(err, cmd.cdb);
    return checkCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
  }

  private dispatch(cmd: ScsiCommand): Promise<ScsiResult> | ScsiResult {
    const cdb = cmd.cdb;
    switch (cdb[0]) {
      // The data path first.
      case Op.READ_10:
        return sbc.read(this, cdb, range10(cdb), true);
      case Op.WRITE_10:
        return sbc.write(this, cmd, range10(cdb), { hasFlags: true });
      case Op.READ_16:
        return sbc.read(this, cdb, range16(cdb), true);
      case Op.WRITE_16:
        return sbc.write(this, cmd, range16(cdb), { hasFlags: true });
      case Op.READ_6:
        return sbc.read(this, cdb, range6(cdb), false);
      case Op.WRITE_6:
        return sbc.write(this, cmd, range6(cdb), { hasFlags: false });
      case Op.READ_12:
        return sbc.read(this, cdb, range12(cdb), true);
      case Op.WRITE_12:
        return sbc.write(this, cmd, range12(cdb), { hasFlags: true });
      case Op.WRITE_AND_VERIFY_10:
        return sbc.write(this, cmd, range10(cdb), { hasFlags: true, forceFua: true });
      case Op.WRITE_AND_VERIFY_12:
        return sbc.write(this, cmd, range12(cdb), { hasFlags: true, forceFua: true });
      case Op.WRITE_AND_VERIFY_16:
        return sbc.write(this, cmd, range16(cdb), { hasFlags: true, forceFua: true });
      case Op.VERIFY_10:
        return sbc.verify(this, cmd, range10(cdb));
      case Op.VERIFY_12:
        return sbc.verify(this, cmd, range12(cdb));
      case Op.VERIFY_16:
        return sbc.verify(this, cmd, range16(cdb));
      case Op.SYNCHRONIZE_CACHE_10:
        return sbc.synchronizeCache(this, range10(cdb));
      case Op.SYNCHRONIZE_CACHE_16:
        return sbc.synchronizeCache(this, range16(cdb));
      case Op.PRE_FETCH_10:
        return sbc.preFetch(this, cdb, range10(cdb));
      case Op.PRE_FETCH_16:
        return sbc.preFetch(this, cdb, range16(cdb));
      case Op.WRITE_SAME_10:
        return sbc.writeSame(this, cmd, range10(cdb), false);
      case Op.WRITE_SAME_16:
        return sbc.writeSame(this, cmd, range16(cdb), true);
      case Op.UNMAP:
        return sbc.unmap(this, cmd);
      case Op.COMPARE_AND_WRITE:
        return sbc.compareAndWrite(this, cmd);
      case Op.ORWRITE_16:
        return sbc.orWrite(this, cmd, range16(cdb));
      case Op.READ_DEFECT_DATA_10:
      case Op.READ_DEFECT_DATA_12:
        return sbc.readDefectData(cdb);
      case Op.READ_CAPACITY_10:
        return sbc.readCapacity10(this, cdb);
      case Op.SERVICE_ACTION_IN_16:
        return (cdb[1] & 0x1f) === ServiceActionIn16.READ_CAPACITY_16
          ? sbc.readCapacity16(this, cdb)
          : sbc.getLbaStatus(this, cdb);

      case Op.TEST_UNIT_READY:
        return good();
      case Op.INQUIRY:
        return inquiry(cdb, this);
      case Op.REQUEST_SENSE:
        return this.requestSense(cmd);
      case Op.REPORT_LUNS:
        // Normally answered by the target, which knows every LUN; standing alone we are LUN 0.
        return reportLunsData(cdb, [0]);
      case Op.MODE_SENSE_6:
      case Op.MODE_SENSE_10:
        return this.modes.sense(cdb, {
          blockSize: this.blockSize,
          blocks: this.blocks,
          writeProtected: cmd.readOnly || this.deviceReadOnly,
        });
      case Op.MODE_SELECT_6:
      case Op.MODE_SELECT_10: {
        const { result, changed } = this.modes.select(cdb, cmd.dataOut, this.blockSize);
        if (changed) this.ua.raiseAll(Asc.MODE_PARAMETERS_CHANGED, cmd.nexus);
        return result;
      }
      case Op.START_STOP_UNIT:
        return this.startStopUnit(cmd);
      case Op.RESERVE_6:
      case Op.RESERVE_10:
        return this.reservations.reserveLegacy(cmd);
      case Op.RELEASE_6:
      case Op.RELEASE_10:
        return this.reservations.releaseLegacy(cmd);
      case Op.PERSISTENT_RESERVE_IN:
        return this.reservations.reserveIn(cmd);
      case Op.PERSISTENT_RESERVE_OUT:
        return this.reservations.reserveOut(cmd);
      case Op.MAINTENANCE_IN:
        return (cdb[1] & 0x1f) === MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES
          ? reportSupportedOperationCodes(cdb)
          : reportSupportedTaskManagementFunctions(cdb);
      default:
        throw invalidOpcode();
    }
  }

  private requestSense(cmd: ScsiCommand): ScsiResult {
    if (cmd.cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // descriptor format is not implemented
    const pending = this.ua.take(cmd.nexus);
    const sense =
      pending !== undefined
        ? buildSense(SenseKey.UNIT_ATTENTION, pending)
        : buildSense(SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE);
    return dataIn(sense, cmd.cdb[4]);
  }

  private async startStopUnit(cmd: ScsiCommand): Promise<ScsiResult> {
    const cdb = cmd.cdb;
    const powerCondition = cdb[4] >> 4;
    const loej = (cdb[4] & 0x02) !== 0;
    const start = (cdb[4] & 0x01) !== 0;
    // Non-removable: there is no medium to eject, and a stopped file is the same file. A stop with
    // flush semantics (NO_FLUSH clear) still pushes cached writes to stable storage.
    if (loej && !start) return good();
    if (powerCondition === 0 && !start && !(cdb[4] & 0x04)) await this.dev.flush();
    return good();
  }

  reset(issuingNexus?: string): void {
    this.reservations.reset();
    this.ua.resetAll(Asc.BUS_DEVICE_RESET, issuingNexus);
  }

  nexusLost(nexus: string): void {
    this.reservations.nexusLost(nexus);
    this.ua.forget(nexus);
  }

  async capacityChanged(): Promise<void> {
    await this.dev.refreshSize?.();
    const blocks = Math.floor(this.dev.size() / this.blockSize);
    if (blocks === this.blocks) return;
    this.blocks = blocks;
    this.ua.raiseAll(Asc.CAPACITY_DATA_CHANGED);
  }

  async close(): Promise<void> {
    await this.dev.close();
  }
}
