// Gathers the Data-Out of one write command: immediate data, the unsolicited burst
// (InitialR2T=No) and the bursts we solicit with R2T, bounded by MaxBurstLength and
// MaxOutstandingR2T (RFC 7143 sections 4.2.5.2 and 11.7-11.8). Any DataSN, offset or
// length that does not fit the sequence we expect is an error for the whole command.

import { RESERVED_TAG } from './pdu.js';
import { ioBuffers } from '../util/large-buffers.js';

export interface WriteCollectorOptions {
  firstBurstLength: number;
  maxBurstLength: number;
  maxOutstandingR2T: number;
  /** The command PDU had F=0 with InitialR2T=No: unsolicited Data-Out PDUs follow. */
  unsolicitedOpen: boolean;
  newTargetTag(): number;
}

export interface DataOutPdu {
  ttt: number;
  dataSN: number;
  offset: number;
  final: boolean;
  data: Buffer;
}

export interface R2TRequest {
  ttt: number;
  r2tSN: number;
  offset: number;
  length: number;
}

export type DataOutOutcome = 'ok' | 'error';

interface Sequence {
  offset: number;
  length: number;
  received: number;
  nextDataSN: number;
}

export class WriteCollector {
  readonly buffer: Buffer;
  private received = 0;
  private unsolicited: Sequence | null;
  private readonly solicited = new Map<number, Sequence>();
  /** Next offset not yet covered by immediate, unsolicited or requested data. */
  private nextOffset = 0;
  private r2tSN = 0;

  constructor(
    private readonly edtl: number,
    private readonly opts: WriteCollectorOptions,
  ) {
    // The connection gives it back once the command is done with it.
    this.buffer = ioBuffers.take(edtl);
    const limit = Math.min(opts.firstBurstLength, edtl);
    this.unsolicited = opts.unsolicitedOpen ? { offset: 0, length: limit, received: 0, nextDataSN: 0 } : null;
  }

  get complete(): boolean {
    return this.received >= this.edtl && this.unsolicited === null && this.solicited.size === 0;
  }

  immediate(data: Buffer): void {
    data.copy(this.buffer, 0);
    this.received += data.length;
    this.nextOffset = data.length;
    if (this.unsolicited) this.unsolicited.received = data.length;
  }

  dataOut(pdu: DataOutPdu): DataOutOutcome {
    let seq: Sequence | undefined;
    if (pdu.ttt === RESERVED_TAG) seq = this.unsolicited ?? undefined;
    else seq = this.solicited.get(pdu.ttt);
    if (!seq) return 'error';
    if (pdu.dataSN !== seq.nextDataSN) return 'error';
    seq.nextDataSN++;
    const end = pdu.offset + pdu.data.length;
    // In-order data only (DataPDUInOrder=Yes): each PDU continues where the last one stopped.
    if (pdu.offset !== seq.offset + seq.received || end > seq.offset + seq.length || end > this.edtl) return 'error';
    // The connection may have read the segment straight into place (ScsiCommandPath.placeData, command-path.ts).
    const inPlace = pdu.data.buffer === this.buffer.buffer && pdu.data.byteOffset === this.buffer.byteOffset + pdu.offset;
    if (!inPlace) pdu.data.copy(this.buffer, pdu.offset);
    seq.received += pdu.data.length;
    this.received += pdu.data.length;
    if (pdu.ttt === RESERVED_TAG) {
      if (seq.received > this.nextOffset) this.nextOffset = seq.received;
      if (pdu.final) this.unsolicited = null;
    } else if (pdu.final) {
      if (seq.received !== seq.length) return 'error';
      this.solicited.delete(pdu.ttt);
    }
    return 'ok';
  }

  /** R2Ts to send now: none while the unsolicited burst is still arriving. */
  takeR2Ts(): R2TRequest[] {
    const out: R2TRequest[] = [];
    if (this.unsolicited) return out;
    while (this.solicited.size < this.opts.maxOutstandingR2T && this.nextOffset < this.edtl) {
      const length = Math.min(this.opts.maxBurstLength, this.edtl - this.nextOffset);
      const ttt = this.opts.newTargetTag();
      this.solicited.set(ttt, { offset: this.nextOffset, length, received: 0, nextDataSN: 0 });
      out.push({ ttt, r2tSN: this.r2tSN++, offset: this.nextOffset, length });
      this.nextOffset += length;
    }
    return out;
  }
}
