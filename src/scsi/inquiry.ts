// INQUIRY: standard data and the vital product data pages initiators read to size and identify a disk.
import { dataIn, invalidFieldInCdb } from './sense.js';
import type { LogicalUnitIdentity, ScsiResult } from './types.js';

/** Limits the logical unit enforces and advertises in the Block Limits VPD page. */
export interface BlockLimits {
  maxTransferBlocks: number;
  optimalTransferBlocks: number;
  maxCompareAndWriteBlocks: number;
  maxUnmapBlocks: number;
  maxUnmapDescriptors: number;
  maxWriteSameBlocks: number;
  /** Preferred unmap granularity, in blocks (the filesystem's allocation unit). */
  unmapGranularityBlocks: number;
  /**
   * LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT for READ CAPACITY(16). Default 0: with 3 (4 KiB over 512)
   * libiscsi's GetLBAStatus.UnmapSingle expects a first descriptor that does not start at the requested
   * LBA, which SBC-3 forbids; the unmap granularity in the Block Limits page carries the alignment hint.
   */
  physicalBlockExponent: number;
}

export interface InquiryContext {
  readonly identity: LogicalUnitIdentity;
  readonly blockSize: number;
  readonly limits: BlockLimits;
}

const SUPPORTED_VPD = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

function ascii(text: string, width: number): Buffer {
  const b = Buffer.alloc(width, 0x20);
  b.write(text.slice(0, width), 'ascii');
  return b;
}

export function inquiry(cdb: Buffer, ctx: InquiryContext, peripheral = 0x00): ScsiResult {
  const evpd = cdb[1] & 0x01;
  if (cdb[1] & 0x02) throw invalidFieldInCdb(1, 1); // CMDDT is obsolete
  const page = cdb[2];
  const alloc = cdb.readUInt16BE(3);
  if (!evpd) {
    if (page !== 0) throw invalidFieldInCdb(2);
    return dataIn(standardInquiry(ctx.identity, peripheral), alloc);
  }
  const body = vpdPage(page, ctx);
  if (body === undefined) throw invalidFieldInCdb(2);
  const head = Buffer.alloc(4);
  head[0] = peripheral;
  head[1] = page;
  head.writeUInt16BE(body.length, 2);
  return dataIn(Buffer.concat([head, body]), alloc);
}

export function standardInquiry(identity: LogicalUnitIdentity, peripheral = 0x00): Buffer {
  const b = Buffer.alloc(96);
  b[0] = peripheral;
  b[2] = 0x06; // SPC-4
  b[3] = 0x12; // HISUP, response data format 2
  b[4] = b.length - 5;
  b[7] = 0x02; // CMDQUE: tagged queueing
  ascii(identity.vendor, 8).copy(b, 8);
  ascii(identity.product, 16).copy(b, 16);
  ascii(identity.revision, 4).copy(b, 32);
  // Version descriptors: SAM-5, iSCSI (no version claimed), SPC-4, SBC-3.
  [0x00a0, 0x0960, 0x0460, 0x04c0].forEach((v, i) => b.writeUInt16BE(v, 58 + 2 * i));
  return b;
}

function vpdPage(page: number, ctx: InquiryContext): Buffer | undefined {
  switch (page) {
    case 0x00:
      return Buffer.from(SUPPORTED_VPD);
    case 0x80:
      return Buffer.from(ctx.identity.serial, 'ascii');
    case 0x83:
      return deviceIdentification(ctx.identity);
    case 0xb0:
      return blockLimits(ctx.limits);
    case 0xb1:
      return blockDeviceCharacteristics();
    case 0xb2:
      return logicalBlockProvisioning();
    default:
      return undefined;
  }
}

/** NAA-6 derived from the identity's unique id: same volume, same designator, across restarts. */
export function naaDesignator(uniqueId: Buffer): Buffer {
  const naa = Buffer.alloc(16);
  uniqueId.copy(naa, 0, 0, 16);
  naa[0] = 0x60 | (naa[0] & 0x0f);
  return naa;
}

function designator(codeSet: number, piv: number, association: number, type: number, value: Buffer): Buffer {
  const d = Buffer.alloc(4 + value.length);
  d[0] = codeSet; // protocol identifier 0 unless PIV
  d[1] = (piv << 7) | (association << 4) | type;
  d[3] = value.length;
  value.copy(d, 4);
  return d;
}

function deviceIdentification(identity: LogicalUnitIdentity): Buffer {
  const t10 = Buffer.concat([ascii(identity.vendor, 8), Buffer.from(identity.serial, 'ascii')]);
  const relativePort = Buffer.from([0, 0, 0, 1]);
  return Buffer.concat([
    designator(0x01, 0, 0, 0x3, naaDesignator(identity.uniqueId)), // NAA, binary, LU association
    designator(0x02, 0, 0, 0x1, t10), // T10 vendor id, ASCII, LU association
    designator(0x01, 0, 1, 0x4, relativePort), // relative target port, target port association
  ]);
}

function blockLimits(l: BlockLimits): Buffer {
  const b = Buffer.alloc(0x3c);
  // Offsets below are relative to the page body (page byte N is body byte N-4).
  b[1] = Math.min(l.maxCompareAndWriteBlocks, 255);
  b.writeUInt16BE(1, 2); // optimal transfer length granularity
  b.writeUInt32BE(l.maxTransferBlocks, 4);
  b.writeUInt32BE(l.optimalTransferBlocks, 8);
  b.writeUInt32BE(l.maxTransferBlocks, 12); // maximum prefetch length
  b.writeUInt32BE(l.maxUnmapBlocks, 16);
  b.writeUInt32BE(l.maxUnmapDescriptors, 20);
  b.writeUInt32BE(l.unmapGranularityBlocks, 24);
  b.writeUInt32BE(0x80000000, 28); // UGAVALID, alignment 0
  b.writeBigUInt64BE(BigInt(l.maxWriteSameBlocks), 32);
  return b;
}

function blockDeviceCharacteristics(): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(0x0001, 0); // non-rotating medium
  return b;
}

function logicalBlockProvisioning(): Buffer {
  const b = Buffer.alloc(4);
  b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ: unmapped blocks read as zeroes
  b[2] = 0x02; // thin provisioned
  return b;
}
