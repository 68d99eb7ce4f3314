// QoS limits of one logical unit: leaky buckets with QEMU's throttle semantics (util/throttle.c), one per
// limit that is set. A bucket fills by what each command costs (1 per command for *_iops_sec, its bytes for
// *_bytes_sec) and leaks at the average rate. Without a burst its capacity is a tenth of a second of the
// average; with a burst (`*_max`, `*_max_length`) it holds max * max_length, and a second bucket leaking at
// `max` keeps the burst itself at that rate. A command runs when no bucket it charges is over capacity
// (checked before it is charged, as QEMU does); otherwise it waits, in arrival order, until the buckets
// have leaked enough. A logical unit with no limits has no limiter at all: the data path pays nothing.

/** Limits in units per second (iops or bytes); bursts as `*_max` (rate) and `*_max_length` (seconds). */
export interface QosLimitSettings {
  total_iops_sec?: number;
  read_iops_sec?: number;
  write_iops_sec?: number;
  total_bytes_sec?: number;
  read_bytes_sec?: number;
  write_bytes_sec?: number;
  total_iops_sec_max?: number;
  read_iops_sec_max?: number;
  write_iops_sec_max?: number;
  total_bytes_sec_max?: number;
  read_bytes_sec_max?: number;
  write_bytes_sec_max?: number;
  total_iops_sec_max_length?: number;
  read_iops_sec_max_length?: number;
  write_iops_sec_max_length?: number;
  total_bytes_sec_max_length?: number;
  read_bytes_sec_max_length?: number;
  write_bytes_sec_max_length?: number;
}

const BUCKETS = ['total_iops_sec', 'read_iops_sec', 'write_iops_sec', 'total_bytes_sec', 'read_bytes_sec', 'write_bytes_sec'] as const;
type BucketName = (typeof BUCKETS)[number];

class Bucket {
  level = 0;
  burstLevel = 0;
  constructor(
    readonly avg: number,
    readonly max: number,
    readonly burstLength: number,
    readonly bytes: boolean,
    readonly direction: 'total' | 'read' | 'write',
  ) {}

  leak(seconds: number): void {
    this.level = Math.max(0, this.level - this.avg * seconds);
    if (this.max > 0) this.burstLevel = Math.max(0, this.burstLevel - this.max * seconds);
  }

  /** Seconds until the bucket is back within capacity (0: a command may go now). */
  wait(): number {
    let bucketSize: number;
    let burstSize: number;
    if (this.max === 0) {
      bucketSize = this.avg / 10;
      burstSize = 0;
    } else {
      bucketSize = this.max * this.burstLength;
      burstSize = this.max / 10;
    }
    if (this.max > 0 && this.burstLength > 1 && this.burstLevel > burstSize) return (this.burstLevel - burstSize) / this.max;
    if (this.level > bucketSize) return (this.level - bucketSize) / this.avg;
    return 0;
  }

  charge(units: number): void {
    this.level += units;
    if (this.max > 0) this.burstLevel += units;
  }

  applies(isWrite: boolean): boolean {
    return this.direction === 'total' || (this.direction === 'write') === isWrite;
  }
}

interface Waiter {
  isWrite: boolean;
  bytes: number;
  go: () => void;
}

/** Whether the settings limit anything (an unlimited unit gets no limiter). */
export function hasQosLimits(s: QosLimitSettings | null | undefined): s is QosLimitSettings {
  return s != null && BUCKETS.some((b) => (s[b] ?? 0) > 0);
}

const now = (): number => performance.now() / 1000;

export class QosLimiter {
  private buckets: Bucket[] = [];
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private last: number;

  /** `clock`: seconds, monotonic; a test passes its own so that admission does not depend on how fast it runs. */
  constructor(
    settings: QosLimitSettings,
    private readonly clock: () => number = now,
  ) {
    this.last = clock();
    this.configure(settings);
  }

