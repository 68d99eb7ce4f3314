// SBC-3 medium access commands over a BlockDevice.
import { readU64, type LbaRange } from './cdb.js';
import type { BlockLimits } from './inquiry.js';
import type { RangeLock, Release } from './range-lock.js';
import {
  Asc,
  ScsiError,
  SenseKey,
  dataIn,
  good,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  lbaOutOfRange,
  parameterListLengthError,
  writeProtected,
} from './sense.js';
import { SamStatus, type BlockDevice, type ScsiCommand, type ScsiResult } from './types.js';

/** What the block commands need from their logical unit. */
export interface BlockContext {
  readonly dev: BlockDevice;
  readonly blockSize: number;
  /** Capacity in logical blocks, as last read from the device. */
  readonly blocks: number;
  readonly limits: BlockLimits;
  readonly locks: RangeLock;
  /** False when MODE SELECT turned the write cache off: every write is then forced to stable storage. */
  readonly writeCacheEnabled: boolean;
  /** The device itself is read-only (whatever the initiator's mapping says). */
  readonly deviceReadOnly: boolean;
}

function checkRange(ctx: BlockContext, r: LbaRange): void {
  if (r.lba > ctx.blocks || r.lba + r.blocks > ctx.blocks) throw lbaOutOfRange();
}

function checkWritable(ctx: BlockContext, cmd: ScsiCommand): void {
  if (cmd.readOnly || ctx.deviceReadOnly) throw writeProtected();
}

async function lock(ctx: BlockContext, r: LbaRange, exclusive: boolean): Promise<Release> {
  const l = ctx.locks.acquire(r.lba, r.blocks, exclusive);
  return typeof l === 'function' ? l : await l;
}

/** Maps an I/O failure to sense data an initiator can act on, instead of a dropped command. */
function ioError(err: unknown, writing: boolean): ScsiError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ScsiError(SenseKey.DATA_PROTECT, Asc.SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EBADF') {
    return new ScsiError(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
  }
  return new ScsiError(SenseKey.MEDIUM_ERROR, writing ? Asc.WRITE_ERROR : Asc.UNRECOVERED_READ_ERROR);
}

async function devRead(ctx: BlockContext, r: LbaRange): Promise<Buffer> {
  try {
    return await ctx.dev.read(r.lba * ctx.blockSize, r.blocks * ctx.blockSize);
  } catch (err) {
    throw ioError(err, false);
  }
}

async function devWrite(ctx: BlockContext, lba: number, data: Buffer, fua: boolean): Promise<void> {
  try {
    await ctx.dev.write(lba * ctx.blockSize, data, fua || !ctx.writeCacheEnabled);
  } catch (err) {
    throw ioError(err, true);
  }
}

/** RDPROTECT/WRPROTECT/VRPROTECT (byte 1 bits 7-5): no protection information is kept. */
function rejectProtect(cdb: Buffer): void {
  if (cdb[1] & 0xe0) throw invalidFieldInCdb(1, 7);
}

// READ and WRITE are the data path: no async wrappers, so a command whose lock is free and whose I/O the page
// cache serves completes synchronously, with no promise at all.
export function read(ctx: BlockContext, cdb: Buffer, r: LbaRange, hasFlags: boolean): ScsiResult | Promise<ScsiResult> {
  if (hasFlags) rejectProtect(cdb);
  checkRange(ctx, r);
  if (r.blocks === 0) return good();
  if (r.blocks > ctx.limits.maxTransferBlocks) throw invalidFieldInCdb(cdb[0] === 0x28 ? 7 : 10);
  const l = ctx.locks.acquire(r.lba, r.blocks, false);
  if (typeof l !== 'function') return l.then((release) => readLocked(ctx, r, release));
  return readLocked(ctx, r, l);
}

/**
 * Runs one device call while `release` holds the range: releases it when the call is done, at once when the device
 * completed synchronously (no promise then), and turns device errors into sense data.
 */
