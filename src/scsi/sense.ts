// Fixed-format sense data (SPC-4 4.5.3) and the error type command handlers throw to produce it.
import { SamStatus, type ScsiResult } from './types.js';

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/** Additional sense code + qualifier, packed as (asc << 8) | ascq so one constant names both. */
export const Asc = {
  NO_ADDITIONAL_SENSE: 0x0000,
  PARAMETER_LIST_LENGTH_ERROR: 0x1a00,
  MISCOMPARE_DURING_VERIFY: 0x1d00,
  INVALID_OPCODE: 0x2000,
  LBA_OUT_OF_RANGE: 0x2100,
  INVALID_FIELD_IN_CDB: 0x2400,
  LU_NOT_SUPPORTED: 0x2500,
  INVALID_FIELD_IN_PARAMETER_LIST: 0x2600,
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: 0x2604,
  WRITE_PROTECTED: 0x2700,
  SPACE_ALLOCATION_FAILED_WRITE_PROTECT: 0x2707,
  POWER_ON_RESET: 0x2900,
  BUS_DEVICE_RESET: 0x2903,
  I_T_NEXUS_LOSS: 0x2907,
  MODE_PARAMETERS_CHANGED: 0x2a01,
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
  CAPACITY_DATA_CHANGED: 0x2a09,
  SAVING_PARAMETERS_NOT_SUPPORTED: 0x3900,
  WRITE_ERROR: 0x0c00,
  UNRECOVERED_READ_ERROR: 0x1100,
  INTERNAL_TARGET_FAILURE: 0x4400,
} as const;

export const FIXED_SENSE_LENGTH = 18;

export interface SenseOptions {
  /** INFORMATION field (e.g. offset of the first miscompare); sets the VALID bit. */
  information?: number;
  /** Sense-key specific field pointer into the CDB (cd=true) or parameter list, for ILLEGAL REQUEST. */
  fieldPointer?: { cd: boolean; byte: number; bit?: number };
}

export function buildSense(key: number, ascq: number, opts: SenseOptions = {}): Buffer {
  const s = Buffer.alloc(FIXED_SENSE_LENGTH);
  s[0] = 0x70;
  s[2] = key & 0x0f;
  if (opts.information !== undefined) {
    s[0] |= 0x80;
    s.writeUInt32BE(opts.information >>> 0, 3);
  }
  s[7] = FIXED_SENSE_LENGTH - 8;
  s[12] = (ascq >> 8) & 0xff;
  s[13] = ascq & 0xff;
  const fp = opts.fieldPointer;
  if (fp) {
    s[15] = 0x80 | (fp.cd ? 0x40 : 0) | (fp.bit !== undefined ? 0x08 | (fp.bit & 0x07) : 0);
    s.writeUInt16BE(fp.byte, 16);
  }
  return s;
}

/** Thrown by command handlers; the logical unit turns it into CHECK CONDITION with this sense. */
export class ScsiError extends Error {
  constructor(
    readonly key: number,
    readonly ascq: number,
    readonly opts: SenseOptions = {},
  ) {
    super(`sense key ${key.toString(16)} asc/ascq ${ascq.toString(16).padStart(4, '0')}`);
  }

  toResult(): ScsiResult {
    return checkCondition(this.key, this.ascq, this.opts);
  }
}

export function checkCondition(key: number, ascq: number, opts?: SenseOptions): ScsiResult {
  return { status: SamStatus.CHECK_CONDITION, sense: buildSense(key, ascq, opts) };
}

export const invalidFieldInCdb = (byte?: number, bit?: number): ScsiError =>
  new ScsiError(
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_CDB,
    byte === undefined ? {} : { fieldPointer: { cd: true, byte, bit } },
  );

export const invalidFieldInParameterList = (byte?: number, bit?: number): ScsiError =>
  new ScsiError(
    SenseKey.ILLEGAL_REQUEST,
    Asc.INVALID_FIELD_IN_PARAMETER_LIST,
    byte === undefined ? {} : { fieldPointer: { cd: false, byte, bit } },
  );

export const lbaOutOfRange = (): ScsiError => new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
export const invalidOpcode = (): ScsiError =>
  new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_OPCODE, { fieldPointer: { cd: true, byte: 0 } });
export const parameterListLengthError = (): ScsiError =>
  new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
export const writeProtected = (): ScsiError => new ScsiError(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);

/** Thrown for RESERVATION CONFLICT, which is a status with no sense data. */
export class ReservationConflict extends Error {
  constructor() {
    super('reservation conflict');
  }
}

export const good = (): ScsiResult => ({ status: SamStatus.GOOD });

/** Data-In trimmed to the CDB's allocation length; the transport trims further to its expected length. */
export function dataIn(data: Buffer, allocationLength: number): ScsiResult {
  return { status: SamStatus.GOOD, data: data.length > allocationLength ? data.subarray(0, allocationLength) : data };
}
