// Which keys the target may send in which login stage. The Linux kernel initiator (open-iscsi's iscsid)
// refuses a security-stage Login Response that carries an operational key ("Login negotiation failed,
// can't accept MaxRecvDataSegmentLength=262144 in security stage") and ends the login: the target's own
// declarations belong in the operational stage. Found by test/interop/kernel-initiator.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoginNegotiator, Stage, type LoginDirectory, type LoginTarget } from '../../src/iscsi/login.js';
import { DEFAULT_TARGET_LIMITS } from '../../src/iscsi/params.js';
import { chapResponse, decodeChapBinary } from '../../src/iscsi/chap.js';

const IQN = 'iqn.2010-10.org.openstack:volume-1';
const INITIATOR = 'iqn.1993-08.org.debian:01:abc';
const chap = { username: 'user1', password: 'secret-123456' };

function directory(withChap: boolean): LoginDirectory {
  const target: LoginTarget = { iqn: IQN, chap: withChap ? chap : null, mutualChap: null, isAllowed: (i) => i === INITIATOR };
  return {
    findTarget: (iqn) => (iqn === IQN ? target : undefined),
    discoveryChapCandidates: () => [],
    discoveryChap: null,
    portalGroupTag: 1,
    limits: DEFAULT_TARGET_LIMITS,
  };
}

const OPERATIONAL_KEYS = ['MaxRecvDataSegmentLength', 'MaxBurstLength', 'FirstBurstLength', 'HeaderDigest', 'DataDigest', 'InitialR2T', 'ImmediateData', 'MaxOutstandingR2T'];
const keyNames = (keys: [string, string][]) => keys.map(([k]) => k);

describe('login stages: operational keys only outside the security stage', () => {
  it('CHAP, as open-iscsi logs in: security -> operational -> full feature; MaxRecvDataSegmentLength is declared in the operational stage only', () => {
    const login = new LoginNegotiator(directory(true));
    const first = login.handle({
      csg: Stage.SECURITY, nsg: Stage.OPERATIONAL, transit: false,
      keys: [['InitiatorName', INITIATOR], ['SessionType', 'Normal'], ['TargetName', IQN], ['AuthMethod', 'CHAP']],
    });
    assert.deepEqual(first.keys.filter(([k]) => OPERATIONAL_KEYS.includes(k)), []);
    const challenge = login.handle({ csg: Stage.SECURITY, nsg: Stage.OPERATIONAL, transit: false, keys: [['CHAP_A', '7,6,5']] });
    const c = new Map(challenge.keys);
    assert.equal(c.get('CHAP_A'), '5');
    const response = chapResponse(Number(c.get('CHAP_I')), chap.password, decodeChapBinary(c.get('CHAP_C')!)!);
    const toOperational = login.handle({
      csg: Stage.SECURITY, nsg: Stage.OPERATIONAL, transit: true,
      keys: [['CHAP_N', chap.username], ['CHAP_R', `0x${response.toString('hex')}`]],
    });
    assert.equal(toOperational.transit, true);
    assert.equal(toOperational.nsg, Stage.OPERATIONAL);
    assert.deepEqual(toOperational.keys.filter(([k]) => OPERATIONAL_KEYS.includes(k)), [], `security-stage answer: ${keyNames(toOperational.keys)}`);

    const toFull = login.handle({
      csg: Stage.OPERATIONAL, nsg: Stage.FULL_FEATURE, transit: true,
      keys: [['HeaderDigest', 'None'], ['DataDigest', 'None'], ['MaxRecvDataSegmentLength', '262144'], ['ImmediateData', 'Yes']],
    });
    assert.equal(toFull.transit, true);
    assert.equal(new Map(toFull.keys).get('MaxRecvDataSegmentLength'), String(DEFAULT_TARGET_LIMITS.maxRecvDataSegmentLength));
    assert.equal(login.fullFeature, true);
  });

  it('no authentication: the first request goes to the operational stage with no operational key in the answer; the next one gets the declaration', () => {
    const login = new LoginNegotiator(directory(false));
    const first = login.handle({
      csg: Stage.SECURITY, nsg: Stage.OPERATIONAL, transit: true,
      keys: [['InitiatorName', INITIATOR], ['SessionType', 'Normal'], ['TargetName', IQN], ['AuthMethod', 'None']],
    });
    assert.equal(first.transit, true);
    assert.deepEqual(first.keys.filter(([k]) => OPERATIONAL_KEYS.includes(k)), []);
    const toFull = login.handle({ csg: Stage.OPERATIONAL, nsg: Stage.FULL_FEATURE, transit: true, keys: [['MaxRecvDataSegmentLength', '65536']] });
    assert.equal(new Map(toFull.keys).get('MaxRecvDataSegmentLength'), String(DEFAULT_TARGET_LIMITS.maxRecvDataSegmentLength));
    assert.equal(login.params.initiatorMaxRecvDataSegmentLength, 65536);
  });
});
