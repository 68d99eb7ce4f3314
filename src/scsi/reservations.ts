// Persistent reservations (SPC-4 5.12) and the older RESERVE/RELEASE (SPC-2), one state per logical unit.
import { PrIn, PrOut } from './opcodes.js';
import {
  Asc,
  ReservationConflict,
  ScsiError,
  SenseKey,
  dataIn,
  good,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  parameterListLengthError,
} from './sense.js';
import type { ScsiCommand, ScsiResult } from './types.js';
import type { UnitAttentions } from './unit-attention.js';

/** How a command interacts with reservations (SPC-4 table 61, condensed). */
export type AccessClass = 'always' | 'read' | 'write';

export const PrType = {
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 8,
} as const;

const VALID_TYPES = new Set<number>(Object.values(PrType));
const isAllRegistrants = (t: number): boolean =>
  t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
const isRegistrantsType = (t: number): boolean => t >= 5 && t <= 8;
const isExclusiveAccess = (t: number): boolean =>
  t === PrType.EXCLUSIVE_ACCESS ||
  t === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY ||
  t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;

interface Reservation {
  /** The reserving nexus; for all-registrants types every registrant holds it and this is informational. */
  holder: string;
  type: number;
}

export interface ReservationOptions {
  /** TransportID (SPC-4 7.6.4) naming the nexus's initiator port, for READ FULL STATUS. */
  transportId?: (nexus: string) => Buffer;
}

/**
 * Default TransportID: iSCSI format 01b (name + ",i,0x" + ISID) built from the nexus string, which is what
 * the contract in types.ts says a nexus looks like. Transports with other nexus shapes pass their own.
 */
export function defaultTransportId(nexus: string): Buffer {
  const name = Buffer.from(nexus, 'utf8');
  const padded = Math.max(20, (name.length + 1 + 3) & ~3); // null terminator, multiple of 4
  const id = Buffer.alloc(4 + padded);
  id[0] = 0x40 | 0x05; // format 01b, protocol identifier 5 (iSCSI)
  id.writeUInt16BE(padded, 2);
  name.copy(id, 4);
  return id;
}

export class Reservations {
  private readonly registrations = new Map<string, bigint>();
  private reservation: Reservation | undefined;
  private generation = 0;
  /** SPC-2 RESERVE(6/10) holder. */
  private legacyHolder: string | undefined;
  private readonly transportId: (nexus: string) => Buffer;

  constructor(
    private readonly ua: UnitAttentions,
    opts: ReservationOptions = {},
  ) {
    this.transportId = opts.transportId ?? defaultTransportId;
  }

  /** Throws ReservationConflict if `nexus` may not run a command of this class now. */
  check(nexus: string, access: AccessClass, opcode: number): void {
    if (this.legacyHolder !== undefined && this.legacyHolder !== nexus) {
      // SPC-2: everything conflicts except the few commands an initiator needs to find out what is going on.
      if (!LEGACY_ALLOWED.has(opcode)) throw new ReservationConflict();
      return;
    }
    const r = this.reservation;
    if (r === undefined || access === 'always') return;
    if (this.isHolder(nexus) || (isRegistrantsType(r.type) && this.registrations.has(nexus))) return;
    if (access === 'write' || isExclusiveAccess(r.type)) throw new ReservationConflict();
  }

  private isHolder(nexus: string): boolean {
    const r = this.reservation;
    if (r === undefined) return false;
    if (isAllRegistrants(r.type)) return this.registrations.has(nexus);
    return r.holder === nexus;
  }

  /** LOGICAL UNIT RESET / target reset: SPC-2 reservations go, persistent ones stay (SPC-4 5.12.1). */
  reset(): void {
    this.legacyHolder = undefined;
  }

  /** I_T nexus loss releases an SPC-2 reservation held through that nexus. */
  nexusLost(nexus: string): void {
    if (this.legacyHolder === nexus) this.legacyHolder = undefined;
  }

  // ---- RESERVE / RELEASE (6/10) ----

  reserveLegacy(cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    // Third-party and extent reservations are long obsolete; refuse them explicitly.
    if (cdb[0] === 0x56 && cdb[1] & 0x10) throw invalidFieldInCdb(1, 4);
    if (cdb[0] === 0x16 && cdb[1] & 0x01) throw invalidFieldInCdb(1, 0);
    if (this.reservation !== undefined) throw new ReservationConflict();
    if (this.legacyHolder !== undefined && this.legacyHolder !== cmd.nexus) throw new ReservationConflict();
    this.legacyHolder = cmd.nexus;
    return good();
  }

  releaseLegacy(cmd: ScsiCommand): ScsiResult {
    if (this.legacyHolder === cmd.nexus) this.legacyHolder = undefined;
    return good();
  }

