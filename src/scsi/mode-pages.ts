// MODE SENSE / MODE SELECT (SPC-4 6.11-6.14, SBC-3 6.4): caching, control, informational exceptions.
import { Asc, ScsiError, SenseKey, dataIn, good, invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from './sense.js';
import type { ScsiResult } from './types.js';

const PC_CURRENT = 0;
const PC_CHANGEABLE = 1;
const PC_DEFAULT = 2;
const PC_SAVED = 3;

interface PageDef {
  code: number;
  /** Default values, page header included. */
  defaults: Buffer;
  /** Bits an initiator may change with MODE SELECT. */
  changeable: Buffer;
}

const page = (code: number, length: number, fill: Record<number, number>): Buffer => {
  const b = Buffer.alloc(length + 2);
  b[0] = code;
  b[1] = length;
  for (const [i, v] of Object.entries(fill)) b[Number(i)] = v;
  return b;
};

const PAGES: PageDef[] = [
  // Read-write error recovery: AWRE, ARRE, nothing changeable.
  { code: 0x01, defaults: page(0x01, 0x0a, { 2: 0xc0 }), changeable: page(0x01, 0x0a, {}) },
  // Caching: WCE on by default (write-back), changeable; the initiator turns write-through on by clearing it.
  { code: 0x08, defaults: page(0x08, 0x12, { 2: 0x04 }), changeable: page(0x08, 0x12, { 2: 0x04 }) },
  // Control: GLTSD, unrestricted reordering, busy timeout unlimited; D_SENSE stays 0 (fixed-format sense only).
  {
    code: 0x0a,
    defaults: page(0x0a, 0x0a, { 2: 0x02, 3: 0x10, 8: 0xff, 9: 0xff }),
    changeable: page(0x0a, 0x0a, {}),
  },
  // Informational exceptions control: DEXCPT (no failure prediction to report).
  { code: 0x1c, defaults: page(0x1c, 0x0a, { 2: 0x08 }), changeable: page(0x1c, 0x0a, {}) },
];
for (const p of PAGES) p.changeable[0] = p.code;

export interface ModeContext {
  blockSize: number;
  blocks: number;
  writeProtected: boolean;
}

export class ModePages {
  private readonly current = new Map<number, Buffer>(PAGES.map((p) => [p.code, Buffer.from(p.defaults)]));

  /** Write cache enabled: writes complete before reaching stable storage unless FUA. */
  get writeCacheEnabled(): boolean {
    return (this.current.get(0x08)![2] & 0x04) !== 0;
  }

  sense(cdb: Buffer, ctx: ModeContext): ScsiResult {
    const ten = cdb[0] === 0x5a;
    const dbd = (cdb[1] & 0x08) !== 0;
    const llbaa = ten && (cdb[1] & 0x10) !== 0;
    const pc = cdb[2] >> 6;
    const code = cdb[2] & 0x3f;
    const subpage = cdb[3];
    const alloc = ten ? cdb.readUInt16BE(7) : cdb[4];
    if (pc === PC_SAVED) throw new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED);

    let pages: Buffer[];
    if (code === 0x3f) {
      if (subpage !== 0x00 && subpage !== 0xff) throw invalidFieldInCdb(3);
      pages = PAGES.map((p) => this.pageFor(p, pc));
    } else {
      const def = PAGES.find((p) => p.code === code);
      if (def === undefined) throw invalidFieldInCdb(2, 5);
      if (subpage !== 0) throw invalidFieldInCdb(3);
      pages = [this.pageFor(def, pc)];
    }

    const descriptor = dbd ? Buffer.alloc(0) : blockDescriptor(ctx, llbaa);
    const headerLength = ten ? 8 : 4;
    const body = Buffer.concat([descriptor, ...pages]);
    const head = Buffer.alloc(headerLength);
    const deviceSpecific = (ctx.writeProtected ? 0x80 : 0) | 0x10; // WP, DPOFUA
    if (ten) {
      head.writeUInt16BE(headerLength - 2 + body.length, 0);
      head[3] = deviceSpecific;
      if (llbaa && !dbd) head[4] = 0x01; // LONGLBA
      head.writeUInt16BE(descriptor.length, 6);
    } else {
      head[0] = Math.min(255, headerLength - 1 + body.length);
      head[2] = deviceSpecific;
      head[3] = descriptor.length;
    }
    return dataIn(Buffer.concat([head, body]), alloc);
  }

  private pageFor(def: PageDef, pc: number): Buffer {
    if (pc === PC_CHANGEABLE) return def.changeable;
    if (pc === PC_DEFAULT) return def.defaults;
    return this.current.get(def.code)!;
  }

  /** Applies MODE SELECT(6/10); returns true if a current value changed (other nexuses get a unit attention). */
  select(cdb: Buffer, data: Buffer | undefined, blockSize: number): { result: ScsiResult; changed: boolean } {
    const ten = cdb[0] === 0x55;
    if (cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // SP: nothing is saved across power loss
    const listLength = ten ? cdb.readUInt16BE(7) : cdb[4];
    if (listLength === 0) return { result: good(), changed: false };
    const p = data ?? Buffer.alloc(0);
    const headerLength = ten ? 8 : 4;
    if (p.length < listLength || listLength < headerLength) throw parameterListLengthError();
    const list = p.subarray(0, listLength);
    const bdLength = ten ? list.readUInt16BE(6) : list[3];
    let off = headerLength;
    if (off + bdLength > list.length) throw parameterListLengthError();
    if (bdLength > 0) {
      const long = ten && (list[4] & 0x01) !== 0;
      const len = long ? list.readUInt32BE(off + 12) : list.readUIntBE(off + 5, 3);
      if (len !== blockSize) throw invalidFieldInParameterList(off + (long ? 12 : 5));
    }
    off += bdLength;

    const staged = new Map<number, Buffer>();
    while (off < list.length) {
      if (off + 2 > list.length) throw parameterListLengthError();
      const code = list[off] & 0x3f;
      if (list[off] & 0x40) throw invalidFieldInParameterList(off, 6); // no subpages are implemented
      const def = PAGES.find((d) => d.code === code);
      if (def === undefined) throw invalidFieldInParameterList(off);
      const len = list[off + 1];
      if (len !== def.defaults[1]) throw invalidFieldInParameterList(off + 1);
      if (off + 2 + len > list.length) throw parameterListLengthError();
      const incoming = list.subarray(off, off + 2 + len);
      const cur = this.current.get(code)!;
      for (let i = 2; i < incoming.length; i++) {
        if ((incoming[i] ^ cur[i]) & ~def.changeable[i] & 0xff) throw invalidFieldInParameterList(off + i);
      }
      const next = Buffer.from(cur);
      for (let i = 2; i < incoming.length; i++) {
        next[i] = (cur[i] & ~def.changeable[i]) | (incoming[i] & def.changeable[i]);
      }
      staged.set(code, next);
      off += 2 + len;
    }
    let changed = false;
    for (const [code, next] of staged) {
      if (!next.equals(this.current.get(code)!)) changed = true;
      this.current.set(code, next);
    }
    return { result: good(), changed };
  }
}

function blockDescriptor(ctx: ModeContext, long: boolean): Buffer {
  if (long) {
    const d = Buffer.alloc(16);
    d.writeBigUInt64BE(BigInt(ctx.blocks), 0);
    d.writeUInt32BE(ctx.blockSize, 12);
    return d;
  }
  const d = Buffer.alloc(8);
  d.writeUInt32BE(Math.min(ctx.blocks, 0xffffffff), 0);
  d.writeUIntBE(ctx.blockSize, 5, 3);
  return d;
}
