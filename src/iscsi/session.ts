// The session's command window and task table: which requests run now, which wait for a CmdSN
// gap to close, what StatSN, ExpCmdSN and MaxCmdSN responses carry, and the SCSI tasks that are in flight.

import { getU32, setU32, snAdd, snLess, type Pdu } from './pdu.js';
import type { SequenceStamp } from './responses.js';
import type { WriteCollector } from './write-collector.js';

// Every field is set when a task is made (see newTask), so all tasks share one shape and the data path's property
// loads stay monomorphic.
export interface Task {
  itt: number;
  lun: number;
  /** The request's 8-byte LUN field as two words, echoed in Data-In and R2T. */
  lunHigh: number;
  lunLow: number;
  cdb: Buffer;
  edtl: number;
  read: boolean;
  write: boolean;
  collector: WriteCollector | undefined;
  /** Pooled immediate data that a write runs on directly (placeData): given back when the task is released. */
  immediateData: Buffer | undefined;
  aborted: boolean;
  running: Promise<void> | undefined;
  /** Bytes of write buffer this task holds against the session budget. */
  reservedBytes: number;
}

export function newTask(bhs: Buffer, cdb: Buffer, lun: number): Task {
  return {
    itt: getU32(bhs, 16),
    lun,
    lunHigh: getU32(bhs, 8),
    lunLow: getU32(bhs, 12),
    cdb,
    edtl: getU32(bhs, 20),
    read: (bhs[1] & 0x40) !== 0,
    write: (bhs[1] & 0x20) !== 0,
    collector: undefined,
    immediateData: undefined,
    aborted: false,
    running: undefined,
    reservedBytes: 0,
  };
}

/** What becomes of a non-immediate request, by its CmdSN. */
export const CmdSNVerdict = {
  /** It is the next one expected: run it (then whatever waited behind it, see nextInOrder). */
  RUN: 0,
  /** Inside the window, ahead of a gap: kept until the gap closes. */
  QUEUED: 1,
  /** Outside the window (a duplicate or beyond MaxCmdSN): ignored. */
  OUTSIDE: 2,
} as const;

export class Session implements SequenceStamp {
  /** In-flight SCSI tasks by initiator task tag. */
  readonly tasks = new Map<number, Task>();
  private statSN = 0;
  private expCmdSN = 0;
  private maxCmdSN = 0;
  private readonly pendingByCmdSN = new Map<number, Pdu>();
  private nextTargetTag = 1;

  constructor(private readonly queueDepth: number) {}

  /** Numbering starts from the first login request's CmdSN; StatSN from a point of our choosing. */
  start(cmdSN: number): void {
    this.expCmdSN = cmdSN;
    this.maxCmdSN = snAdd(cmdSN, this.queueDepth - 1);
    this.statSN = (Math.random() * 0x10000) >>> 0;
  }

  admit(cmdSN: number, pdu: Pdu): number {
    if (cmdSN === this.expCmdSN) {
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      return CmdSNVerdict.RUN;
    }
    if (snLess(this.expCmdSN, cmdSN) && !snLess(this.maxCmdSN, cmdSN)) {
      if (!this.pendingByCmdSN.has(cmdSN)) this.pendingByCmdSN.set(cmdSN, pdu);
      return CmdSNVerdict.QUEUED;
    }
    return CmdSNVerdict.OUTSIDE;
  }

  /** The request that waited for the gap just closed, if any; it counts as run. */
  nextInOrder(): Pdu | undefined {
    const next = this.pendingByCmdSN.get(this.expCmdSN);
    if (next === undefined) return undefined;
    this.pendingByCmdSN.delete(this.expCmdSN);
    this.expCmdSN = snAdd(this.expCmdSN, 1);
    return next;
  }

  /** The window, for a log line about a request outside it. */
  window(): { expCmdSN: number; maxCmdSN: number } {
    return { expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }

  stamp(bhs: Buffer, advanceStatSN: boolean): void {
    setU32(bhs, 24, this.statSN);
    if (advanceStatSN) this.statSN = snAdd(this.statSN, 1);
    setU32(bhs, 28, this.expCmdSN);
    setU32(bhs, 32, this.currentMaxCmdSN());
  }

  /** The MaxCmdSN to advertise: never lower than before (initiators ignore decreases). */
  private currentMaxCmdSN(): number {
    const free = Math.max(0, this.queueDepth - this.tasks.size);
    const candidate = snAdd(this.expCmdSN, free - 1);
    if (snLess(this.maxCmdSN, candidate)) this.maxCmdSN = candidate;
    return this.maxCmdSN;
  }

  newTargetTag(): number {
    const t = this.nextTargetTag;
    this.nextTargetTag = this.nextTargetTag >= 0x7fffffff ? 1 : this.nextTargetTag + 1;
    return t;
  }

  /** The connection is gone (ERL 0): every task is abandoned, every waiting request dropped. */
  end(): void {
    for (const t of this.tasks.values()) t.aborted = true;
    this.tasks.clear();
    this.pendingByCmdSN.clear();
  }
}