  // ---- PERSISTENT RESERVE IN ----

  reserveIn(cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    const alloc = cdb.readUInt16BE(7);
    switch (cdb[1] & 0x1f) {
      case PrIn.READ_KEYS:
        return dataIn(this.readKeys(), alloc);
      case PrIn.READ_RESERVATION:
        return dataIn(this.readReservation(), alloc);
      case PrIn.REPORT_CAPABILITIES:
        return dataIn(reportCapabilities(), alloc);
      case PrIn.READ_FULL_STATUS:
        return dataIn(this.readFullStatus(), alloc);
      default:
        throw invalidFieldInCdb(1, 0);
    }
  }

  private readKeys(): Buffer {
    const keys = [...this.registrations.values()];
    const b = Buffer.alloc(8 + 8 * keys.length);
    b.writeUInt32BE(this.generation, 0);
    b.writeUInt32BE(8 * keys.length, 4);
    keys.forEach((k, i) => b.writeBigUInt64BE(k, 8 + 8 * i));
    return b;
  }

  private readReservation(): Buffer {
    const r = this.reservation;
    const b = Buffer.alloc(r ? 24 : 8);
    b.writeUInt32BE(this.generation, 0);
    if (r) {
      b.writeUInt32BE(16, 4);
      // For all-registrants types the reservation key is reported as zero (SPC-4 6.15.3.2).
      const key = isAllRegistrants(r.type) ? 0n : (this.registrations.get(r.holder) ?? 0n);
      b.writeBigUInt64BE(key, 8);
      b[21] = r.type & 0x0f; // scope 0 (LU_SCOPE)
    }
    return b;
  }

  private readFullStatus(): Buffer {
    const parts: Buffer[] = [];
    for (const [nexus, key] of this.registrations) {
      const tid = this.transportId(nexus);
      const d = Buffer.alloc(24 + tid.length);
      d.writeBigUInt64BE(key, 0);
      if (this.isHolder(nexus)) {
        d[12] = 0x01; // R_HOLDER
        d[13] = this.reservation!.type & 0x0f;
      }
      d.writeUInt16BE(1, 18); // relative target port identifier: one port
      d.writeUInt32BE(tid.length, 20);
      tid.copy(d, 24);
      parts.push(d);
    }
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(this.generation, 0);
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  }

  // ---- PERSISTENT RESERVE OUT ----

  reserveOut(cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    const action = cdb[1] & 0x1f;
    const scope = cdb[2] >> 4;
    const type = cdb[2] & 0x0f;
    const listLength = cdb.readUInt32BE(5);
    if (action > PrOut.REGISTER_AND_IGNORE_EXISTING_KEY) throw invalidFieldInCdb(1, 0);
    if (this.legacyHolder !== undefined && this.legacyHolder !== cmd.nexus) throw new ReservationConflict();
    // Without SPEC_I_PT the basic parameter list is exactly 24 bytes (SPC-4 6.16.3).
    if (listLength !== 24) throw parameterListLengthError();
    const p = cmd.dataOut;
    if (p === undefined || p.length < 24) throw parameterListLengthError();
    const key = p.readBigUInt64BE(0);
    const saKey = p.readBigUInt64BE(8);
    const flags = p[20];
    if (flags & 0x08) throw invalidFieldInParameterList(20, 3); // SPEC_I_PT: not supported
    if (flags & 0x04) throw invalidFieldInParameterList(20, 2); // ALL_TG_PT: not supported
    if (flags & 0x01) throw invalidFieldInParameterList(20, 0); // APTPL: state is not kept across power loss
    const nexus = cmd.nexus;

    if (action === PrOut.REGISTER || action === PrOut.REGISTER_AND_IGNORE_EXISTING_KEY) {
      return this.register(nexus, key, saKey, action === PrOut.REGISTER_AND_IGNORE_EXISTING_KEY);
    }
    // Every other action needs a registration whose key matches.
    const mine = this.registrations.get(nexus);
    if (mine === undefined || mine !== key) throw new ReservationConflict();
    switch (action) {
      case PrOut.RESERVE:
        return this.reserve(nexus, scope, type);
      case PrOut.RELEASE:
        return this.release(nexus, scope, type);
      case PrOut.CLEAR:
        return this.clear(nexus);
      default:
        return this.preempt(nexus, saKey, scope, type);
    }
  }

