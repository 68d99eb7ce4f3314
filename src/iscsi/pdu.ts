// iSCSI PDU layout (RFC 7143 section 11): a 48-byte Basic Header Segment, optional
// Additional Header Segments, an optional header digest, a data segment padded to
// 4 bytes and an optional data digest. Fields are big-endian; digests are CRC32C
// stored little-endian, as Linux and libiscsi put them on the wire.

import { crc32c } from './crc32c.js';

export const BHS_LENGTH = 48;
export const RESERVED_TAG = 0xffffffff;

export const Opcode = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;

export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  OUT_OF_RESOURCES: 0x0a,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** A received or outgoing PDU. `bhs` is always exactly 48 bytes. */
export interface Pdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

export const FINAL = 0x80;

export function opcodeOf(bhs: Buffer): number {
  return bhs[0] & 0x3f;
}
export function isImmediate(bhs: Buffer): boolean {
  return (bhs[0] & 0x40) !== 0;
}
export function isFinal(bhs: Buffer): boolean {
  return (bhs[1] & FINAL) !== 0;
}
export function ahsLengthOf(bhs: Buffer): number {
  return bhs[4] * 4;
}
export function dataSegmentLengthOf(bhs: Buffer): number {
  return (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
}
export function itt(bhs: Buffer): number {
  return getU32(bhs, 16);
}

// Big-endian 32-bit fields, read and written byte by byte: Node's checked readUInt32BE/writeUInt32BE are shared by
// every Buffer in the process, and their polymorphic property loads cost more than the field access itself on the
// data path, which touches about ten fields per command.
export function getU32(b: Buffer, offset: number): number {
  return ((b[offset] << 24) | (b[offset + 1] << 16) | (b[offset + 2] << 8) | b[offset + 3]) >>> 0;
}
export function setU32(b: Buffer, offset: number, value: number): void {
  b[offset] = value >>> 24;
  b[offset + 1] = value >>> 16;
  b[offset + 2] = value >>> 8;
  b[offset + 3] = value;
}

/**
 * Decodes the 8-byte SAM LUN field into a LUN number. Peripheral (0b00) and flat (0b01)
 * addressing are the two forms initiators use for single-level LUNs.
 */
// The LUN field of a PDU is SAM's 8-byte LUN; the SCSI layer owns that format.
export { decodeLun, encodeLun } from '../scsi/report-luns.js';

export function newBhs(opcode: number, flags = 0): Buffer {
  // From Node's small-buffer pool: cheaper than a zeroed allocation of its own, one per PDU sent.
  const bhs = Buffer.allocUnsafe(BHS_LENGTH).fill(0);
  bhs[0] = opcode;
  bhs[1] = flags;
  return bhs;
}

export function padLength(n: number): number {
  return (4 - (n & 3)) & 3;
}

export interface DigestSettings {
  header: boolean;
  data: boolean;
}

export const NO_DIGESTS: DigestSettings = { header: false, data: false };

function digestBytes(crc: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}

/** An absent AHS or data segment, shared: zero-length, so nothing can write into it. */
export const EMPTY_SEGMENT = Buffer.alloc(0);

/** Zero padding for a data segment, shared: never written to. */
const PADS = [EMPTY_SEGMENT, Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)];

/**
 * Serialises a PDU into the buffers to write, in order. The BHS length fields are
 * filled in here so callers cannot get them wrong.
 */