function underLock<T>(release: Release, write: boolean, io: () => T | Promise<T>, done: (value: T) => ScsiResult): ScsiResult | Promise<ScsiResult> {
  let pending: T | Promise<T>;
  try {
    pending = io();
  } catch (err) {
    release();
    throw ioError(err, write);
  }
  if (!(pending instanceof Promise)) {
    release();
    return done(pending);
  }
  return pending.then(
    (value) => {
      release();
      return done(value);
    },
    (err: unknown) => {
      release();
      throw ioError(err, write);
    },
  );
}

function readLocked(ctx: BlockContext, r: LbaRange, release: Release): ScsiResult | Promise<ScsiResult> {
  return underLock(release, false, () => ctx.dev.read(r.lba * ctx.blockSize, r.blocks * ctx.blockSize), (data) => ({ status: SamStatus.GOOD, data }));
}

export function write(
  ctx: BlockContext,
  cmd: ScsiCommand,
  r: LbaRange,
  opts: { hasFlags: boolean; forceFua?: boolean },
): ScsiResult | Promise<ScsiResult> {
  const cdb = cmd.cdb;
  if (opts.hasFlags) rejectProtect(cdb);
  checkRange(ctx, r);
  checkWritable(ctx, cmd);
  if (r.blocks === 0) return good();
  if (r.blocks > ctx.limits.maxTransferBlocks) throw invalidFieldInCdb();
  const fua = opts.forceFua === true || (opts.hasFlags && (cdb[1] & 0x08) !== 0);
  // Write only whole blocks that actually arrived: an initiator whose expected transfer length is
  // shorter than the CDB's gets the rest reported as residual by the transport, not garbage on disk.
  const out = cmd.dataOut ?? Buffer.alloc(0);
  const blocks = Math.min(r.blocks, Math.floor(out.length / ctx.blockSize));
  if (blocks === 0) return good();
  const data = out.length === blocks * ctx.blockSize ? out : out.subarray(0, blocks * ctx.blockSize);
  const l = ctx.locks.acquire(r.lba, r.blocks, false);
  if (typeof l !== 'function') return l.then((release) => writeLocked(ctx, r.lba, data, fua, release));
  return writeLocked(ctx, r.lba, data, fua, l);
}

function writeLocked(ctx: BlockContext, lba: number, data: Buffer, fua: boolean, release: Release): ScsiResult | Promise<ScsiResult> {
  return underLock(release, true, () => ctx.dev.write(lba * ctx.blockSize, data, fua || !ctx.writeCacheEnabled), good);
}

/** ORWRITE(16): the Data-Out is ORed into the medium, atomically with respect to other I/O on the range. */
export async function orWrite(ctx: BlockContext, cmd: ScsiCommand, r: LbaRange): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  rejectProtect(cdb);
  checkRange(ctx, r);
  checkWritable(ctx, cmd);
  if (r.blocks === 0) return good();
  if (r.blocks > ctx.limits.maxTransferBlocks) throw invalidFieldInCdb(10);
  const bytes = r.blocks * ctx.blockSize;
  const out = cmd.dataOut ?? Buffer.alloc(0);
  if (out.length < bytes) throw invalidFieldInCdb(10);
  const release = await lock(ctx, r, true);
  try {
    const medium = await devRead(ctx, r);
    for (let i = 0; i < bytes; i++) medium[i] |= out[i];
    await devWrite(ctx, r.lba, medium, (cdb[1] & 0x08) !== 0);
    return good();
  } finally {
    release();
  }
}

/** READ DEFECT DATA(10/12): a file has no grown or primary defects; the list is empty. */
export function readDefectData(cdb: Buffer): ScsiResult {
  const twelve = cdb[0] === 0xb7;
  const flags = twelve ? cdb[1] : cdb[2];
  const alloc = twelve ? cdb.readUInt32BE(6) : cdb.readUInt16BE(7);
  const b = Buffer.alloc(twelve ? 8 : 4);
  b[1] = flags & 0x1f; // PLISTV, GLISTV and the format echo what was asked; the lists are empty
  return dataIn(b, alloc);
}

