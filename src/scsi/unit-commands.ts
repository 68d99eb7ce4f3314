// SPC-4 commands answered from the logical unit's own state (sense, mode pages, power) rather than its medium.
import type { UnitContext } from './command.js';
import { Asc, SenseKey, buildSense, dataIn, good, invalidFieldInCdb } from './sense.js';
import type { ScsiCommand, ScsiResult } from './types.js';

export function requestSense(lu: UnitContext, cmd: ScsiCommand): ScsiResult {
  if (cmd.cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // descriptor format is not implemented
  const pending = lu.unitAttentions.take(cmd.nexus);
  const sense =
    pending !== undefined ? buildSense(SenseKey.UNIT_ATTENTION, pending) : buildSense(SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE);
  return dataIn(sense, cmd.cdb[4]);
}

export function modeSense(lu: UnitContext, cmd: ScsiCommand): ScsiResult {
  return lu.modes.sense(cmd.cdb, {
    blockSize: lu.blockSize,
    blocks: lu.blocks,
    writeProtected: cmd.readOnly || lu.deviceReadOnly,
  });
}

export function modeSelect(lu: UnitContext, cmd: ScsiCommand): ScsiResult {
  const { result, changed } = lu.modes.select(cmd.cdb, cmd.dataOut, lu.blockSize);
  if (changed) lu.unitAttentions.raiseAll(Asc.MODE_PARAMETERS_CHANGED, cmd.nexus);
  return result;
}

export async function startStopUnit(lu: UnitContext, cmd: ScsiCommand): Promise<ScsiResult> {
  const cdb = cmd.cdb;
  const powerCondition = cdb[4] >> 4;
  const loej = (cdb[4] & 0x02) !== 0;
  const start = (cdb[4] & 0x01) !== 0;
  // Non-removable: there is no medium to eject, and a stopped file is the same file. A stop with
  // flush semantics (NO_FLUSH clear) still pushes cached writes to stable storage.
  if (loej && !start) return good();
  if (powerCondition === 0 && !start && !(cdb[4] & 0x04)) await lu.dev.flush();
  return good();
}
