// How many Data-Out bytes a CDB asks for, so the SCSI Response can report overflow or
// underflow against the initiator's Expected Data Transfer Length (RFC 7143 11.4.5.1).
// ScsiResult carries only Data-In, so for writes the transport reads the CDB's own length;
// a SCSI layer that reports `dataOutLength` on its result takes precedence.

/** Returns the byte count, or undefined for CDBs whose Data-Out we do not know (no residual then). */
export function dataOutLength(cdb: Buffer, blockSize: number): number | undefined {
  if (cdb.length < 6) return undefined;
  switch (cdb[0]) {
    case 0x0a: // WRITE(6): 0 means 256 blocks
      return (cdb[4] || 256) * blockSize;
    case 0x2a: // WRITE(10)
    case 0x2e: // WRITE AND VERIFY(10)
      return cdb.length >= 10 ? cdb.readUInt16BE(7) * blockSize : undefined;
    case 0xaa: // WRITE(12)
    case 0xae: // WRITE AND VERIFY(12)
      return cdb.length >= 12 ? cdb.readUInt32BE(6) * blockSize : undefined;
    case 0x8a: // WRITE(16)
    case 0x8e: // WRITE AND VERIFY(16)
    case 0x8b: // ORWRITE(16)
      return cdb.length >= 16 ? cdb.readUInt32BE(10) * blockSize : undefined;
    case 0x89: // COMPARE AND WRITE: verify data then write data
      return cdb.length >= 16 ? 2 * cdb[13] * blockSize : undefined;
    case 0x41: // WRITE SAME(10)
      return blockSize;
    case 0x93: // WRITE SAME(16): NDOB means no data at all
      return cdb.length >= 16 && (cdb[1] & 0x01) !== 0 ? 0 : blockSize;
    case 0x15: // MODE SELECT(6)
      return cdb[4];
    case 0x55: // MODE SELECT(10)
    case 0x42: // UNMAP
      return cdb.length >= 10 ? cdb.readUInt16BE(7) : undefined;
    case 0x5f: // PERSISTENT RESERVE OUT
      return cdb.length >= 10 ? cdb.readUInt32BE(5) : undefined;
    default:
      return undefined;
  }
}