  private register(nexus: string, key: bigint, saKey: bigint, ignoreExisting: boolean): ScsiResult {
    const current = this.registrations.get(nexus);
    if (current === undefined) {
      if (!ignoreExisting && key !== 0n) throw new ReservationConflict();
      if (saKey !== 0n) {
        this.registrations.set(nexus, saKey);
        this.generation++;
      }
      return good();
    }
    if (!ignoreExisting && key !== current) throw new ReservationConflict();
    if (saKey !== 0n) {
      this.registrations.set(nexus, saKey);
    } else {
      this.unregister(nexus);
    }
    this.generation++;
    return good();
  }

  private unregister(nexus: string): void {
    const wasHolder = this.isHolder(nexus);
    this.registrations.delete(nexus);
    const r = this.reservation;
    if (!r || !wasHolder) return;
    if (isAllRegistrants(r.type)) {
      // The reservation lives on as long as any registrant is left (SPC-4 5.12.11.2.2).
      if (this.registrations.size === 0) this.reservation = undefined;
      return;
    }
    this.reservation = undefined;
    if (isRegistrantsType(r.type)) {
      for (const other of this.registrations.keys()) this.ua.raise(other, Asc.RESERVATIONS_RELEASED);
    }
  }

  private reserve(nexus: string, scope: number, type: number): ScsiResult {
    if (scope !== 0) throw invalidFieldInCdb(2, 4);
    if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 0);
    const r = this.reservation;
    if (r === undefined) {
      this.reservation = { holder: nexus, type };
      return good();
    }
    if (this.isHolder(nexus) && r.type === type) return good();
    throw new ReservationConflict();
  }

  private release(nexus: string, scope: number, type: number): ScsiResult {
    const r = this.reservation;
    if (r === undefined || !this.isHolder(nexus)) return good();
    if (scope !== 0 || r.type !== type) {
      throw new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
    }
    this.reservation = undefined;
    if (isRegistrantsType(type)) {
      for (const other of this.registrations.keys()) {
        if (other !== nexus) this.ua.raise(other, Asc.RESERVATIONS_RELEASED);
      }
    }
    return good();
  }

  private clear(nexus: string): ScsiResult {
    for (const other of this.registrations.keys()) {
      if (other !== nexus) this.ua.raise(other, Asc.RESERVATIONS_PREEMPTED);
    }
    this.registrations.clear();
    this.reservation = undefined;
    this.generation++;
    return good();
  }

  private preempt(nexus: string, saKey: bigint, scope: number, type: number): ScsiResult {
    const r = this.reservation;
    const removeWithKey = (k: bigint | undefined): number => {
      let n = 0;
      for (const [other, otherKey] of [...this.registrations]) {
        if (other === nexus) continue;
        if (k === undefined || otherKey === k) {
          this.registrations.delete(other);
          this.ua.raise(other, Asc.REGISTRATIONS_PREEMPTED);
          n++;
        }
      }
      return n;
    };
    const takeOver = (): void => {
      if (scope !== 0) throw invalidFieldInCdb(2, 4);
      if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 0);
    };

    if (r !== undefined && isAllRegistrants(r.type)) {
      if (saKey === 0n) {
        takeOver();
        removeWithKey(undefined);
        this.reservation = { holder: nexus, type };
      } else if (removeWithKey(saKey) === 0 && this.registrations.get(nexus) !== saKey) {
        throw new ReservationConflict();
      }
      this.generation++;
      return good();
    }
    const holderKey = r !== undefined ? this.registrations.get(r.holder) : undefined;
    if (r !== undefined && holderKey === saKey) {
      takeOver();
      removeWithKey(saKey);
      const typeChanged = r.type !== type;
      this.reservation = { holder: nexus, type };
      if (typeChanged) {
        for (const other of this.registrations.keys()) {
          if (other !== nexus) this.ua.raise(other, Asc.RESERVATIONS_RELEASED);
        }
      }
      this.generation++;
      return good();
    }
    if (saKey === 0n) throw invalidFieldInParameterList(8);
    const removed = removeWithKey(saKey);
    if (removed === 0 && this.registrations.get(nexus) !== saKey) throw new ReservationConflict();
    this.generation++;
    return good();
  }
}

function reportCapabilities(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(8, 0);
  b[2] = 0x10; // CRH: RESERVE(6/10) is handled as SPC-4 5.12.3 asks when a persistent reservation exists
  b[3] = 0x80 | (0x1 << 4); // TMV, ALLOW COMMANDS 001b
  // Type mask: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX / EX_AC_AR
  b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
  b[5] = 0x01;
  return b;
}

/** Opcodes another nexus may still send while an SPC-2 reservation is held. */
const LEGACY_ALLOWED = new Set<number>([0x12 /* INQUIRY */, 0x03 /* REQUEST SENSE */, 0xa0 /* REPORT LUNS */, 0x17, 0x57 /* RELEASE */, 0xa3 /* MAINTENANCE IN */]);
