// Short-lived buffers carved out of a larger one. A Buffer of 4 KiB or more is a malloc, an ArrayBuffer and a
// backing-store registration of its own (Node pools only smaller ones), which at queue depth 1 cost more than the
// 4 KiB copy they carry. Pieces are never handed out twice: a full slab is replaced, not rewound, and the garbage
// collector frees it once no piece is referenced, so a piece stays valid as long as anyone holds it.

const ALIGN = 8;

export class BufferSlab {
  private slab: Buffer;
  private used = 0;

  constructor(
    private readonly slabBytes = 1 << 20,
    /** Larger requests get a buffer of their own: a few of them would use up a slab. */
    readonly maxPieceBytes = 64 << 10,
  ) {
    this.slab = Buffer.allocUnsafeSlow(slabBytes);
  }

  /** Uninitialised memory, like Buffer.allocUnsafe: the caller fills all of it. */
  allocUnsafe(length: number): Buffer {
    if (length > this.maxPieceBytes) return Buffer.allocUnsafe(length);
    if (this.used + length > this.slabBytes) {
      this.slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.used = 0;
    }
    const piece = this.slab.subarray(this.used, this.used + length);
    this.used = (this.used + length + ALIGN - 1) & ~(ALIGN - 1);
    return piece;
  }
}
