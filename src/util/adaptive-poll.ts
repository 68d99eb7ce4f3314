// Keeps the event loop from going to sleep for a short, self-tuning window after network activity.
//
// At queue depth 1 the target answers a command and then waits for the next one. If the thread sleeps in epoll
// meanwhile, the next command has to wake it, and on a virtual machine that wake-up (an idle vCPU halts, the host
// must schedule it again) was the largest single cost of a round trip: measured on the 2-vCPU guest of
// docs/benchmarks.md, staying awake raised 4 KiB QD1 reads from 5.7k to 9.6k IOPS. Staying awake means keeping an
// immediate queued: libuv then polls with a zero timeout and handles I/O as soon as it arrives, and everything else
// on the loop (the HTTP API, timers) runs as usual.
//
// The window opens when input arrives and again when output goes out (an answer after a slow flush may be followed
// at once by the next command). Polling costs CPU, so the window adapts the way KVM's halt polling does: it grows
// when input came too late for the window but soon enough that a longer one (up to the maximum) would have caught
// it, shrinks when the gap was longer than the maximum (polling would have been wasted), and stays when polling
// caught the input. An idle service polls at most one window after its last event, and a steady trickle of
// far-apart requests switches it off. So does a stream of commands that follow each other within microseconds (high
// queue depth): the loop would not have slept for those anyway (MIN_USEFUL_NS).

/**
 * Input that comes sooner than this after our output would not have found the loop asleep yet, so polling for it
 * gains nothing; at high queue depth it even costs, because reading each command the moment it lands breaks up the
 * batches a sleeping loop would find (measured: up to a quarter of the QD32 IOPS). Such input shrinks the window.
 * (Input soon after input is the rest of the same message, say a write's data after its header: no sign either way.)
 */
const MIN_USEFUL_NS = 20_000n;
/** First window when polling starts. */
const GROW_START_NS = MIN_USEFUL_NS;

export interface PollStats {
  /** Events that arrived while polling. */
  hits: number;
  /** Events that arrived after the loop had gone to sleep. */
  misses: number;
  /** Time spent polling, in seconds (about the CPU time it costs). */
  pollSeconds: number;
  /** The current window in microseconds. */
  windowMicroseconds: number;
}

export interface AdaptivePollOptions {
  /**
   * Monotonic time in nanoseconds, always above 0 (0 means "nothing seen yet"); process.hrtime.bigint unless given.
   * Tests pass a fake clock so that gaps between events are exact instead of whatever a loaded machine makes them.
   */
  clock?: () => bigint;
}

export class AdaptivePoll {
  private readonly maxNs: bigint;
  private readonly clock: () => bigint;
  private windowNs = 0n;
  private armedAt = 0n;
  /** The window was last opened by output (else by input). */
  private armedBySend = false;
  private pollStarted = 0n;
  private pollEndsAt = 0n;
  private polling = false;
  private stopped = false;
  private hits = 0;
  private misses = 0;
  private pollNs = 0n;

  /** `maxMicroseconds` 0 turns polling off. */
  constructor(maxMicroseconds: number, options: AdaptivePollOptions = {}) {
    if (!Number.isInteger(maxMicroseconds) || maxMicroseconds < 0) {
      throw new RangeError(`busy-poll window must be a whole number of microseconds >= 0, got ${maxMicroseconds}`);
    }
    this.maxNs = BigInt(maxMicroseconds) * 1000n;
    this.clock = options.clock ?? process.hrtime.bigint;
  }

  /** Input arrived: counts whether polling caught it and tunes the window, then polls for the next. */
  arrived(): void {
    if (this.maxNs === 0n || this.stopped) return;
    const now = this.clock();
    const gap = now - this.armedAt;
    if (this.polling) {
      this.hits++;
      if (gap < MIN_USEFUL_NS && this.armedBySend) this.shrink();
    } else if (this.armedAt !== 0n) {
      this.misses++;
      if (gap >= MIN_USEFUL_NS) this.adapt(gap);
    }
    this.arm(now, false);
  }

  /** Output went out and an answer may follow soon: polls for up to the window from now. */
  sent(): void {
    if (this.maxNs === 0n || this.stopped) return;
    this.arm(this.clock(), true);
  }

  /** No more polling (the server is closing). */
  stop(): void {
    this.stopped = true;
    this.pollEndsAt = 0n;
  }

  stats(): PollStats {
    return {
      hits: this.hits,
      misses: this.misses,
      pollSeconds: Number(this.pollNs) / 1e9,
      windowMicroseconds: Number(this.windowNs / 1000n),
    };
  }

  private arm(now: bigint, bySend: boolean): void {
    this.armedAt = now;
    this.armedBySend = bySend;
    if (this.windowNs === 0n) return;
    this.pollEndsAt = now + this.windowNs;
    if (!this.polling) {
      this.polling = true;
      this.pollStarted = now;
      setImmediate(this.tick);
    }
  }

  /** After a miss; `gapNs`: from the last input or output to this input. */
  private adapt(gapNs: bigint): void {
    if (gapNs > this.maxNs) return this.shrink();
    const grown = this.windowNs === 0n ? GROW_START_NS : this.windowNs * 2n;
    this.windowNs = grown < this.maxNs ? grown : this.maxNs;
  }

  private shrink(): void {
    this.windowNs /= 2n;
    if (this.windowNs < GROW_START_NS) this.windowNs = 0n;
  }

  private readonly tick = (): void => {
    const now = this.clock();
    if (now < this.pollEndsAt) {
      setImmediate(this.tick);
      return;
    }
    this.polling = false;
    this.pollNs += now - this.pollStarted;
  };
}
