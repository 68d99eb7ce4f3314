// LBA range lock: ordinary I/O shares ranges freely; COMPARE AND WRITE takes its range exclusively so that
// no overlapping read or write can slip between its compare and its write (SBC-3 5.2: the command is atomic).

interface Holder {
  start: number;
  end: number; // exclusive
  exclusive: boolean;
}

interface Waiter {
  h: Holder;
  resolve: (release: Release) => void;
}

const conflicts = (a: Holder, b: Holder): boolean =>
  (a.exclusive || b.exclusive) && a.start < b.end && b.start < a.end;

export type Release = () => void;

export class RangeLock {
  private readonly held = new Set<Holder>();
  private waiters: Waiter[] = [];
  /** Exclusive holders; while zero and nobody waits, shared requests are granted without a scan. */
  private exclusiveHeld = 0;

  /** Returns the release function directly when nothing conflicts, so ordinary I/O never awaits. */
  acquire(start: number, length: number, exclusive: boolean): Release | Promise<Release> {
    const h: Holder = { start, end: start + Math.max(length, 1), exclusive };
    if (this.waiters.length === 0 && !exclusive && this.exclusiveHeld === 0) return this.grant(h);
    if (this.waiters.length === 0 && !this.conflictsWithHeld(h)) return this.grant(h);
    // Behind any earlier conflicting waiter too, so an exclusive request is not starved by a stream of reads.
    if (!this.conflictsWithHeld(h) && !this.waiters.some((w) => conflicts(h, w.h))) return this.grant(h);
    return new Promise<Release>((resolve) => this.waiters.push({ h, resolve }));
  }

  get size(): number {
    return this.held.size;
  }

  private conflictsWithHeld(h: Holder): boolean {
    if (this.held.size === 0) return false;
    for (const other of this.held) if (conflicts(h, other)) return true;
    return false;
  }

  private grant(h: Holder): Release {
    this.held.add(h);
    if (h.exclusive) this.exclusiveHeld++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(h);
      if (h.exclusive) this.exclusiveHeld--;
      if (this.waiters.length > 0) this.wake();
    };
  }

  private wake(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.conflictsWithHeld(w.h) || still.some((s) => conflicts(w.h, s.h))) still.push(w);
      else w.resolve(this.grant(w.h));
    }
    this.waiters = still;
  }
}