export function encodePdu(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Buffer[] {
  const out: Buffer[] = [];
  encodePduInto(out, pdu, digests);
  return out;
}

/** As encodePdu, appending to `out` (the connection's output queue) instead of a new array. */
export function encodePduInto(out: Buffer[], pdu: Pdu, digests: DigestSettings = NO_DIGESTS): void {
  const { bhs, ahs, data } = pdu;
  if (ahs.length % 4 !== 0) throw new Error('AHS length must be a multiple of 4');
  bhs[4] = ahs.length / 4;
  bhs[5] = data.length >>> 16;
  bhs[6] = data.length >>> 8;
  bhs[7] = data.length;
  out.push(bhs);
  if (ahs.length > 0) out.push(ahs);
  if (digests.header) {
    let crc = crc32c(bhs);
    if (ahs.length > 0) crc = crc32c(ahs, crc);
    out.push(digestBytes(crc));
  }
  if (data.length > 0) {
    out.push(data);
    const pad = padLength(data.length);
    if (pad > 0) out.push(PADS[pad]);
    if (digests.data) {
      let crc = crc32c(data);
      if (pad > 0) crc = crc32c(PADS[pad], crc);
      out.push(digestBytes(crc));
    }
  }
}

export function encodePduToBuffer(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}

export class PduFormatError extends Error {
  constructor(
    message: string,
    /** The header that failed, when one was read, so a Reject can quote it. */
    readonly bhs?: Buffer,
  ) {
    super(message);
    this.name = 'PduFormatError';
  }
}

export class DigestError extends Error {
  constructor(
    message: string,
    readonly bhs: Buffer,
    readonly kind: 'header' | 'data',
  ) {
    super(message);
    this.name = 'DigestError';
  }
}

/**
 * Where the data segment of the PDU with this header should go: a buffer of exactly `dataLength` bytes that the
 * receiver owns, or null to leave it in the read buffers. Asked once per PDU, when its header has arrived but its
 * data has not.
 */
export type DataPlacement = (bhs: Buffer, dataLength: number) => Buffer | null;

/** Smaller data segments are not offered to the placement: copying them costs less than the bookkeeping. */
export const PLACEMENT_MIN_BYTES = 64 << 10;

interface DirectData {
  bhs: Buffer;
  ahs: Buffer;
  dest: Buffer;
  filled: number;
  /** Pad and data digest bytes after the data. */
  trailer: number;
}

export interface FramerLimits {
  /** Largest data segment we accept (our declared MaxRecvDataSegmentLength, or a login cap). */
  maxDataSegmentLength: number;
}

/**
 * Turns a TCP byte stream into PDUs: copes with PDUs split over many reads and with many
 * PDUs coalesced into one read. A length over the limit is a format error (the stream can
 * no longer be trusted), a data digest mismatch is reported per PDU (RFC 7143 section 7.8:
 * the PDU is discarded and rejected, the connection survives).
 */
export class PduFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  digests: DigestSettings = { header: false, data: false };
  /** Large data segments go where this says, straight from the socket when the reader asks wantBuffer(). */
  placement: DataPlacement | null = null;
  private direct: DirectData | null = null;
  /** The placement declined the PDU now at the head: not asked again for it. */
  private declined = false;
  /** The last PDU's data was placed: the next is likely another large one, whose header is all we want to read. */
  lastPlaced = false;

  constructor(public limits: FramerLimits) {}

  get pendingBytes(): number {
    return this.buffered + (this.direct ? this.direct.filled : 0);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const d = this.direct;
    if (d && d.filled < d.dest.length) {
      const room = d.dest.length - d.filled;
      if (chunk.buffer === d.dest.buffer && chunk.byteOffset === d.dest.byteOffset + d.filled && chunk.length <= room) {
        d.filled += chunk.length; // read in place (wantBuffer)
        return;
      }
      const n = Math.min(room, chunk.length);
      chunk.copy(d.dest, d.filled, 0, n);
      d.filled += n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Where the next bytes from the socket should be read to, when they belong to a placed data segment. */
  wantBuffer(): Buffer | null {
    const d = this.direct;
    return d && d.filled < d.dest.length ? d.dest.subarray(d.filled) : null;
  }

  /**
   * The receiver gives back memory that a placed data segment is being read into (its command ended): the rest of
   * that segment goes to a buffer of the framer's own, so the PDU still completes and is checked, then dropped.
   * True if it was: the socket may already have been told to read into that memory, so it must not be used again.
   */
  abandonPlacement(backing: ArrayBufferLike): boolean {
    const d = this.direct;
    if (!d || d.dest.buffer !== backing) return false;
    const own = Buffer.allocUnsafe(d.dest.length);
    d.dest.copy(own, 0, 0, d.filled);
    d.dest = own;
    return true;
  }

  /**
   * Returns the next complete PDU, or null when more bytes are needed.
   * Throws PduFormatError (fatal for the connection) or DigestError (data digest: PDU dropped).
   */
  next(): Pdu | null {
    if (this.direct) return this.nextDirect();
    if (this.buffered < BHS_LENGTH) return null;
    const head = this.peek(BHS_LENGTH);
    const ahsLen = ahsLengthOf(head);
    const dataLen = dataSegmentLengthOf(head);
    if (dataLen > this.limits.maxDataSegmentLength) {
      throw new PduFormatError(
        `data segment length ${dataLen} exceeds limit ${this.limits.maxDataSegmentLength}`,
        Buffer.from(head.subarray(0, BHS_LENGTH)),
      );
    }
    const hd = this.digests.header ? 4 : 0;
    const dd = this.digests.data && dataLen > 0 ? 4 : 0;
    const paddedData = dataLen + padLength(dataLen);
    const total = BHS_LENGTH + ahsLen + hd + paddedData + dd;
    if (this.buffered < total) {
      if (this.placement && !this.declined && dataLen >= PLACEMENT_MIN_BYTES && this.buffered >= BHS_LENGTH + ahsLen + hd) {
        this.startDirect(ahsLen, hd, dataLen, paddedData - dataLen + dd);
        if (this.direct) return this.nextDirect();
      }
      return null;
    }
    this.declined = false;
    this.lastPlaced = false;
    // Views, not copies: every chunk is memory of its own (the socket never reuses a read buffer, and merged
    // chunks are new), so the BHS, CDB and data of a PDU stay valid however long a command keeps them.
    const raw = this.take(total);
    const bhs = raw.length === BHS_LENGTH ? raw : raw.subarray(0, BHS_LENGTH);
    const ahs = ahsLen === 0 ? EMPTY_SEGMENT : raw.subarray(BHS_LENGTH, BHS_LENGTH + ahsLen);
    let pos = BHS_LENGTH + ahsLen;
    if (hd) {
      const expected = raw.readUInt32LE(pos);
      const actual = crc32c(raw, 0, 0, pos);
      // A header we cannot trust means we cannot trust any length either: fatal.
      if (expected !== actual) throw new PduFormatError('header digest mismatch', Buffer.from(bhs));
      pos += 4;
    }
    const data = dataLen === 0 ? EMPTY_SEGMENT : raw.subarray(pos, pos + dataLen);
    if (dd) {
      const expected = raw.readUInt32LE(pos + paddedData);
      const actual = crc32c(raw, 0, pos, pos + paddedData);
      if (expected !== actual) throw new DigestError('data digest mismatch', Buffer.from(bhs), 'data');
    }
    return { bhs, ahs, data };
  }

  private startDirect(ahsLen: number, hd: number, dataLen: number, trailer: number): void {
    const headerLen = BHS_LENGTH + ahsLen + hd;
    const head = this.peek(headerLen);
    if (hd && head.readUInt32LE(BHS_LENGTH + ahsLen) !== crc32c(head, 0, 0, BHS_LENGTH + ahsLen)) {
      throw new PduFormatError('header digest mismatch', Buffer.from(head.subarray(0, BHS_LENGTH)));
    }
    const dest = this.placement!(head.subarray(0, BHS_LENGTH), dataLen);
    if (!dest) {
      this.declined = true;
      return;
    }
    if (dest.length !== dataLen) throw new Error(`placement gave ${dest.length} bytes for a ${dataLen}-byte segment`);
    // The header is copied: the command may keep its BHS, and a view would keep the whole read buffer alive.
    const header = Buffer.from(this.take(headerLen));
    const d: DirectData = {
      bhs: header.subarray(0, BHS_LENGTH),
      ahs: ahsLen === 0 ? EMPTY_SEGMENT : header.subarray(BHS_LENGTH, BHS_LENGTH + ahsLen),
      dest,
      filled: 0,
      trailer,
    };
    this.direct = d;
    const already = Math.min(this.buffered, dataLen);
    while (d.filled < already) {
      const c = this.chunks[0];
      const n = Math.min(c.length, already - d.filled);
      c.copy(dest, d.filled, 0, n);
      d.filled += n;
      if (n === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(n);
      this.buffered -= n;
    }
  }

  private nextDirect(): Pdu | null {
    const d = this.direct!;
    if (d.filled < d.dest.length || this.buffered < d.trailer) return null;
    this.direct = null;
    const trailer = d.trailer === 0 ? EMPTY_SEGMENT : this.take(d.trailer);
    if (this.digests.data) {
      const pad = d.trailer - 4;
      let crc = crc32c(d.dest);
      if (pad > 0) crc = crc32c(trailer, crc, 0, pad);
      if (trailer.readUInt32LE(pad) !== crc) throw new DigestError('data digest mismatch', Buffer.from(d.bhs), 'data');
    }
    this.lastPlaced = true;
    return { bhs: d.bhs, ahs: d.ahs, data: d.dest };
  }

  /** A buffer that starts with the next n bytes (and may go on past them). */
  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    // Merge only the chunks that hold the first n bytes, so a slow trickle of tiny reads stays linear.
    let count = 0;
    let len = 0;
    while (len < n) len += this.chunks[count++].length;
    const merged = Buffer.concat(this.chunks.slice(0, count), len);
    this.chunks.splice(0, count, merged);
    return merged.subarray(0, n);
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length >= n) {
      out = first.length === n ? first : first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const c = this.chunks[0];
        if (c.length <= need) {
          parts.push(c);
          this.chunks.shift();
          need -= c.length;
        } else {
          parts.push(c.subarray(0, need));
          this.chunks[0] = c.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.buffered -= n;
    return out;
  }
}

/** Serial number arithmetic (RFC 1982, 32 bits) used for CmdSN/StatSN comparisons. */
export function snLess(a: number, b: number): boolean {
  return a !== b && ((a < b && b - a < 0x80000000) || (a > b && a - b > 0x80000000));
}
export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
