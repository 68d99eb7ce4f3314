// MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.35, 6.36).
import type { CommandCatalog, CommandInfo } from './command.js';
import { dataIn, invalidFieldInCdb } from './sense.js';
import type { ScsiResult } from './types.js';

const TIMEOUTS_DESCRIPTOR_LENGTH = 12;

function timeoutsDescriptor(): Buffer {
  const t = Buffer.alloc(TIMEOUTS_DESCRIPTOR_LENGTH);
  t.writeUInt16BE(0x0a, 0); // nominal and recommended timeouts left 0: "not specified"
  return t;
}

export function reportSupportedOperationCodes(cdb: Buffer, catalog: CommandCatalog): ScsiResult {
  const rctd = (cdb[2] & 0x80) !== 0;
  const options = cdb[2] & 0x07;
  const opcode = cdb[3];
  const sa = cdb.readUInt16BE(4);
  const alloc = cdb.readUInt32BE(6);

  if (options === 0) {
    const descriptors = catalog.all.map((c) => {
      const d = Buffer.alloc(8);
      d[0] = c.opcode;
      d.writeUInt16BE(c.serviceAction ?? 0, 2);
      d[5] = (rctd ? 0x02 : 0) | (c.serviceAction !== undefined ? 0x01 : 0); // CTDP, SERVACTV
      d.writeUInt16BE(c.usage.length, 6);
      return rctd ? Buffer.concat([d, timeoutsDescriptor()]) : d;
    });
    const body = Buffer.concat(descriptors);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    return dataIn(Buffer.concat([head, body]), alloc);
  }

  let cmd: CommandInfo | undefined;
  switch (options) {
    case 1: // opcode only: an error if the opcode needs a service action
      if (catalog.hasServiceActions(opcode)) throw invalidFieldInCdb(3);
      cmd = catalog.find(opcode);
      break;
    case 2: // opcode and service action: an error if the opcode has none
      if (!catalog.hasServiceActions(opcode) && catalog.find(opcode) !== undefined) throw invalidFieldInCdb(3);
      cmd = catalog.find(opcode, sa);
      break;
    case 3: // either, as the opcode dictates
      cmd = catalog.hasServiceActions(opcode) ? catalog.find(opcode, sa) : catalog.find(opcode);
      break;
    default:
      throw invalidFieldInCdb(2, 2);
  }
  const usage = cmd ? Buffer.from(cmd.usage) : Buffer.alloc(0);
  const head = Buffer.alloc(4);
  head[1] = (cmd ? 0x03 : 0x01) | (rctd && cmd ? 0x80 : 0); // SUPPORT: 011b supported, 001b not supported; CTDP
  head.writeUInt16BE(usage.length, 2);
  const parts: Buffer[] = [head, usage];
  if (rctd && cmd) parts.push(timeoutsDescriptor());
  return dataIn(Buffer.concat(parts), alloc);
}

export function reportSupportedTaskManagementFunctions(cdb: Buffer): ScsiResult {
  const repd = (cdb[2] & 0x80) !== 0;
  const alloc = cdb.readUInt32BE(6);
  const b = Buffer.alloc(repd ? 16 : 4);
  // ABORT TASK, ABORT TASK SET, LOGICAL UNIT RESET, TARGET RESET: what the iSCSI transport maps onto us.
  b[0] = 0x80 | 0x40 | 0x08 | 0x02;
  if (repd) b[3] = 0x0c;
  return dataIn(b, alloc);
}