  /** New limits; the levels the old buckets reached carry over, so a change does not hand out a fresh burst. */
  configure(settings: QosLimitSettings): void {
    this.leak();
    const old = new Map(this.buckets.map((b) => [bucketKey(b), b]));
    this.buckets = [];
    for (const name of BUCKETS) {
      const avg = settings[name] ?? 0;
      if (!(avg > 0)) continue;
      let max = settings[`${name}_max` as keyof QosLimitSettings] ?? 0;
      // QEMU refuses max below avg; a burst slower than the average means no burst.
      if (!(max >= avg)) max = 0;
      const length = max > 0 ? Math.max(1, settings[`${name}_max_length` as keyof QosLimitSettings] ?? 1) : 1;
      const b = new Bucket(avg, max, length, name.endsWith('bytes_sec'), direction(name));
      const prev = old.get(bucketKey(b));
      if (prev) {
        b.level = prev.level;
        b.burstLevel = prev.burstLevel;
      }
      this.buckets.push(b);
    }
    this.drain();
  }

  /**
   * Undefined when the command may run now (it is charged), else a promise that resolves when it may
   * (charged then). Commands wait in arrival order.
   */
  admit(isWrite: boolean, bytes: number): Promise<void> | undefined {
    if (this.queue.length === 0) {
      this.leak();
      if (this.waitFor(isWrite) === 0) {
        this.charge(isWrite, bytes);
        return undefined;
      }
    }
    return new Promise<void>((go) => {
      this.queue.push({ isWrite, bytes, go });
      this.schedule();
    });
  }

  /** Lets every waiting command go (the limits were lifted) and stops the timer. */
  releaseAll(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.queue.splice(0)) w.go();
  }

  get waiting(): number {
    return this.queue.length;
  }

  private leak(): void {
    const t = this.clock();
    const dt = t - this.last;
    this.last = t;
    if (dt > 0) for (const b of this.buckets) b.leak(dt);
  }

  private waitFor(isWrite: boolean): number {
    let w = 0;
    for (const b of this.buckets) if (b.applies(isWrite)) w = Math.max(w, b.wait());
    return w;
  }

  private charge(isWrite: boolean, bytes: number): void {
    for (const b of this.buckets) if (b.applies(isWrite)) b.charge(b.bytes ? bytes : 1);
  }

  private drain(): void {
    this.leak();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.waitFor(head.isWrite) > 0) break;
      this.queue.shift();
      this.charge(head.isWrite, head.bytes);
      head.go();
    }
  }

  private schedule(): void {
    if (this.timer !== null || this.queue.length === 0) return;
    const head = this.queue[0]!;
    this.leak();
    const ms = Math.max(0, this.waitFor(head.isWrite) * 1000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
      this.schedule();
    }, ms);
  }
}

function direction(name: BucketName): 'total' | 'read' | 'write' {
  return name.startsWith('total') ? 'total' : name.startsWith('read') ? 'read' : 'write';
}

function bucketKey(b: Bucket): string {
  return `${b.direction}:${b.bytes}`;
}

/** What a command costs the limiter: the reads and writes that move blocks, by direction and bytes; others are free. */
export function ioCost(cdb: Buffer, blockSize: number): { write: boolean; bytes: number } | undefined {
  switch (cdb[0]) {
    case 0x08: // READ(6)
      return { write: false, bytes: (cdb[4] === 0 ? 256 : cdb[4]!) * blockSize };
    case 0x0a: // WRITE(6)
      return { write: true, bytes: (cdb[4] === 0 ? 256 : cdb[4]!) * blockSize };
    case 0x28: // READ(10)
      return { write: false, bytes: cdb.readUInt16BE(7) * blockSize };
    case 0x2a: // WRITE(10)
    case 0x2e: // WRITE AND VERIFY(10)
      return { write: true, bytes: cdb.readUInt16BE(7) * blockSize };
    case 0xa8: // READ(12)
      return { write: false, bytes: cdb.readUInt32BE(6) * blockSize };
    case 0xaa: // WRITE(12)
    case 0xae: // WRITE AND VERIFY(12)
      return { write: true, bytes: cdb.readUInt32BE(6) * blockSize };
    case 0x88: // READ(16)
      return { write: false, bytes: cdb.readUInt32BE(10) * blockSize };
    case 0x8a: // WRITE(16)
    case 0x8e: // WRITE AND VERIFY(16)
      return { write: true, bytes: cdb.readUInt32BE(10) * blockSize };
    case 0x89: // COMPARE AND WRITE: reads and writes NUMBER OF LOGICAL BLOCKS
      return { write: true, bytes: cdb[13]! * blockSize };
    default:
      return undefined;
  }
}
