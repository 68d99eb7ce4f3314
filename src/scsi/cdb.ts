// Field readers shared by the command handlers. CDBs arrive padded to 16 bytes by iSCSI, so fields are
// located by opcode, never by buffer length.

/** 64-bit LBA as a number; values past 2^53 lose precision but are far out of range anyway. */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * 0x1_0000_0000 + b.readUInt32BE(off + 4);
}

export interface LbaRange {
  lba: number;
  blocks: number;
}

/** READ/WRITE(6): 21-bit LBA, transfer length 0 meaning 256 blocks. */
export function range6(cdb: Buffer): LbaRange {
  const blocks = cdb[4];
  return { lba: ((cdb[1] & 0x1f) << 16) | cdb.readUInt16BE(2), blocks: blocks === 0 ? 256 : blocks };
}

export function range10(cdb: Buffer): LbaRange {
  return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
}

export function range12(cdb: Buffer): LbaRange {
  return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6) };
}

export function range16(cdb: Buffer): LbaRange {
  return { lba: readU64(cdb, 2), blocks: cdb.readUInt32BE(10) };
}