/** Offset of the first differing byte, or -1. */
function firstDifference(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function miscompare(offset: number): ScsiError {
  return new ScsiError(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY, { information: offset });
}

/** VERIFY(10/12/16): BYTCHK 00b checks the range only, 01b compares Data-Out, 11b compares one block against each. */
export async function verify(ctx: BlockContext, cmd: ScsiCommand, r: LbaRange): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  rejectProtect(cdb);
  const bytchk = (cdb[1] >> 1) & 0x03;
  if (bytchk === 2) throw invalidFieldInCdb(1, 2);
  checkRange(ctx, r);
  if (r.blocks === 0) return good();
  if (r.blocks > ctx.limits.maxTransferBlocks) throw invalidFieldInCdb();
  if (bytchk === 0) return good();
  const bs = ctx.blockSize;
  const expected = cmd.dataOut ?? Buffer.alloc(0);
  const needed = bytchk === 1 ? r.blocks * bs : bs;
  if (expected.length < needed) throw parameterListLengthError();
  const release = await lock(ctx, r, false);
  try {
    const medium = await devRead(ctx, r);
    if (bytchk === 1) {
      const at = firstDifference(medium, expected.subarray(0, needed));
      if (at >= 0) throw miscompare(at);
    } else {
      const pattern = expected.subarray(0, bs);
      for (let i = 0; i < r.blocks; i++) {
        const at = firstDifference(medium.subarray(i * bs, (i + 1) * bs), pattern);
        if (at >= 0) throw miscompare(i * bs + at);
      }
    }
    return good();
  } finally {
    release();
  }
}

/** PRE-FETCH(10/16): the page cache does the real work; we only validate and say the data would fit. */
export function preFetch(ctx: BlockContext, cdb: Buffer, r: LbaRange): ScsiResult {
  checkRange(ctx, r);
  // IMMED or not, a file-backed unit always has cache room, so CONDITION MET (SBC-3 5.9).
  void cdb;
  return { status: SamStatus.CONDITION_MET };
}

export async function synchronizeCache(ctx: BlockContext, r: LbaRange): Promise<ScsiResult> {
  // Zero blocks means "to the end of the medium"; either way the whole file is synced.
  checkRange(ctx, r);
  try {
    await ctx.dev.flush();
  } catch (err) {
    throw ioError(err, true);
  }
  return good();
}

const ZEROES = Buffer.alloc(64 * 1024);

/** All-zero test done by the native memcmp behind Buffer.equals, a 64 KiB slice at a time. */
const isZero = (b: Buffer): boolean => {
  for (let off = 0; off < b.length; off += ZEROES.length) {
    const n = Math.min(ZEROES.length, b.length - off);
    if (!b.subarray(off, off + n).equals(ZEROES.subarray(0, n))) return false;
  }
  return true;
};

/** WRITE SAME(10/16), with UNMAP (thin provisioning) and NDOB (no data-out: zeroes). */
export async function writeSame(ctx: BlockContext, cmd: ScsiCommand, r: LbaRange, sixteen: boolean): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  rejectProtect(cdb);
  if (cdb[1] & 0x10) throw invalidFieldInCdb(1, 4); // ANCHOR: anchored state not supported
  if (cdb[1] & 0x06) throw invalidFieldInCdb(1, 1); // PBDATA/LBDATA: obsolete
  const unmap = (cdb[1] & 0x08) !== 0;
  const ndob = sixteen && (cdb[1] & 0x01) !== 0;
  if (!sixteen && cdb[1] & 0x01) throw invalidFieldInCdb(1, 0);
  if (r.lba > ctx.blocks) throw lbaOutOfRange();
  // WSNZ is 0 in the Block Limits page: zero blocks means "from the LBA to the end of the medium".
  if (r.blocks === 0) r = { lba: r.lba, blocks: ctx.blocks - r.lba };
  if (r.blocks > ctx.limits.maxWriteSameBlocks) throw invalidFieldInCdb(sixteen ? 10 : 7);
  checkRange(ctx, r);
  if (r.blocks === 0) return good();
  checkWritable(ctx, cmd);
  const bs = ctx.blockSize;
  let pattern: Buffer;
  if (ndob) pattern = Buffer.alloc(bs);
  else {
    // Exactly one block of Data-Out: more or less means the CDB and the transfer disagree.
    const out = cmd.dataOut;
    if (out === undefined || out.length !== bs) throw invalidFieldInCdb();
    pattern = out;
  }
  const release = await lock(ctx, r, false);
  try {
    if (unmap) {
      // With UNMAP the blocks are deallocated whatever the pattern (SBC-3 5.42); with LBPRZ they then read
      // as zeroes, which is what initiators that set UNMAP expect.
      await discard(ctx, [r]);
      return good();
    }
    const chunkBlocks = Math.max(1, Math.min(r.blocks, Math.floor((1 << 20) / bs)));
    const chunk = Buffer.alloc(chunkBlocks * bs);
    for (let i = 0; i < chunkBlocks; i++) pattern.copy(chunk, i * bs);
    for (let done = 0; done < r.blocks; done += chunkBlocks) {
      const n = Math.min(chunkBlocks, r.blocks - done);
      await devWrite(ctx, r.lba + done, n === chunkBlocks ? chunk : chunk.subarray(0, n * bs), false);
    }
    return good();
  } finally {
    release();
  }
}

