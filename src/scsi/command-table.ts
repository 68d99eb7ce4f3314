// The commands a logical unit implements: how they meet reservations, and what REPORT SUPPORTED
// OPERATION CODES says about them (libiscsi's conformance suite decides what to test from it).
import { MaintenanceIn, Op, ServiceActionIn16 } from './opcodes.js';
import type { AccessClass } from './reservations.js';

export interface CommandInfo {
  opcode: number;
  serviceAction?: number;
  access: AccessClass;
  /** CDB usage data (SPC-4 6.35.3): byte 0 is the opcode, then masks of the bits the device server examines. */
  usage: number[];
}

const F = 0xff;
const C = 0x07; // control byte

export const COMMANDS: CommandInfo[] = [
  { opcode: Op.TEST_UNIT_READY, access: 'always', usage: [0x00, 0, 0, 0, 0, C] },
  { opcode: Op.REQUEST_SENSE, access: 'always', usage: [0x03, 0x01, 0, 0, F, C] },
  { opcode: Op.READ_6, access: 'read', usage: [0x08, 0x1f, F, F, F, C] },
  { opcode: Op.WRITE_6, access: 'write', usage: [0x0a, 0x1f, F, F, F, C] },
  { opcode: Op.INQUIRY, access: 'always', usage: [0x12, 0x01, F, F, F, C] },
  { opcode: Op.MODE_SELECT_6, access: 'write', usage: [0x15, 0x11, 0, 0, F, C] },
  { opcode: Op.RESERVE_6, access: 'write', usage: [0x16, 0, 0, 0, 0, C] },
  { opcode: Op.RELEASE_6, access: 'always', usage: [0x17, 0, 0, 0, 0, C] },
  { opcode: Op.MODE_SENSE_6, access: 'read', usage: [0x1a, 0x08, F, F, F, C] },
  { opcode: Op.START_STOP_UNIT, access: 'write', usage: [0x1b, 0x01, 0, 0x0f, 0xf7, C] },
  { opcode: Op.READ_CAPACITY_10, access: 'always', usage: [0x25, 0, F, F, F, F, 0, 0, 0x01, C] },
  { opcode: Op.READ_10, access: 'read', usage: [0x28, 0xf8, F, F, F, F, 0, F, F, C] },
  { opcode: Op.WRITE_10, access: 'write', usage: [0x2a, 0xf8, F, F, F, F, 0, F, F, C] },
  { opcode: Op.WRITE_AND_VERIFY_10, access: 'write', usage: [0x2e, 0xf2, F, F, F, F, 0, F, F, C] },
  { opcode: Op.VERIFY_10, access: 'read', usage: [0x2f, 0xf6, F, F, F, F, 0, F, F, C] },
  { opcode: Op.PRE_FETCH_10, access: 'read', usage: [0x34, 0x02, F, F, F, F, 0, F, F, C] },
  { opcode: Op.READ_DEFECT_DATA_10, access: 'read', usage: [0x37, 0, 0x1f, 0, 0, 0, 0, F, F, C] },
  { opcode: Op.SYNCHRONIZE_CACHE_10, access: 'write', usage: [0x35, 0x02, F, F, F, F, 0, F, F, C] },
  { opcode: Op.WRITE_SAME_10, access: 'write', usage: [0x41, 0xe8, F, F, F, F, 0, F, F, C] },
  { opcode: Op.UNMAP, access: 'write', usage: [0x42, 0, 0, 0, 0, 0, 0, F, F, C] },
  { opcode: Op.MODE_SELECT_10, access: 'write', usage: [0x55, 0x11, 0, 0, 0, 0, 0, F, F, C] },
  { opcode: Op.RESERVE_10, access: 'write', usage: [0x56, 0, 0, 0, 0, 0, 0, 0, 0, C] },
  { opcode: Op.RELEASE_10, access: 'always', usage: [0x57, 0, 0, 0, 0, 0, 0, 0, 0, C] },
  { opcode: Op.MODE_SENSE_10, access: 'read', usage: [0x5a, 0x18, F, F, 0, 0, 0, F, F, C] },
  ...[0, 1, 2, 3].map(
    (sa): CommandInfo => ({
      opcode: Op.PERSISTENT_RESERVE_IN,
      serviceAction: sa,
      access: 'always',
      usage: [0x5e, sa, 0, 0, 0, 0, 0, F, F, C],
    }),
  ),
  ...[0, 1, 2, 3, 4, 5, 6].map(
    (sa): CommandInfo => ({
      opcode: Op.PERSISTENT_RESERVE_OUT,
      serviceAction: sa,
      access: 'always',
      usage: [0x5f, sa, F, 0, 0, F, F, F, F, C],
    }),
  ),
  { opcode: Op.READ_16, access: 'read', usage: [0x88, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.COMPARE_AND_WRITE, access: 'write', usage: [0x89, 0xf8, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0, C] },
  { opcode: Op.WRITE_16, access: 'write', usage: [0x8a, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.ORWRITE_16, access: 'write', usage: [0x8b, 0xf8, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.WRITE_AND_VERIFY_16, access: 'write', usage: [0x8e, 0xf2, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.VERIFY_16, access: 'read', usage: [0x8f, 0xf6, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.PRE_FETCH_16, access: 'read', usage: [0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.SYNCHRONIZE_CACHE_16, access: 'write', usage: [0x91, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.WRITE_SAME_16, access: 'write', usage: [0x93, 0xe9, F, F, F, F, F, F, F, F, F, F, F, F, 0, C] },
  {
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: ServiceActionIn16.READ_CAPACITY_16,
    access: 'always',
    usage: [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C],
  },
  {
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: ServiceActionIn16.GET_LBA_STATUS,
    access: 'read',
    usage: [0x9e, 0x12, F, F, F, F, F, F, F, F, F, F, F, F, 0, C],
  },
  { opcode: Op.REPORT_LUNS, access: 'always', usage: [0xa0, 0, F, 0, 0, 0, F, F, F, F, 0, C] },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
    access: 'always',
    usage: [0xa3, 0x0c, 0x87, F, F, F, F, F, F, F, 0, C],
  },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS,
    access: 'always',
    usage: [0xa3, 0x0d, 0x80, 0, 0, 0, F, F, F, F, 0, C],
  },
  { opcode: Op.READ_12, access: 'read', usage: [0xa8, 0xf8, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.WRITE_12, access: 'write', usage: [0xaa, 0xf8, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.WRITE_AND_VERIFY_12, access: 'write', usage: [0xae, 0xf2, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.VERIFY_12, access: 'read', usage: [0xaf, 0xf6, F, F, F, F, F, F, F, F, 0, C] },
  { opcode: Op.READ_DEFECT_DATA_12, access: 'read', usage: [0xb7, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, C] },
];

const byKey = new Map<number, CommandInfo>(COMMANDS.map((c) => [key(c.opcode, c.serviceAction), c]));
const opcodesWithActions = new Set(COMMANDS.filter((c) => c.serviceAction !== undefined).map((c) => c.opcode));

function key(opcode: number, sa?: number): number {
  return (opcode << 8) | (sa ?? 0xff);
}

/** The command a CDB names, or undefined (unsupported opcode or service action). */
export function lookupCommand(cdb: Buffer): CommandInfo | undefined {
  const op = cdb[0];
  if (opcodesWithActions.has(op)) return byKey.get(key(op, cdb[1] & 0x1f));
  return byKey.get(key(op));
}

export function hasServiceActions(opcode: number): boolean {
  return opcodesWithActions.has(opcode);
}

export function findCommand(opcode: number, sa?: number): CommandInfo | undefined {
  return byKey.get(key(opcode, sa));
}
