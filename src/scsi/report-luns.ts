// REPORT LUNS (SPC-4 6.33) data, and LUN encoding (SAM-5 4.7).
import { dataIn, invalidFieldInCdb } from './sense.js';
import type { ScsiResult } from './types.js';

/** The LUN an 8-byte LUN field (at `offset`) names (peripheral or flat space addressing), or -1 for other methods. */
export function decodeLun(field: Buffer, offset = 0): number {
  const method = field[offset] >> 6;
  if (method === 0 || method === 1) return ((field[offset] & 0x3f) << 8) | field[offset + 1];
  return -1;
}

/** 8-byte LUN: peripheral device addressing below 256, flat space addressing up to 16383. */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  }
  return b;
}

export function reportLunsData(cdb: Buffer, luns: number[]): ScsiResult {
  const select = cdb[2];
  const alloc = cdb.readUInt32BE(6);
  if (alloc < 16) throw invalidFieldInCdb(6);
  // 00h all LUNs, 02h all (no well-known LUNs exist), 01h well-known only: none.
  if (select !== 0x00 && select !== 0x01 && select !== 0x02) throw invalidFieldInCdb(2);
  const list = select === 0x01 ? [] : [...luns].sort((a, b) => a - b);
  const b = Buffer.alloc(8 + 8 * list.length);
  b.writeUInt32BE(8 * list.length, 0);
  list.forEach((lun, i) => encodeLun(lun).copy(b, 8 + 8 * i));
  return dataIn(b, alloc);
}
