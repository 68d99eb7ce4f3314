// The SCSI command path of one session: a command PDU becomes a task, its Data-Out is gathered (immediate data,
// unsolicited bursts, the R2Ts we send), the SCSI layer runs it, and Data-In and the SCSI Response carry the
// result back. Tasks can be aborted on the way.

import type { Logger } from '../log.js';
import type { ScsiCommand, ScsiResult } from '../scsi/types.js';
import { SamStatus } from '../scsi/types.js';
import { ioBuffers } from '../util/large-buffers.js';
import type { SessionParams } from './params.js';
import { decodeLun, EMPTY_SEGMENT, getU32, isFinal, itt as ittOf, Opcode, RejectReason, type Pdu } from './pdu.js';
import { dataIn, readyToTransfer, scsiResponse } from './responses.js';
import { newTask, type Session, type Task } from './session.js';
import { WriteCollector } from './write-collector.js';

/** Executes CDBs for one target: the SCSI layer's LUN map. */
export interface LunTable {
  /** A result when the command completed without waiting, else a promise. */
  execute(lun: number, cmd: ScsiCommand): ScsiResult | Promise<ScsiResult>;
  /** Bytes of Data-Out the CDB asks for, to report residuals against; undefined: none the SCSI layer knows of. */
  expectedDataOutLength(lun: number, cdb: Buffer): number | undefined;
}

/** What the command path needs from its connection. */
export interface CommandConnection {
  readonly isClosed: boolean;
  readonly nexus: string;
  readonly readOnly: boolean;
  /** A normal session on a target: the only kind that carries SCSI commands. */
  readonly carriesScsi: boolean;
  /** The target's LUN map; undefined once the target is gone. */
  lunTable(): LunTable | undefined;
  send(pdu: Pdu): void;
  sendReject(reason: number, rejected: Buffer): void;
  /** Keeps a pooled buffer that queued PDUs refer to until the socket has written them, then gives it back. */
  lendUntilWritten(buffer: Buffer): void;
  /** The socket may have been told to read a placed Data-Out segment into this memory (PduFramer.abandonPlacement). */
  abandonPlacement(backing: ArrayBufferLike): boolean;
  fail(err: unknown): void;
}

export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

export const TmfResponse = {
  COMPLETE: 0,
  NO_TASK: 1,
  NO_LUN: 2,
  REASSIGN_NOT_SUPPORTED: 4,
  NOT_SUPPORTED: 5,
  REJECTED: 255,
} as const;

const MAX_WRITE_BYTES = 64 << 20;
const MAX_WRITE_BYTES_PER_SESSION = 256 << 20;

// Sense for a write whose Data-Out sequence broke (bad DataSN or offset): ABORTED COMMAND,
// DATA PHASE ERROR, so the initiator retries instead of trusting partial data.
const DATA_PHASE_ERROR_SENSE = Buffer.from([0x70, 0, 0x0b, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x4b, 0x00, 0, 0, 0, 0]);

export class ScsiCommandPath {
  /** Bytes of write buffer the session's tasks hold. */
  private writeBytesPending = 0;
  private readonly newTargetTag = (): number => this.session.newTargetTag();

  constructor(
    private readonly conn: CommandConnection,
    private readonly session: Session,
    private readonly params: SessionParams,
    private readonly log: Logger,
  ) {}

  /**
   * Large data segments are read straight into where they belong instead of into the socket's arenas (which would
   * be new memory for every read, and make V8 collect garbage all the time at 1 MiB writes): Data-Out into the
   * write's buffer at its offset, immediate data into a pooled buffer given back once the command has it.
   */
  readonly placeData = (bhs: Buffer, length: number): Buffer | null => {
    switch (bhs[0] & 0x3f) {
      case Opcode.DATA_OUT: {
        const task = this.session.tasks.get(ittOf(bhs));
        if (!task?.collector || task.running) return null;
        const offset = getU32(bhs, 40);
        const buf = task.collector.buffer;
        // A segment that does not fit is left to the collector to refuse.
        return offset + length <= buf.length ? buf.subarray(offset, offset + length) : null;
      }
      case Opcode.SCSI_COMMAND:
        return ioBuffers.take(length);
      default:
        return null;
    }
  };

