// The target against real initiators: libiscsi's tools and qemu's iSCSI block driver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { INITIATOR, INITIATOR2, iscsiUrl, portalUrl, qemuJson, run, startTestTarget, TARGET_IQN, type TestTarget } from './helpers.js';
import { createLogicalUnit } from '../../src/scsi/index.js';
import { openSparseDevice } from './helpers.js';
import { join } from 'node:path';

const CHAP = { username: 'volume-user', password: 'a-secret-of-16ch' };
const OTHER_IQN = 'iqn.2010-10.org.openstack:volume-other';

describe('real initiators, no CHAP', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget();
    // A second target that only INITIATOR2 may see: discovery must not show it to INITIATOR.
    t.server.createTarget(OTHER_IQN);
    const dev = await openSparseDevice(join(t.dir, 'other.img'), 1 << 20);
    t.server.addLun(OTHER_IQN, 0, createLogicalUnit(dev, { vendor: 'EMBERVOL', product: 'OTHER', revision: '0001', serial: 'other', uniqueId: Buffer.alloc(16, 3) }));
    t.server.allowInitiator(OTHER_IQN, INITIATOR2);
  });
  after(async () => {
    await t.server.removeLun(OTHER_IQN, 0)?.close();
    await t.stop();
  });

  it('iscsi-ls discovery lists only the targets the initiator is allowed to see', async () => {
    const one = await run('iscsi-ls', ['-i', INITIATOR, '-s', portalUrl(t.port)]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`Target:${TARGET_IQN} Portal:127\\.0\\.0\\.1:${t.port},1`));
    assert.match(one.stdout, /Lun:0\s+Type:DIRECT_ACCESS \(Size:15M\)/);
    assert.doesNotMatch(one.stdout, /volume-other/);
    const two = await run('iscsi-ls', ['-i', INITIATOR2, portalUrl(t.port)]);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, /volume-other/);
    assert.doesNotMatch(two.stdout, /volume-test/);
  });

  it('iscsi-inq and iscsi-readcapacity16 see the logical unit', async () => {
    const inq = await run('iscsi-inq', ['-i', INITIATOR, iscsiUrl(t.port)]);
    assert.equal(inq.code, 0, inq.stderr);
    assert.match(inq.stdout, /Vendor:EMBERVOL/);
    const serial = await run('iscsi-inq', ['-i', INITIATOR, '-e', '1', '-c', '128', iscsiUrl(t.port)]);
    assert.match(serial.stdout, /testserial0001/);
    const cap = await run('iscsi-readcapacity16', ['-i', INITIATOR, iscsiUrl(t.port)]);
    assert.equal(cap.code, 0, cap.stderr);
    assert.match(cap.stdout, /Total size:16777216/);
  });

  it('qemu-io writes patterns and reads them back, with and without header digests', async () => {
    const w = await run('qemu-io', ['-c', 'write -P 0xab 0 3M', '-c', 'write -P 0x5c 7M 64k', '-c', 'read -P 0xab 0 3M', qemuJson(t.port)]);
    assert.equal(w.code, 0, w.stderr);
    assert.doesNotMatch(w.stdout + w.stderr, /Pattern verification failed|error/i);
    const r = await run('qemu-io', ['-c', 'read -P 0x5c 7M 64k', '-c', 'read -P 0xab 1M 1M', qemuJson(t.port, { headerDigest: 'crc32c' })]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /read 65536\/65536 bytes/);
    assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i);
  });

  it('refuses an initiator that is not in the ACL (authorization failure)', async () => {
    const r = await run('iscsi-inq', ['-i', 'iqn.2007-10.com.test:stranger', iscsiUrl(t.port)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /authori[sz]ation|Failed to log in|Login failed/i);
  });

  it('refuses a target name that does not exist', async () => {
    const r = await run('iscsi-inq', ['-i', INITIATOR, iscsiUrl(t.port, 'iqn.2010-10.org.openstack:volume-nope')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found|Failed to log in|Login failed/i);
  });
});

describe('real initiators with CHAP', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ chap: CHAP });
  });
  after(() => t.stop());

  it('discovery with CHAP credentials lists the target', async () => {
    const r = await run('iscsi-ls', ['-i', INITIATOR, portalUrl(t.port, CHAP)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Target:${TARGET_IQN}`));
  });

  it('logs in with the right password, and qemu-io reads and writes', async () => {
    const inq = await run('iscsi-inq', ['-i', INITIATOR, iscsiUrl(t.port, TARGET_IQN, 0, CHAP)]);
    assert.equal(inq.code, 0, inq.stderr);
    const io = await run('qemu-io', ['-c', 'write -P 0x11 4k 8k', '-c', 'read -P 0x11 4k 8k', qemuJson(t.port, { chap: CHAP })]);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed|error/i);
  });

  it('refuses a wrong password and a login without CHAP', async () => {
    const wrong = await run('iscsi-inq', ['-i', INITIATOR, iscsiUrl(t.port, TARGET_IQN, 0, { username: CHAP.username, password: 'wrong-password!!' })]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /authenticat|Failed to log in|Login failed/i);
    const none = await run('iscsi-inq', ['-i', INITIATOR, iscsiUrl(t.port)]);
    assert.notEqual(none.code, 0);
  });
});

describe('real initiators with mutual CHAP', () => {
  const TARGET_SECRET = { username: 'target-user', password: 'target-secret-22' };
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ chap: CHAP, mutualChap: TARGET_SECRET });
  });
  after(() => t.stop());

  it('authenticates both ways; the initiator rejects a target that proves the wrong secret', async () => {
    const base = iscsiUrl(t.port, TARGET_IQN, 0, CHAP);
    const ok = await run('iscsi-inq', ['-i', INITIATOR, `${base}?target_user=${TARGET_SECRET.username}&target_password=${TARGET_SECRET.password}`]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await run('iscsi-inq', ['-i', INITIATOR, `${base}?target_user=${TARGET_SECRET.username}&target_password=not-the-secret!`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid CHAP_R response from the target/);
    // The target insists on mutual authentication when it is configured.
    const oneWay = await run('iscsi-inq', ['-i', INITIATOR, base]);
    assert.notEqual(oneWay.code, 0);
    assert.match(oneWay.stderr, /Authentication failure/);
  });
});
