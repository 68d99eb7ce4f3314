// One entry per command the logical unit implements: how it meets reservations, what REPORT SUPPORTED OPERATION
// CODES says about it (libiscsi's conformance suite decides what to test from it), how it runs, and how much
// Data-Out it asks for.
import * as sbc from './block-commands.js';
import { range10, range12, range16, range6 } from './cdb.js';
import type { CommandCatalog, CommandHandler, CommandInfo } from './command.js';
import { inquiry } from './inquiry.js';
import { reportSupportedOperationCodes, reportSupportedTaskManagementFunctions } from './maintenance-in.js';
import { MaintenanceIn, Op, ServiceActionIn16 } from './opcodes.js';
import { reportLunsData } from './report-luns.js';
import { good } from './sense.js';
import { modeSelect, modeSense, requestSense, startStopUnit } from './unit-commands.js';

const F = 0xff;
const C = 0x07; // control byte

// Data-Out lengths, by where the CDB keeps its transfer length.
const blocks6 = (cdb: Buffer, blockSize: number): number => (cdb[4] || 256) * blockSize;
const blocks10 = (cdb: Buffer, blockSize: number): number => cdb.readUInt16BE(7) * blockSize;
const blocks12 = (cdb: Buffer, blockSize: number): number => cdb.readUInt32BE(6) * blockSize;
const blocks16 = (cdb: Buffer, blockSize: number): number => cdb.readUInt32BE(10) * blockSize;
const oneBlock = (_cdb: Buffer, blockSize: number): number => blockSize;
const parameterList6 = (cdb: Buffer): number => cdb[4];
const parameterList10 = (cdb: Buffer): number => cdb.readUInt16BE(7);

const reserveIn: CommandHandler = (lu, cmd) => lu.reservations.reserveIn(cmd);
const reserveOut: CommandHandler = (lu, cmd) => lu.reservations.reserveOut(cmd);
const reserveLegacy: CommandHandler = (lu, cmd) => lu.reservations.reserveLegacy(cmd);
const releaseLegacy: CommandHandler = (lu, cmd) => lu.reservations.releaseLegacy(cmd);
const readDefectData: CommandHandler = (_lu, cmd) => sbc.readDefectData(cmd.cdb);

