// What one entry of the command table says about an operation code (command-table.ts holds the entries), and what
// its handler may use of the logical unit it runs on.
import type { BlockContext } from './block-commands.js';
import type { InquiryContext } from './inquiry.js';
import type { ModePages } from './mode-pages.js';
import type { AccessClass, Reservations } from './reservations.js';
import type { ScsiCommand, ScsiResult } from './types.js';
import type { UnitAttentions } from './unit-attention.js';

/** The logical unit as its command handlers see it. */
export interface UnitContext extends BlockContext, InquiryContext {
  readonly modes: ModePages;
  readonly unitAttentions: UnitAttentions;
  readonly reservations: Reservations;
}

/** A result when the command completed without waiting (the data path on a page-cache hit), else a promise. */
export type CommandHandler = (lu: UnitContext, cmd: ScsiCommand) => ScsiResult | Promise<ScsiResult>;

export interface CommandInfo {
  opcode: number;
  serviceAction?: number;
  access: AccessClass;
  /** CDB usage data (SPC-4 6.35.3): byte 0 is the opcode, then masks of the bits the device server examines. */
  usage: number[];
  run: CommandHandler;
  /**
   * Bytes of Data-Out the CDB asks for, so the transport can report overflow or underflow against the initiator's
   * expected length. Absent for commands that move no Data-Out: their residual is the transport's to leave at 0.
   */
  dataOutLength?: (cdb: Buffer, blockSize: number) => number;
}

/** The table as REPORT SUPPORTED OPERATION CODES reads it. */
export interface CommandCatalog {
  readonly all: readonly CommandInfo[];
  find(opcode: number, serviceAction?: number): CommandInfo | undefined;
  hasServiceActions(opcode: number): boolean;
}
