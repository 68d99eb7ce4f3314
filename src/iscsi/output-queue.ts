// What a connection sends: PDUs queued in one tick go to the socket in one write, and pooled buffers that queued
// PDUs refer to are given back once the socket has written them.

import type { Socket } from 'node:net';
import { BufferSlab } from '../util/buffer-slab.js';
import { ioBuffers } from '../util/large-buffers.js';
import { encodePduInto, NO_DIGESTS, type DigestSettings, type Pdu } from './pdu.js';

const WRITE_HIGH_WATER = 32 << 20;

/** Where small responses are joined into one write; a piece lives until the socket has sent it. */
const outputBuffers = new BufferSlab();
const RESOLVED = Promise.resolve();

export interface OutputOwner {
  readonly isClosed: boolean;
  /** A write went to the socket: the initiator may answer soon (the server's busy-poll window). */
  outputWritten(): void;
  /** Writing failed: the connection cannot go on. */
  writeFailed(err: unknown): void;
}

export class OutputQueue {
  /** Digests of PDUs sent from now on. */
  digests: DigestSettings = NO_DIGESTS;
  /** Buffers of PDUs sent in this tick, written together by flush() (one writev). */
  private queue: Buffer[] = [];
  /** Pooled read buffers that PDUs in the queue refer to: given back once the socket has written them. */
  private lent: Uint8Array[] = [];
  private flushScheduled = false;
  private readPaused = false;
  private readonly flushQueued = (): void => {
    try {
      this.flush();
    } catch (err) {
      this.owner.writeFailed(err);
    }
  };

  constructor(
    private readonly socket: Socket,
    private readonly owner: OutputOwner,
  ) {}

  /**
   * Input is being handled: what it sends waits for flushHeld() instead of a microtask. False when a flush is already
   * due (input handled from within output): then that one writes it.
   */
  hold(): boolean {
    const holding = !this.flushScheduled;
    this.flushScheduled = true;
    return holding;
  }

  flushHeld(): void {
    this.flushQueued();
  }

  send(pdu: Pdu): void {
    if (!this.flushScheduled) {
      // Sent outside input (an asynchronous completion, a timer): gather every PDU produced in this tick into
      // one write. A plain promise reaction, not nextTick or cork/uncork: it runs after the completions already
      // queued (a batch at high queue depth) and costs one microtask.
      this.flushScheduled = true;
      void RESOLVED.then(this.flushQueued);
    }
    encodePduInto(this.queue, pdu, this.digests);
  }

  /** Keeps a pooled buffer that queued PDUs refer to until the socket has written them, then gives it back. */
  lend(buffer: Uint8Array): void {
    this.lent.push(buffer);
  }

  flush(): void {
    this.flushScheduled = false;
    const out = this.queue;
    if (out.length === 0) return;
    this.queue = [];
    const lent = this.lent;
    if (lent.length > 0) this.lent = [];
    if (this.socket.destroyed) {
      for (const b of lent) ioBuffers.giveBack(b);
      return;
    }
    // Write callbacks run in order, once the data has left (or the write failed): then nothing reads the buffers.
    const sent = lent.length > 0 ? () => lent.forEach((b) => ioBuffers.giveBack(b)) : undefined;
    let bytes = 0;
    for (const b of out) bytes += b.length;
    if (out.length === 1) this.socket.write(out[0], sent);
    else if (bytes <= outputBuffers.maxPieceBytes) {
      // Small responses (a 4 KiB read's header and data, a batch of statuses) are copied into one buffer: the copy
      // is cheaper than the stream's cork, per-buffer bookkeeping and writev.
      const joined = outputBuffers.allocUnsafe(bytes);
      let at = 0;
      for (const b of out) {
        joined.set(b, at);
        at += b.length;
      }
      this.socket.write(joined, sent);
    } else {
      this.socket.cork();
      const last = out.length - 1;
      for (let i = 0; i < last; i++) this.socket.write(out[i]);
      this.socket.write(out[last], sent);
      this.socket.uncork();
    }
    this.owner.outputWritten();
    // Backpressure: a reader that does not keep up stops us reading its new commands,
    // instead of letting responses pile up in memory.
    if (!this.readPaused && this.socket.writableLength > WRITE_HIGH_WATER) {
      this.readPaused = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.readPaused = false;
        if (!this.owner.isClosed) this.socket.resume();
      });
    }
  }
}