async function discard(ctx: BlockContext, ranges: LbaRange[]): Promise<void> {
  const bs = ctx.blockSize;
  try {
    await Promise.all(ranges.map((r) => ctx.dev.discard(r.lba * bs, r.blocks * bs)));
  } catch (err) {
    throw ioError(err, true);
  }
}

/** UNMAP (SBC-3 5.28): every descriptor is validated before any block is deallocated. */
export async function unmap(ctx: BlockContext, cmd: ScsiCommand): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  if (cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // ANCHOR
  const listLength = cdb.readUInt16BE(7);
  if (listLength === 0) return good();
  if (listLength < 8) throw parameterListLengthError();
  checkWritable(ctx, cmd);
  const p = cmd.dataOut ?? Buffer.alloc(0);
  if (p.length < Math.min(listLength, 8)) throw parameterListLengthError();
  const list = p.subarray(0, Math.min(listLength, p.length));
  const descriptorBytes = Math.min(list.readUInt16BE(2), list.length - 8);
  const count = Math.floor(descriptorBytes / 16);
  if (count > ctx.limits.maxUnmapDescriptors) throw invalidFieldInParameterList(2);
  const ranges: LbaRange[] = [];
  for (let i = 0; i < count; i++) {
    const off = 8 + 16 * i;
    const r = { lba: readU64(list, off), blocks: list.readUInt32BE(off + 8) };
    if (r.blocks > ctx.limits.maxUnmapBlocks) throw invalidFieldInParameterList(off + 8);
    checkRange(ctx, r);
    if (r.blocks > 0) ranges.push(r);
  }
  if (ranges.length === 0) return good();
  const releases: Release[] = [];
  try {
    for (const r of ranges) releases.push(await lock(ctx, r, false));
    await discard(ctx, ranges);
    return good();
  } finally {
    for (const release of releases) release();
  }
}

/** COMPARE AND WRITE (SBC-3 5.2): compare and write happen under an exclusive range lock. */
export async function compareAndWrite(ctx: BlockContext, cmd: ScsiCommand): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  rejectProtect(cdb);
  const r = { lba: readU64(cdb, 2), blocks: cdb[13] };
  const fua = (cdb[1] & 0x08) !== 0;
  if (r.blocks > ctx.limits.maxCompareAndWriteBlocks) throw invalidFieldInCdb(13);
  checkRange(ctx, r);
  checkWritable(ctx, cmd);
  if (r.blocks === 0) {
    // Zero blocks with data on the way is a count that wrapped (e.g. 256 in one byte), not a no-op.
    if ((cmd.dataOut?.length ?? 0) > 0 || cmd.expectedDataLength > 0) throw invalidFieldInCdb(13);
    return good();
  }
  const bytes = r.blocks * ctx.blockSize;
  const out = cmd.dataOut ?? Buffer.alloc(0);
  // The Data-Out must be exactly verify + write data; anything else means the CDB and the transfer disagree.
  if (out.length !== 2 * bytes) throw invalidFieldInCdb(13);
  const release = await lock(ctx, r, true);
  try {
    const medium = await devRead(ctx, r);
    const at = firstDifference(medium, out.subarray(0, bytes));
    if (at >= 0) throw miscompare(at);
    await devWrite(ctx, r.lba, out.subarray(bytes, 2 * bytes), fua);
    return good();
  } finally {
    release();
  }
}

