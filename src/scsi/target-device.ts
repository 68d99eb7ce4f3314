// A SCSI target device: the LUN map behind one target, answering for LUNs that do not exist (SAM-5 5.9.4).
import { Op } from './opcodes.js';
import { reportLunsData } from './report-luns.js';
import { Asc, ScsiError, SenseKey, buildSense, checkCondition, dataIn, invalidFieldInCdb } from './sense.js';
import { SamStatus, type LogicalUnit, type ScsiCommand, type ScsiResult } from './types.js';

/** INQUIRY byte 0 for a LUN with no logical unit behind it: qualifier 011b, type 1Fh. */
const NO_LU_PERIPHERAL = 0x7f;

export class ScsiTargetDevice {
  private readonly luns = new Map<number, LogicalUnit>();

  addLun(lun: number, lu: LogicalUnit): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > 16383) throw new RangeError(`LUN ${lun} out of range 0..16383`);
    if (this.luns.has(lun)) throw new Error(`LUN ${lun} already exists`);
    this.luns.set(lun, lu);
  }

  /** Detaches the logical unit and returns it; the caller closes it when it no longer needs it. */
  removeLun(lun: number): LogicalUnit | undefined {
    const lu = this.luns.get(lun);
    this.luns.delete(lun);
    return lu;
  }

  getLun(lun: number): LogicalUnit | undefined {
    return this.luns.get(lun);
  }

  listLuns(): number[] {
    return [...this.luns.keys()].sort((a, b) => a - b);
  }

  /** The logical unit's result or promise as it is, not wrapped in another (the data path); throws what it throws. */
  execute(lun: number, cmd: ScsiCommand): ScsiResult | Promise<ScsiResult> {
    // REPORT LUNS goes to the target, whichever LUN it was addressed to (SPC-4 6.33).
    if (cmd.cdb[0] === Op.REPORT_LUNS) {
      try {
        return reportLunsData(cmd.cdb, this.listLuns());
      } catch (err) {
        if (err instanceof ScsiError) return err.toResult();
        throw err;
      }
    }
    const lu = this.luns.get(lun);
    return lu !== undefined ? lu.execute(cmd) : absentLun(cmd);
  }

  /** Bytes of Data-Out the CDB asks for on this LUN, or undefined (no such LUN, or a command that moves none). */
  expectedDataOutLength(lun: number, cdb: Buffer): number | undefined {
    return this.luns.get(lun)?.expectedDataOutLength(cdb);
  }

  /** LOGICAL UNIT RESET task management function, received on `issuingNexus`. */
  resetLun(lun: number, issuingNexus?: string): boolean {
    const lu = this.luns.get(lun);
    lu?.reset(issuingNexus);
    return lu !== undefined;
  }

  /** TARGET WARM/COLD RESET: every logical unit resets. */
  resetAll(issuingNexus?: string): void {
    for (const lu of this.luns.values()) lu.reset(issuingNexus);
  }

  /** The transport lost an I_T nexus (logout, connection drop, session reinstatement). */
  nexusLost(nexus: string): void {
    for (const lu of this.luns.values()) lu.nexusLost?.(nexus);
  }

  async close(): Promise<void> {
    const all = [...this.luns.values()];
    this.luns.clear();
    await Promise.all(all.map((lu) => lu.close()));
  }
}

function absentLun(cmd: ScsiCommand): ScsiResult {
  const cdb = cmd.cdb;
  if (cdb[0] === Op.INQUIRY) {
    if (cdb[1] & 0x03 || cdb[2] !== 0) return new ScsiError(SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED).toResult();
    const b = Buffer.alloc(36);
    b[0] = NO_LU_PERIPHERAL;
    b[2] = 0x06;
    b[3] = 0x12;
    b[4] = b.length - 5;
    return dataIn(b, cdb.readUInt16BE(3));
  }
  if (cdb[0] === Op.REQUEST_SENSE) {
    if (cdb[1] & 0x01) return invalidFieldInCdb(1, 0).toResult();
    return { status: SamStatus.GOOD, data: buildSense(SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED).subarray(0, cdb[4]) };
  }
  return checkCondition(SenseKey.ILLEGAL_REQUEST, Asc.LU_NOT_SUPPORTED);
}
