// Unit attention conditions, queued per I_T nexus (SAM-5 5.14, SPC-4 5.11).
import { Asc } from './sense.js';

export class UnitAttentions {
  /** Nexuses that have talked to this LU; a nexus first seen gets POWER ON, RESET. */
  private readonly pending = new Map<string, number[]>();

  /** Called for every command; registers a new nexus with its power-on condition. */
  noteNexus(nexus: string): void {
    if (!this.pending.has(nexus)) this.pending.set(nexus, [Asc.POWER_ON_RESET]);
  }

  hasPending(nexus: string): boolean {
    const q = this.pending.get(nexus);
    return q !== undefined && q.length > 0;
  }

  /** Pops the oldest condition for the nexus, or undefined. */
  take(nexus: string): number | undefined {
    return this.pending.get(nexus)?.shift();
  }

  /** Queues a condition for one nexus (no duplicates: the initiator needs to see it once). */
  raise(nexus: string, ascq: number): void {
    const q = this.pending.get(nexus);
    if (q === undefined) return; // a nexus not yet seen will get POWER ON first, which subsumes this
    if (!q.includes(ascq)) q.push(ascq);
  }

  /** Queues a condition for every known nexus except `except`. */
  raiseAll(ascq: number, except?: string): void {
    for (const nexus of this.pending.keys()) if (nexus !== except) this.raise(nexus, ascq);
  }

  /**
   * A reset replaces whatever was pending: the initiator must re-learn everything anyway. The nexus that
   * asked for the reset already knows (SAM-5 7.6: every I_T nexus except the one the function came on).
   */
  resetAll(ascq: number, except?: string): void {
    for (const [nexus, q] of this.pending) {
      if (nexus === except) q.length = 0;
      else q.splice(0, q.length, ascq);
    }
  }

  /** The nexus is gone; if it comes back it starts again with POWER ON, RESET. */
  forget(nexus: string): void {
    this.pending.delete(nexus);
  }
}
