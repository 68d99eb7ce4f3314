// A BlockDevice over a (sparse) regular file: positioned I/O on one FileHandle, write-back by default.
import { execFile } from 'node:child_process';
import { existsSync, read as fsRead, readSync, write as fsWrite, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { BlockDevice } from '../scsi/types.js';
import { BufferSlab } from '../util/buffer-slab.js';
import { ioBuffers } from '../util/large-buffers.js';

const execFileAsync = promisify(execFile);

export interface FileBlockDeviceOptions {
  blockSize?: number;
  readOnly?: boolean;
  io?: Partial<IoPolicy>;
}

interface PendingDiscard {
  offset: number;
  length: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * How positioned I/O runs. A pread/pwrite served by the page cache takes a few microseconds, while a trip through
 * libuv's thread pool (queue, futex wake-up, completion through the event loop) costs tens, more than the I/O itself
 * on a busy machine. So small transfers run synchronously as long as they are fast; two slow ones in a row (the disk,
 * not the cache, served them, or writeback throttled them) send the device to the thread pool for a while, so that a
 * cold disk stalls the event loop for at most two operations per probe period. Large transfers always use the pool:
 * there the hop is cheap next to the copy, and the copy then runs beside the event loop instead of in it.
 */
export interface IoPolicy {
  /** Largest transfer that may run synchronously; 0 disables synchronous I/O. */
  syncMaxBytes: number;
  /** A synchronous operation slower than this (µs) means the disk is in the way. */
  slowMicros: number;
  /** First stay in the thread pool after a slow operation (ms); doubles while probes stay slow. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_IO_POLICY: IoPolicy = { syncMaxBytes: 128 * 1024, slowMicros: 200, backoffMs: 100, maxBackoffMs: 5000 };

/** fallocate processes per `sh` helper; they run in parallel within it. */
const PUNCHES_PER_HELPER = 32;

interface ByteRange {
  offset: number;
  length: number;
}

/** Sorted, with overlapping and touching ranges merged: 256 one-block descriptors in a row are one hole. */
export function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

/**
 * Hole punching. Node has no fallocate(2), so we run util-linux `fallocate --punch-hole` (which keeps the
 * file size). Discards issued in the same tick (one UNMAP's descriptor list) are merged, and their
 * filesystem-block-aligned parts punched by one `sh` helper running the fallocates in parallel; the
 * unaligned head and tail of a range could not be deallocated anyway and are zeroed in-process.
 * Where punching is not supported we fall back to writing zeroes, which keeps the "reads return
 * zeroes" promise but not the space saving.
 */
export class FileBlockDevice implements BlockDevice {
  private cachedSize: number;
  private closed = false;
  private pendingDiscards: PendingDiscard[] = [];
  private punchSupported = true;
  private readonly fd: number;
  /** Set just before the handle closes: the fd number may then be reused, so nothing may touch it. */
  private fdClosed = false;
  private readonly policy: IoPolicy;
  /** Synchronous I/O is off until this time (performance.now() ms). */
  private asyncUntil = 0;
  private backoff: number;
  private slowStreak = 0;
  /** Thread-pool operations on the raw fd still running: close() waits for them. */
  private inflight = 0;
  private drained: (() => void) | null = null;
  /** Reads and writes that ran synchronously / in the thread pool (for benchmarks and tests). */
  readonly ioCounts = { sync: 0, pooled: 0 };

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly blockSize: number,
    readonly readOnly: boolean,
    size: number,
    /** Filesystem allocation unit: only whole units can be deallocated. */
    private readonly allocationUnit: number,
    policy: Partial<IoPolicy> = {},
  ) {
    this.cachedSize = size;
    this.fd = fh.fd;
    this.policy = { ...DEFAULT_IO_POLICY, ...policy };
    this.backoff = this.policy.backoffMs;
  }

  static async open(path: string, opts: FileBlockDeviceOptions = {}): Promise<FileBlockDevice> {
    const blockSize = opts.blockSize ?? 512;
    if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
      throw new RangeError(`block size ${blockSize} must be a power of two >= 512`);
    }
    const readOnly = opts.readOnly === true;
    const fh = await open(path, readOnly ? 'r' : 'r+');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      return new FileBlockDevice(fh, path, blockSize, readOnly, st.size, st.blksize > 0 ? st.blksize : 4096, opts.io);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Size in bytes as of open() or the last refreshSize(); a per-command fstat would cost a syscall per I/O. */
  size(): number {
    return this.cachedSize;
  }

  async refreshSize(): Promise<void> {
    this.cachedSize = (await this.fh.stat()).size;
  }

  /** The buffer itself when the read ran synchronously and completely, else a promise of it. */
  read(offset: number, length: number): Buffer | Promise<Buffer> {
    // A large read goes out as Data-In and the transport gives the buffer back once it is written (util/large-buffers).
    const buf = length > readBuffers.maxPieceBytes ? ioBuffers.take(length) : readBuffers.allocUnsafe(length);
    if (this.fdClosed) return Promise.reject(closedError());
    if (this.syncAllowed(length)) {
      try {
        this.ioCounts.sync++;
        const t0 = performance.now();
        const n = readSync(this.fd, buf, 0, length, offset);
        this.timed(t0);
        if (n === length) return buf;
        return this.readRest(buf, n, offset);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.readRest(buf, 0, offset);
  }

  /** Reads buf[done..] in the thread pool; what lies past the end of a file that shrank under us reads as zeroes. */
  private readRest(buf: Buffer, done: number, offset: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const step = (): void => {
        if (done >= buf.length) return resolve(buf);
        this.pooled(reject, (cb) => fsRead(this.fd, buf, done, buf.length - done, offset + done, cb), (n: number) => {
          if (n === 0) {
            buf.fill(0, done);
            return resolve(buf);
          }
          done += n;
          step();
        });
      };
      step();
    });
  }

  /** Returns (undefined) when the write ran synchronously and needs no sync to disk, else a promise. */
  write(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    if (this.readOnly) return Promise.reject(Object.assign(new Error('device is read-only'), { code: 'EROFS' }));
    if (this.fdClosed) return Promise.reject(closedError());
    let done = 0;
    if (this.syncAllowed(data.length)) {
      try {
        this.ioCounts.sync++;
        const t0 = performance.now();
        done = writeSync(this.fd, data, 0, data.length, offset);
        this.timed(t0);
      } catch (err) {
        return Promise.reject(err);
      }
      if (done === data.length && !fua) return;
    }
    return new Promise<void>((resolve, reject) => {
      const step = (): void => {
        if (done < data.length) {
          this.pooled(reject, (cb) => fsWrite(this.fd, data, done, data.length - done, offset + done, cb), (n: number) => {
            done += n;
            step();
          });
        } else if (fua) this.fh.datasync().then(resolve, reject);
        else resolve();
      };
      step();
    });
  }

  private syncAllowed(length: number): boolean {
    return length <= this.policy.syncMaxBytes && (this.asyncUntil === 0 || performance.now() >= this.asyncUntil);
  }

  /**
   * Records how long a synchronous operation took and backs off to the thread pool after two slow ones in a row.
   * One alone proves little: on a busy machine the thread can be preempted in the middle of any system call, while
   * a disk in the way makes every operation slow.
   */
  private timed(t0: number): void {
    const micros = (performance.now() - t0) * 1000;
    if (micros > this.policy.slowMicros) {
      if (++this.slowStreak < 2) return;
      this.slowStreak = 0;
      // Probes after a back-off that are still slow double the next stay in the pool.
      if (this.asyncUntil !== 0) this.backoff = Math.min(this.backoff * 2, this.policy.maxBackoffMs);
      this.asyncUntil = performance.now() + this.backoff;
      return;
    }
    this.slowStreak = 0;
    if (this.asyncUntil !== 0) {
      this.asyncUntil = 0;
      this.backoff = this.policy.backoffMs;
    }
  }

  /** Runs one fs callback operation on the raw fd, counted so that close() waits for it. */
  private pooled(
    reject: (err: unknown) => void,
    start: (cb: (err: NodeJS.ErrnoException | null, n: number) => void) => void,
    then: (n: number) => void,
  ): void {
    this.inflight++;
    this.ioCounts.pooled++;
    start((err, n) => {
      if (--this.inflight === 0 && this.drained) this.drained();
      if (err) reject(err);
      else then(n);
    });
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    await this.fh.datasync();
  }

  discard(offset: number, length: number): Promise<void> {
    if (this.readOnly) return Promise.reject(Object.assign(new Error('device is read-only'), { code: 'EROFS' }));
    const end = Math.min(offset + length, this.cachedSize);
    if (end <= offset) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pendingDiscards.push({ offset, length: end - offset, resolve, reject });
      if (this.pendingDiscards.length === 1) setImmediate(() => void this.runDiscards());
    });
  }

  private async runDiscards(): Promise<void> {
    const batch = this.pendingDiscards;
    this.pendingDiscards = [];
    if (batch.length === 0) return;
    try {
      await this.deallocate(coalesce(batch));
      for (const d of batch) d.resolve();
    } catch (err) {
      for (const d of batch) d.reject(err);
    }
  }

  private async deallocate(ranges: ByteRange[]): Promise<void> {
    const unit = this.allocationUnit;
    const punches: ByteRange[] = [];
    const zeroes: ByteRange[] = [];
    for (const r of ranges) {
      const end = r.offset + r.length;
      const a = Math.ceil(r.offset / unit) * unit;
      const b = Math.floor(end / unit) * unit;
      if (!this.punchSupported || b - a < unit) {
        zeroes.push(r);
        continue;
      }
      punches.push({ offset: a, length: b - a });
      if (a > r.offset) zeroes.push({ offset: r.offset, length: a - r.offset });
      if (end > b) zeroes.push({ offset: b, length: end - b });
    }
    for (let i = 0; i < punches.length; i += PUNCHES_PER_HELPER) {
      const group = punches.slice(i, i + PUNCHES_PER_HELPER);
      try {
        await this.punchHoles(group);
      } catch (err) {
        if (!/not supported/i.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
        this.punchSupported = false;
        zeroes.push(...punches.slice(i));
        break;
      }
    }
    for (const z of zeroes) await this.writeZeroes(z.offset, z.length);
  }

  private async punchHoles(group: ByteRange[]): Promise<void> {
    // The target is our own open file via /proc, so a rename or replace of the path cannot redirect the punch.
    const procPath = `/proc/${process.pid}/fd/${this.fh.fd}`;
    const target = existsSync(procPath) ? procPath : this.path;
    if (group.length === 1) {
      const d = group[0];
      await execFileAsync('fallocate', ['--punch-hole', '--offset', String(d.offset), '--length', String(d.length), target]);
      return;
    }
    // Offsets and lengths are integers we computed; the path travels as $0, never through the shell's parser.
    // Each fallocate runs in the background and every exit status is collected, so one failure fails all.
    const script =
      group
        .map((d) => `fallocate --punch-hole --offset ${Math.trunc(d.offset)} --length ${Math.trunc(d.length)} -- "$0" & p="$p $!"`)
        .join('\n') + '\nrc=0; for x in $p; do wait $x || rc=1; done; exit $rc';
    await execFileAsync('sh', ['-c', script, target]);
  }

  private async writeZeroes(offset: number, length: number): Promise<void> {
    const chunk = Buffer.alloc(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += chunk.length) {
      const n = Math.min(chunk.length, length - done);
      await this.write(offset + done, n === chunk.length ? chunk : chunk.subarray(0, n), false);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pendingDiscards.length > 0) await this.runDiscards();
    // The fd must not be closed (and perhaps reused) under a thread-pool read or write still using it.
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.fdClosed = true;
    await this.fh.close();
  }
}

/** Read buffers for every device: a read's buffer lives until its response is written. */
const readBuffers = new BufferSlab();

function closedError(): Error {
  return Object.assign(new Error('device is closed'), { code: 'EBADF' });
}