export function readCapacity10(ctx: BlockContext, cdb: Buffer): ScsiResult {
  // PMI is obsolete in SBC-3; an LBA without PMI is an error.
  if (!(cdb[8] & 0x01) && cdb.readUInt32BE(2) !== 0) throw invalidFieldInCdb(2);
  const b = Buffer.alloc(8);
  const last = ctx.blocks - 1;
  b.writeUInt32BE(last > 0xfffffffe ? 0xffffffff : Math.max(last, 0), 0);
  b.writeUInt32BE(ctx.blockSize, 4);
  return { status: SamStatus.GOOD, data: b };
}

export function readCapacity16(ctx: BlockContext, cdb: Buffer): ScsiResult {
  const alloc = cdb.readUInt32BE(10);
  const b = Buffer.alloc(32);
  b.writeBigUInt64BE(BigInt(Math.max(ctx.blocks - 1, 0)), 0);
  b.writeUInt32BE(ctx.blockSize, 8);
  b[13] = ctx.limits.physicalBlockExponent & 0x0f;
  b[14] = 0x80 | 0x40; // LBPME (thin provisioning), LBPRZ (unmapped blocks read zeroes)
  return dataIn(b, alloc);
}

/**
 * GET LBA STATUS: blocks that read as zero are reported deallocated (with LBPRZ the initiator cannot tell
 * them apart, and Node has no SEEK_HOLE to ask the filesystem). The medium is scanned in growing chunks and
 * only as far as the descriptors the allocation length has room for, up to a bounded window.
 */
export async function getLbaStatus(ctx: BlockContext, cdb: Buffer): Promise<ScsiResult> {
  const lba = readU64(cdb, 2);
  const alloc = cdb.readUInt32BE(10);
  if (lba >= ctx.blocks) throw lbaOutOfRange();
  const bs = ctx.blockSize;
  const maxDescriptors = Math.max(1, Math.floor((alloc - 8) / 16));
  const window = Math.min(ctx.blocks - lba, Math.max(1, Math.floor((4 << 20) / bs)));
  const runs: Array<{ start: number; length: number; zero: boolean }> = [];
  let scanned = 0;
  let chunk = Math.max(1, Math.floor(4096 / bs));
  // One run more than fits tells us the last reported run really ended. A mapped run is reported as far as it was
  // scanned (a shorter extent is still a true one): initiators such as qemu ask before every large read whether it
  // falls in a hole, and scanning megabytes of mapped data to answer "mapped" would cost more than the read.
  while (scanned < window && runs.length <= maxDescriptors && (runs.length === 0 || runs[runs.length - 1].zero)) {
    const n = Math.min(chunk, window - scanned);
    const data = await devRead(ctx, { lba: lba + scanned, blocks: n });
    const tail = runs[runs.length - 1];
    if (tail !== undefined && tail.zero && isZero(data)) {
      // A hole goes on: one native comparison instead of one per block.
      tail.length += n;
      scanned += n;
      chunk *= 4;
      continue;
    }
    for (let i = 0; i < n; i++) {
      // Data blocks rarely start or end with a zero byte: decide those without a native call.
      const zero = data[i * bs] === 0 && data[(i + 1) * bs - 1] === 0 && isZero(data.subarray(i * bs, (i + 1) * bs));
      const last = runs[runs.length - 1];
      if (last !== undefined && last.zero === zero) last.length++;
      else runs.push({ start: scanned + i, length: 1, zero });
    }
    scanned += n;
    chunk *= 4;
  }
  const reported = runs.slice(0, maxDescriptors);
  const b = Buffer.alloc(8 + 16 * reported.length);
  b.writeUInt32BE(4 + 16 * reported.length, 0);
  reported.forEach((r, i) => {
    b.writeBigUInt64BE(BigInt(lba + r.start), 8 + 16 * i);
    b.writeUInt32BE(r.length, 16 + 16 * i);
    b[20 + 16 * i] = r.zero ? 0x01 : 0x00; // deallocated : mapped
  });
  return dataIn(b, alloc);
}
