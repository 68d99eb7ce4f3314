// Raw-initiator sessions for protocol tests: log in to the test target, take the first unit attention, wait for a reply.
import assert from 'node:assert/strict';
import { Opcode, type Pdu } from '../../src/iscsi/pdu.js';
import { INITIATOR, TARGET_IQN } from './helpers.js';
import { RawInitiator, TEST_UNIT_READY } from './raw-initiator.js';

export async function loggedIn(port: number, initiator = INITIATOR, operational?: Array<[string, string]>): Promise<RawInitiator> {
  const c = await RawInitiator.connect(port);
  const status = await c.login({ initiator, target: TARGET_IQN, operational });
  assert.equal(status, 0, `login status 0x${status.toString(16)}`);
  await clearUnitAttention(c);
  return c;
}

/** A new I_T nexus starts with a POWER ON/RESET unit attention (SAM-5); consume it. */
export async function clearUnitAttention(c: RawInitiator): Promise<void> {
  c.send(c.scsiCommand(TEST_UNIT_READY));
  await response(c, Opcode.SCSI_RESPONSE);
}

export async function response(c: RawInitiator, opcode: number): Promise<Pdu> {
  for (;;) {
    const p = await c.receive();
    assert.ok(p, `connection closed while waiting for opcode 0x${opcode.toString(16)}`);
    if ((p.bhs[0] & 0x3f) === opcode) return p;
  }
}