  onScsiCommand(pdu: Pdu): void {
    const { bhs } = pdu;
    // Immediate data placed in a pooled buffer: whoever ends up with it gives it back (placeData).
    const pooled = pdu.data.length > 0 && ioBuffers.owns(pdu.data) ? pdu.data : undefined;
    if (!this.conn.carriesScsi) {
      this.refuse(pooled, RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    const tag = ittOf(bhs);
    if (this.session.tasks.has(tag)) {
      this.refuse(pooled, RejectReason.TASK_IN_PROGRESS, bhs);
      return;
    }
    const write = (bhs[1] & 0x20) !== 0;
    const edtl = getU32(bhs, 20);
    // The framer's PDUs are views of memory nothing else reuses: keeping a view of the BHS is safe.
    let cdb = bhs.subarray(32, 48);
    // An extended CDB arrives in an AHS of type 1 (RFC 7143 11.3.1.2).
    for (let off = 0; off + 4 <= pdu.ahs.length; ) {
      const len = pdu.ahs.readUInt16BE(off);
      const type = pdu.ahs[off + 2];
      if (type === 1 && off + 4 + len - 1 <= pdu.ahs.length) {
        cdb = Buffer.concat([cdb, pdu.ahs.subarray(off + 4, off + 3 + len)]);
      }
      off += 4 + len + ((4 - (len & 3)) & 3);
    }
    const p = this.params;
    if (pdu.data.length > 0 && (!write || !p.immediateData || pdu.data.length > edtl || pdu.data.length > p.firstBurstLength)) {
      this.refuse(pooled, RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    if (write && edtl > 0 && (edtl > MAX_WRITE_BYTES || this.writeBytesPending + edtl > MAX_WRITE_BYTES_PER_SESSION)) {
      // Write data is gathered in memory before execution: bound it so no initiator can exhaust us.
      if (pooled) ioBuffers.giveBack(pooled);
      this.sendResponse(newTask(bhs, cdb, 0), { status: SamStatus.TASK_SET_FULL }, 0);
      return;
    }
    const task = newTask(bhs, cdb, decodeLun(bhs, 8));
    this.session.tasks.set(tag, task);
    if (write && edtl > 0) {
      this.writeBytesPending += edtl;
      task.reservedBytes = edtl;
      const unsolicitedAllowed = !p.initialR2T && !isFinal(bhs);
      if (!unsolicitedAllowed && pdu.data.length === edtl) {
        // The common small write: all its data came as immediate data, nothing to solicit or gather.
        task.immediateData = pooled;
        this.run(task, pdu.data);
        return;
      }
      task.collector = new WriteCollector(edtl, {
        firstBurstLength: p.firstBurstLength,
        maxBurstLength: p.maxBurstLength,
        maxOutstandingR2T: p.maxOutstandingR2T,
        unsolicitedOpen: unsolicitedAllowed,
        newTargetTag: this.newTargetTag,
      });
      if (pdu.data.length > 0) task.collector.immediate(pdu.data);
      if (pooled) ioBuffers.giveBack(pooled); // copied into the collector
      this.advanceWrite(task);
      return;
    }
    this.run(task, undefined);
  }

  private refuse(pooled: Buffer | undefined, reason: number, bhs: Buffer): void {
    if (pooled) ioBuffers.giveBack(pooled);
    this.conn.sendReject(reason, bhs);
  }

  onDataOut(pdu: Pdu): void {
    const task = this.session.tasks.get(ittOf(pdu.bhs));
    // Data for a task we no longer know (aborted, failed) is dropped quietly.
    if (!task || !task.collector || task.running) return;
    const outcome = task.collector.dataOut({
      ttt: getU32(pdu.bhs, 20),
      dataSN: getU32(pdu.bhs, 36),
      offset: getU32(pdu.bhs, 40),
      final: isFinal(pdu.bhs),
      data: pdu.data,
    });
    if (outcome === 'error') {
      this.log.debug({ itt: task.itt }, 'Data-Out sequence error: failing the command');
      this.session.tasks.delete(task.itt);
      this.release(task);
      this.sendResponse(task, { status: SamStatus.CHECK_CONDITION, sense: DATA_PHASE_ERROR_SENSE }, 0);
      return;
    }
    this.advanceWrite(task);
  }

  /** Sends the R2Ts the collector wants, or runs the command once all data is in. */
  private advanceWrite(task: Task): void {
    const c = task.collector!;
    if (c.complete) {
      this.run(task, c.buffer);
      return;
    }
    for (const r2t of c.takeR2Ts()) {
      this.conn.send(readyToTransfer(this.session, task, r2t.ttt, r2t.r2tSN, r2t.offset, r2t.length));
    }
  }

  private run(task: Task, dataOut: Buffer | undefined): void {
    const table = this.conn.lunTable();
    let exec: ScsiResult | Promise<ScsiResult>;
    try {
      exec = table
        ? table.execute(task.lun, { cdb: task.cdb, dataOut, expectedDataLength: task.edtl, nexus: this.conn.nexus, readOnly: this.conn.readOnly })
        : { status: SamStatus.BUSY };
    } catch (err) {
      exec = Promise.reject(err);
    }
    if (!(exec instanceof Promise)) {
      // Completed without waiting (the page cache served it): respond now, no promise, no microtask.
      this.complete(task, exec);
      return;
    }
    // One reaction per command: completion and its own failure handled in the same callback.
    task.running = exec.then(
      (result) => {
        try {
          this.complete(task, result);
        } catch (err) {
          this.conn.fail(err);
        }
      },
      (err: unknown) => {
        try {
          this.log.error({ err: err instanceof Error ? err.message : String(err), itt: task.itt }, 'SCSI execution failed');
          this.complete(task, { status: SamStatus.BUSY });
        } catch (err2) {
          this.conn.fail(err2);
        }
      },
    );
  }

  private release(task: Task): void {
    if (task.reservedBytes) this.writeBytesPending -= task.reservedBytes;
    task.reservedBytes = 0;
    // Only called once the command no longer runs: nothing reads the written data any more. But the socket may have
    // been told to read a Data-Out segment into it (an abort from another session): then it is left to the collector.
    if (task.collector && !this.conn.abandonPlacement(task.collector.buffer.buffer)) ioBuffers.giveBack(task.collector.buffer);
    task.collector = undefined;
    if (task.immediateData) ioBuffers.giveBack(task.immediateData);
    task.immediateData = undefined;
  }

  private complete(task: Task, result: ScsiResult): void {
    this.release(task);
    if (task.aborted || this.conn.isClosed) {
      if (result.data) ioBuffers.giveBack(result.data);
      return;
    }
    this.session.tasks.delete(task.itt);
    let data = task.read ? (result.data ?? EMPTY_SEGMENT) : EMPTY_SEGMENT;
    // Residuals compare what the command wanted with what the initiator expected (RFC 7143 11.4.5).
    let residual = 0;
    if (task.read) residual = (result.data?.length ?? 0) - task.edtl;
    else if (result.status === SamStatus.GOOD) {
      const wanted = this.conn.lunTable()?.expectedDataOutLength(task.lun, task.cdb);
      if (wanted !== undefined) residual = wanted - task.edtl;
    }
    if (data.length > task.edtl) data = data.subarray(0, task.edtl);
    if (data.length > 0) this.sendDataIn(task, data, result, residual);
    else this.sendResponse(task, result, residual);
    if (result.data && ioBuffers.owns(result.data)) this.conn.lendUntilWritten(result.data);
  }

  private sendDataIn(task: Task, data: Buffer, result: ScsiResult, residual: number): void {
    const p = this.params;
    const maxSegment = p.initiatorMaxRecvDataSegmentLength;
    const statusInData = result.status === SamStatus.GOOD && !result.sense;
    let dataSN = 0;
    let sinceBurst = 0;
    for (let offset = 0; offset < data.length; ) {
      const len = Math.min(maxSegment, data.length - offset, p.maxBurstLength - sinceBurst);
      const last = offset + len >= data.length;
      sinceBurst += len;
      const endOfBurst = last || sinceBurst >= p.maxBurstLength;
      if (endOfBurst) sinceBurst = 0;
      const segment = len === data.length ? data : data.subarray(offset, offset + len);
      this.conn.send(dataIn(this.session, task, segment, offset, dataSN++, endOfBurst, last && statusInData, result.status, residual));
      offset += len;
    }
    if (!statusInData) this.sendResponse(task, result, residual, dataSN);
  }

  private sendResponse(task: Task, result: ScsiResult, residual: number, expDataSN = 0): void {
    this.conn.send(scsiResponse(this.session, task.itt, result.status, result.sense, residual, expDataSN));
  }

  /** Marks matching tasks aborted (no response will be sent) and waits for running ones. */
  async abortTasks(match: (lun: number, itt: number) => boolean): Promise<number> {
    const waits: Promise<void>[] = [];
    let count = 0;
    for (const t of [...this.session.tasks.values()]) {
      if (!match(t.lun, t.itt)) continue;
      t.aborted = true;
      this.session.tasks.delete(t.itt);
      if (!t.running) this.release(t);
      count++;
      if (t.running) waits.push(t.running);
    }
    await Promise.allSettled(waits);
    return count;
  }

  /** Resolves once every command received so far has completed (a logout waits for them, RFC 7143 11.14). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.session.tasks.values()].map((t) => t.running).filter((r): r is Promise<void> => !!r));
  }
}
