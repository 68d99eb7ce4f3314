// Typed encoders for the PDUs a target sends: each fills its own fields, and the session
// stamps StatSN, ExpCmdSN and MaxCmdSN. Lengths are filled in by encodePduInto when the PDU is queued.

import { EMPTY_SEGMENT, newBhs, Opcode, RESERVED_TAG, setU32, type Pdu } from './pdu.js';

/** Fills StatSN, ExpCmdSN and MaxCmdSN (bytes 24..35), advancing StatSN when the PDU carries status. */
export interface SequenceStamp {
  stamp(bhs: Buffer, advanceStatSN: boolean): void;
}

/** The command a Data-In or R2T belongs to: its tag and its request's 8-byte LUN field as two words. */
export interface TaskAddress {
  readonly itt: number;
  readonly lunHigh: number;
  readonly lunLow: number;
}

const FINAL = 0x80;
const STATUS = 0x01;
const OVERFLOW = 0x04;
const UNDERFLOW = 0x02;

/** O or U, for a residual that is what the command wanted minus what the initiator expected. */
function residualFlags(residual: number): number {
  return residual > 0 ? OVERFLOW : residual < 0 ? UNDERFLOW : 0;
}

function putTaskAddress(bhs: Buffer, task: TaskAddress): void {
  setU32(bhs, 8, task.lunHigh);
  setU32(bhs, 12, task.lunLow);
  setU32(bhs, 16, task.itt);
}

/** Response code 0x00 (command completed at target) always: failures travel as status and sense data. */
export function scsiResponse(
  sn: SequenceStamp,
  itt: number,
  status: number,
  sense: Buffer | undefined,
  residual: number,
  expDataSN: number,
): Pdu {
  const bhs = newBhs(Opcode.SCSI_RESPONSE, FINAL | residualFlags(residual));
  bhs[3] = status;
  setU32(bhs, 16, itt);
  sn.stamp(bhs, true);
  setU32(bhs, 36, expDataSN);
  setU32(bhs, 44, Math.abs(residual));
  let data = EMPTY_SEGMENT;
  if (sense && sense.length > 0) {
    data = Buffer.alloc(2 + sense.length);
    data.writeUInt16BE(sense.length, 0);
    sense.copy(data, 2);
  }
  return { bhs, ahs: EMPTY_SEGMENT, data };
}

/**
 * One Data-In PDU of `data` at `offset`. The last one of a command whose status is GOOD without sense carries that
 * status itself (`withStatus`): no SCSI Response follows then.
 */
export function dataIn(
  sn: SequenceStamp,
  task: TaskAddress,
  data: Buffer,
  offset: number,
  dataSN: number,
  endOfBurst: boolean,
  withStatus: boolean,
  status: number,
  residual: number,
): Pdu {
  const bhs = newBhs(Opcode.DATA_IN, endOfBurst ? FINAL : 0);
  if (withStatus) {
    bhs[1] |= STATUS | residualFlags(residual);
    bhs[3] = status;
    setU32(bhs, 44, Math.abs(residual));
  }
  putTaskAddress(bhs, task);
  setU32(bhs, 20, RESERVED_TAG);
  sn.stamp(bhs, withStatus);
  if (!withStatus) setU32(bhs, 24, 0);
  setU32(bhs, 36, dataSN);
  setU32(bhs, 40, offset);
  return { bhs, ahs: EMPTY_SEGMENT, data };
}

export function readyToTransfer(sn: SequenceStamp, task: TaskAddress, ttt: number, r2tSN: number, offset: number, length: number): Pdu {
  const bhs = newBhs(Opcode.R2T, FINAL);
  putTaskAddress(bhs, task);
  setU32(bhs, 20, ttt);
  sn.stamp(bhs, false);
  setU32(bhs, 36, r2tSN);
  setU32(bhs, 40, offset);
  setU32(bhs, 44, length);
  return { bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT };
}

