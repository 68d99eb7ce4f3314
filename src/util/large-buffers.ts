// Large I/O buffers that are given back and used again instead of left to the garbage collector.
//
// Every new ArrayBuffer counts as external memory in V8, and once external memory has grown by about 64 MiB since
// the last full collection, V8 starts one. A target that allocates a fresh 1 MiB buffer per 1 MiB read therefore
// runs a mark-compact every few dozen reads; inside `embervol serve` (a heap of about 20 MB) that was 70 to 90 per
// 2 GiB read, with V8's four worker threads marking most of the time, and 1 MiB reads took 2.5 times the CPU they
// take with buffers that are used again (docs/benchmarks.md, session 4).
//
// A buffer that is never given back is simply collected, so forgetting costs only the optimisation. Giving one back
// while something still reads it would hand the same memory to two owners: only the last user of a buffer gives it
// back, once nothing refers to it any more.

/** Below this, BufferSlab pieces serve better (and are not worth keeping). */
const MIN_POOLED_BYTES = 64 << 10;
const MAX_POOLED_BYTES = 16 << 20;
/** At most this much memory waits in the free lists; anything beyond is left to the collector. */
const MAX_IDLE_BYTES = 64 << 20;

export class LargeBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Buffers handed out and not given back; weak, so that a forgotten one is still collected. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private idleBytes = 0;

  constructor(private readonly maxIdleBytes = MAX_IDLE_BYTES) {}

  /** Whether a request of this size comes from the pool (else the caller allocates as it likes). */
  static pools(length: number): boolean {
    return length >= MIN_POOLED_BYTES && length <= MAX_POOLED_BYTES;
  }

  /** Uninitialised memory of exactly `length` bytes, like Buffer.allocUnsafe. */
  take(length: number): Buffer {
    if (!LargeBufferPool.pools(length)) return Buffer.allocUnsafe(length);
    const size = sizeClass(length);
    const ab = this.free.get(size)?.pop();
    if (ab) this.idleBytes -= size;
    const backing = ab ?? new ArrayBuffer(size);
    this.lent.add(backing);
    return Buffer.from(backing, 0, length);
  }

  /** Whether `buf` (or a view of it) was taken from this pool and not given back yet. */
  owns(buf: Uint8Array): boolean {
    return this.lent.has(buf.buffer as ArrayBuffer);
  }

  /** The caller is the last user of `buf` (any view of a taken buffer); other buffers are ignored. */
  giveBack(buf: Uint8Array): void {
    const backing = buf.buffer as ArrayBuffer;
    if (!this.lent.delete(backing)) return;
    const size = backing.byteLength;
    if (this.idleBytes + size > this.maxIdleBytes) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(backing);
    this.idleBytes += size;
  }
}

function sizeClass(length: number): number {
  let size = MIN_POOLED_BYTES;
  while (size < length) size *= 2;
  return size;
}

/** The process's pool for data that moves between the block device and the network. */
export const ioBuffers = new LargeBufferPool();