export const COMMANDS: CommandInfo[] = [
  { opcode: Op.TEST_UNIT_READY, access: 'always', usage: [0x00, 0, 0, 0, 0, C], run: () => good() },
  { opcode: Op.REQUEST_SENSE, access: 'always', usage: [0x03, 0x01, 0, 0, F, C], run: requestSense },
  {
    opcode: Op.READ_6,
    access: 'read',
    usage: [0x08, 0x1f, F, F, F, C],
    run: (lu, cmd) => sbc.read(lu, cmd.cdb, range6(cmd.cdb), false),
  },
  {
    opcode: Op.WRITE_6,
    access: 'write',
    usage: [0x0a, 0x1f, F, F, F, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range6(cmd.cdb), { hasFlags: false }),
    dataOutLength: blocks6,
  },
  { opcode: Op.INQUIRY, access: 'always', usage: [0x12, 0x01, F, F, F, C], run: (lu, cmd) => inquiry(cmd.cdb, lu) },
  { opcode: Op.MODE_SELECT_6, access: 'write', usage: [0x15, 0x11, 0, 0, F, C], run: modeSelect, dataOutLength: parameterList6 },
  { opcode: Op.RESERVE_6, access: 'write', usage: [0x16, 0, 0, 0, 0, C], run: reserveLegacy },
  { opcode: Op.RELEASE_6, access: 'always', usage: [0x17, 0, 0, 0, 0, C], run: releaseLegacy },
  { opcode: Op.MODE_SENSE_6, access: 'read', usage: [0x1a, 0x08, F, F, F, C], run: modeSense },
  { opcode: Op.START_STOP_UNIT, access: 'write', usage: [0x1b, 0x01, 0, 0x0f, 0xf7, C], run: startStopUnit },
  {
    opcode: Op.READ_CAPACITY_10,
    access: 'always',
    usage: [0x25, 0, F, F, F, F, 0, 0, 0x01, C],
    run: (lu, cmd) => sbc.readCapacity10(lu, cmd.cdb),
  },
  {
    opcode: Op.READ_10,
    access: 'read',
    usage: [0x28, 0xf8, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.read(lu, cmd.cdb, range10(cmd.cdb), true),
  },
  {
    opcode: Op.WRITE_10,
    access: 'write',
    usage: [0x2a, 0xf8, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range10(cmd.cdb), { hasFlags: true }),
    dataOutLength: blocks10,
  },
  {
    opcode: Op.WRITE_AND_VERIFY_10,
    access: 'write',
    usage: [0x2e, 0xf2, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range10(cmd.cdb), { hasFlags: true, forceFua: true }),
    dataOutLength: blocks10,
  },
  {
    opcode: Op.VERIFY_10,
    access: 'read',
    usage: [0x2f, 0xf6, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.verify(lu, cmd, range10(cmd.cdb)),
  },
  {
    opcode: Op.PRE_FETCH_10,
    access: 'read',
    usage: [0x34, 0x02, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.preFetch(lu, cmd.cdb, range10(cmd.cdb)),
  },
  { opcode: Op.READ_DEFECT_DATA_10, access: 'read', usage: [0x37, 0, 0x1f, 0, 0, 0, 0, F, F, C], run: readDefectData },
  {
    opcode: Op.SYNCHRONIZE_CACHE_10,
    access: 'write',
    usage: [0x35, 0x02, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.synchronizeCache(lu, range10(cmd.cdb)),
  },
  {
    opcode: Op.WRITE_SAME_10,
    access: 'write',
    usage: [0x41, 0xe8, F, F, F, F, 0, F, F, C],
    run: (lu, cmd) => sbc.writeSame(lu, cmd, range10(cmd.cdb), false),
    dataOutLength: oneBlock,
  },
  {
    opcode: Op.UNMAP,
    access: 'write',
    usage: [0x42, 0, 0, 0, 0, 0, 0, F, F, C],
    run: (lu, cmd) => sbc.unmap(lu, cmd),
    dataOutLength: parameterList10,
  },
  { opcode: Op.MODE_SELECT_10, access: 'write', usage: [0x55, 0x11, 0, 0, 0, 0, 0, F, F, C], run: modeSelect, dataOutLength: parameterList10 },
  { opcode: Op.RESERVE_10, access: 'write', usage: [0x56, 0, 0, 0, 0, 0, 0, 0, 0, C], run: reserveLegacy },
  { opcode: Op.RELEASE_10, access: 'always', usage: [0x57, 0, 0, 0, 0, 0, 0, 0, 0, C], run: releaseLegacy },
  { opcode: Op.MODE_SENSE_10, access: 'read', usage: [0x5a, 0x18, F, F, 0, 0, 0, F, F, C], run: modeSense },
  ...[0, 1, 2, 3].map(
    (sa): CommandInfo => ({
      opcode: Op.PERSISTENT_RESERVE_IN,
      serviceAction: sa,
      access: 'always',
      usage: [0x5e, sa, 0, 0, 0, 0, 0, F, F, C],
      run: reserveIn,
    }),
  ),
  ...[0, 1, 2, 3, 4, 5, 6].map(
    (sa): CommandInfo => ({
      opcode: Op.PERSISTENT_RESERVE_OUT,
      serviceAction: sa,
      access: 'always',
      usage: [0x5f, sa, F, 0, 0, F, F, F, F, C],
      run: reserveOut,
      dataOutLength: (cdb) => cdb.readUInt32BE(5),
    }),
  ),
  {
    opcode: Op.READ_16,
    access: 'read',
    usage: [0x88, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.read(lu, cmd.cdb, range16(cmd.cdb), true),
  },
  {
    opcode: Op.COMPARE_AND_WRITE,
    access: 'write',
    usage: [0x89, 0xf8, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0, C],
    run: (lu, cmd) => sbc.compareAndWrite(lu, cmd),
    // The verify data, then the write data.
    dataOutLength: (cdb, blockSize) => 2 * cdb[13] * blockSize,
  },
  {
    opcode: Op.WRITE_16,
    access: 'write',
    usage: [0x8a, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range16(cmd.cdb), { hasFlags: true }),
    dataOutLength: blocks16,
  },
  {
    opcode: Op.ORWRITE_16,
    access: 'write',
    usage: [0x8b, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.orWrite(lu, cmd, range16(cmd.cdb)),
    dataOutLength: blocks16,
  },
  {
    opcode: Op.WRITE_AND_VERIFY_16,
    access: 'write',
    usage: [0x8e, 0xf2, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range16(cmd.cdb), { hasFlags: true, forceFua: true }),
    dataOutLength: blocks16,
  },
  {
    opcode: Op.VERIFY_16,
    access: 'read',
    usage: [0x8f, 0xf6, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.verify(lu, cmd, range16(cmd.cdb)),
  },
  {
    opcode: Op.PRE_FETCH_16,
    access: 'read',
    usage: [0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.preFetch(lu, cmd.cdb, range16(cmd.cdb)),
  },
  {
    opcode: Op.SYNCHRONIZE_CACHE_16,
    access: 'write',
    usage: [0x91, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.synchronizeCache(lu, range16(cmd.cdb)),
  },
  {
    opcode: Op.WRITE_SAME_16,
    access: 'write',
    usage: [0x93, 0xe9, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.writeSame(lu, cmd, range16(cmd.cdb), true),
    // NDOB: no data at all.
    dataOutLength: (cdb, blockSize) => ((cdb[1] & 0x01) !== 0 ? 0 : blockSize),
  },
  {
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: ServiceActionIn16.READ_CAPACITY_16,
    access: 'always',
    usage: [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.readCapacity16(lu, cmd.cdb),
  },
  {
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: ServiceActionIn16.GET_LBA_STATUS,
    access: 'read',
    usage: [0x9e, 0x12, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.getLbaStatus(lu, cmd.cdb),
  },
  {
    opcode: Op.REPORT_LUNS,
    access: 'always',
    usage: [0xa0, 0, F, 0, 0, 0, F, F, F, F, 0, C],
    // Normally answered by the target device, which knows every LUN; standing alone we are LUN 0.
    run: (_lu, cmd) => reportLunsData(cmd.cdb, [0]),
  },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
    access: 'always',
    usage: [0xa3, 0x0c, 0x87, F, F, F, F, F, F, F, 0, C],
    run: (_lu, cmd) => reportSupportedOperationCodes(cmd.cdb, CATALOG),
  },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS,
    access: 'always',
    usage: [0xa3, 0x0d, 0x80, 0, 0, 0, F, F, F, F, 0, C],
    run: (_lu, cmd) => reportSupportedTaskManagementFunctions(cmd.cdb),
  },
  {
    opcode: Op.READ_12,
    access: 'read',
    usage: [0xa8, 0xf8, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.read(lu, cmd.cdb, range12(cmd.cdb), true),
  },
  {
    opcode: Op.WRITE_12,
    access: 'write',
    usage: [0xaa, 0xf8, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range12(cmd.cdb), { hasFlags: true }),
    dataOutLength: blocks12,
  },
  {
    opcode: Op.WRITE_AND_VERIFY_12,
    access: 'write',
    usage: [0xae, 0xf2, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.write(lu, cmd, range12(cmd.cdb), { hasFlags: true, forceFua: true }),
    dataOutLength: blocks12,
  },
  {
    opcode: Op.VERIFY_12,
    access: 'read',
    usage: [0xaf, 0xf6, F, F, F, F, F, F, F, F, 0, C],
    run: (lu, cmd) => sbc.verify(lu, cmd, range12(cmd.cdb)),
  },
  { opcode: Op.READ_DEFECT_DATA_12, access: 'read', usage: [0xb7, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, C], run: readDefectData },
];

// Looked up for every command: opcodes without service actions by index, the few with them by a second index.
const byOpcode = new Array<CommandInfo | undefined>(256).fill(undefined);
const byServiceAction = new Array<(CommandInfo | undefined)[] | undefined>(256).fill(undefined);
for (const c of COMMANDS) {
  if (c.serviceAction === undefined) byOpcode[c.opcode] = c;
  else (byServiceAction[c.opcode] ??= new Array<CommandInfo | undefined>(32).fill(undefined))[c.serviceAction] = c;
}

export function hasServiceActions(opcode: number): boolean {
  return byServiceAction[opcode] !== undefined;
}

export function findCommand(opcode: number, serviceAction?: number): CommandInfo | undefined {
  if (serviceAction === undefined) return byOpcode[opcode];
  return serviceAction < 32 ? byServiceAction[opcode]?.[serviceAction] : undefined;
}

/** The command a CDB names, or undefined (unsupported opcode or service action). */
export function lookupCommand(cdb: Buffer): CommandInfo | undefined {
  const op = cdb[0];
  const actions = byServiceAction[op];
  return actions === undefined ? byOpcode[op] : actions[cdb[1] & 0x1f];
}

/**
 * Bytes of Data-Out a CDB asks for, or undefined when it names no command that moves Data-Out (or is too short to
 * say).
 */
export function expectedDataOutLength(cdb: Buffer, blockSize: number): number | undefined {
  const info = lookupCommand(cdb);
  if (info?.dataOutLength === undefined || cdb.length < info.usage.length) return undefined;
  return info.dataOutLength(cdb, blockSize);
}

const CATALOG: CommandCatalog = { all: COMMANDS, find: findCommand, hasServiceActions };