/** The answer to an initiator's NOP-Out: its LUN and tag, and as much of its data as the initiator can take. */
export function nopInReply(sn: SequenceStamp, request: Pdu, maxEcho: number): Pdu {
  const bhs = newBhs(Opcode.NOP_IN, FINAL);
  request.bhs.copy(bhs, 8, 8, 20);
  setU32(bhs, 20, RESERVED_TAG);
  sn.stamp(bhs, true);
  return { bhs, ahs: EMPTY_SEGMENT, data: Buffer.from(request.data.subarray(0, maxEcho)) };
}

/** A target-initiated ping: it does not consume a StatSN. */
export function nopInPing(sn: SequenceStamp, ttt: number): Pdu {
  const bhs = newBhs(Opcode.NOP_IN, FINAL);
  setU32(bhs, 16, RESERVED_TAG);
  setU32(bhs, 20, ttt);
  sn.stamp(bhs, false);
  return { bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT };
}

/** Quotes the header of the PDU it rejects. */
export function reject(sn: SequenceStamp, reason: number, rejected: Buffer): Pdu {
  const bhs = newBhs(Opcode.REJECT, FINAL);
  bhs[2] = reason;
  setU32(bhs, 16, RESERVED_TAG);
  sn.stamp(bhs, true);
  return { bhs, ahs: EMPTY_SEGMENT, data: Buffer.from(rejected.subarray(0, 48)) };
}

export interface LoginStages {
  transit: boolean;
  csg: number;
  nsg: number;
}

/** One segment of a login response; while more text follows (`more`), T stays 0 and C is set. */
export function loginResponse(
  sn: SequenceStamp,
  stages: LoginStages,
  more: boolean,
  isid: Buffer,
  tsih: number,
  itt: number,
  segment: Buffer,
): Pdu {
  const transit = stages.transit && !more;
  const bhs = newBhs(Opcode.LOGIN_RESPONSE, (more ? 0x40 : transit ? FINAL : 0) | (stages.csg << 2) | (transit ? stages.nsg : 0));
  isid.copy(bhs, 8);
  bhs.writeUInt16BE(tsih, 14);
  setU32(bhs, 16, itt);
  sn.stamp(bhs, true);
  return { bhs, ahs: EMPTY_SEGMENT, data: segment };
}

/** A login refused with `status` (class and detail): the request's CSG and ISID, T=0. */
export function loginReject(sn: SequenceStamp, request: Buffer, status: number): Pdu {
  const bhs = newBhs(Opcode.LOGIN_RESPONSE, request[1] & 0x0c);
  request.copy(bhs, 8, 8, 14);
  request.copy(bhs, 16, 16, 20);
  sn.stamp(bhs, true);
  bhs[36] = status >> 8;
  bhs[37] = status & 0xff;
  return { bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT };
}

export const TextFlags = {
  /** An acknowledgement of request text that continues: the exchange stays open. */
  NONE: 0x00,
  /** More response text follows. */
  CONTINUE: 0x40,
  FINAL: 0x80,
} as const;

export function textResponse(sn: SequenceStamp, request: Buffer, flags: number, ttt: number, data: Buffer): Pdu {
  const bhs = newBhs(Opcode.TEXT_RESPONSE, flags);
  request.copy(bhs, 8, 8, 20);
  setU32(bhs, 20, ttt);
  sn.stamp(bhs, true);
  return { bhs, ahs: EMPTY_SEGMENT, data };
}

export function taskManagementResponse(sn: SequenceStamp, itt: number, response: number): Pdu {
  const bhs = newBhs(Opcode.TASK_MGMT_RESPONSE, FINAL);
  bhs[2] = response;
  setU32(bhs, 16, itt);
  sn.stamp(bhs, true);
  return { bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT };
}

export function logoutResponse(sn: SequenceStamp, itt: number, response: number, time2Wait: number, time2Retain: number): Pdu {
  const bhs = newBhs(Opcode.LOGOUT_RESPONSE, FINAL);
  bhs[2] = response;
  setU32(bhs, 16, itt);
  sn.stamp(bhs, true);
  bhs.writeUInt16BE(time2Wait, 40);
  bhs.writeUInt16BE(time2Retain, 42);
  return { bhs, ahs: EMPTY_SEGMENT, data: EMPTY_SEGMENT };
}
