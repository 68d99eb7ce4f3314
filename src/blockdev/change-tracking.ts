// A block device that can record which byte ranges changed: a copy of the file made beside the writes (a sparse
// copy takes seconds per GiB) is then brought up to date by copying those ranges again, and only that last catch-up
// needs writes held (issue 12: the quiesce window as short as possible).
import type { BlockDevice } from '../scsi/types.js';
import { coalesce } from './file.js';

const MERGE_AT = 65536;

export interface ChangedRange {
  offset: number;
  length: number;
}

/**
 * Passes everything to the device it wraps. While tracking, it notes the range of every write and discard that
 * completes (fails included: a failed write may have written part of its range). Noting at completion, not at
 * submission, also catches writes submitted before tracking began that land after: the copy may have read their
 * range too early.
 */
export class ChangeTrackingDevice implements BlockDevice {
  private changed: ChangedRange[] | null = null;
  private mergeAt = MERGE_AT;

  constructor(private readonly inner: BlockDevice) {}

  get blockSize(): number {
    return this.inner.blockSize;
  }

  get readOnly(): boolean | undefined {
    return this.inner.readOnly;
  }

  size(): number {
    return this.inner.size();
  }

  read(offset: number, length: number): Buffer | Promise<Buffer> {
    return this.inner.read(offset, length);
  }

  write(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    let r: void | Promise<void>;
    try {
      r = this.inner.write(offset, data, fua);
    } catch (err) {
      this.note(offset, data.length);
      throw err;
    }
    if (r instanceof Promise) return r.finally(() => this.note(offset, data.length));
    this.note(offset, data.length);
  }

  discard(offset: number, length: number): Promise<void> {
    return this.inner.discard(offset, length).finally(() => this.note(offset, length));
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async refreshSize(): Promise<void> {
    await this.inner.refreshSize?.();
  }

  /** Starts noting changes (again from nothing). */
  startTracking(): void {
    this.changed = [];
    this.mergeAt = MERGE_AT;
  }

  /** The ranges changed since tracking started or since the last take, merged; tracking goes on. */
  takeChanges(): ChangedRange[] {
    if (this.changed === null) throw new Error('changes are not being tracked');
    const out = coalesce(this.changed);
    this.changed = [];
    this.mergeAt = MERGE_AT;
    return out;
  }

  stopTracking(): void {
    this.changed = null;
  }

  private note(offset: number, length: number): void {
    if (this.changed === null) return;
    this.changed.push({ offset, length });
    // Rewrites of the same blocks (a journal, a database page) merge: memory follows the blocks touched, not the writes.
    if (this.changed.length >= this.mergeAt) {
      this.changed = coalesce(this.changed);
      this.mergeAt = Math.max(MERGE_AT, 2 * this.changed.length);
    }
  }
}
