// The builtin target driver with real initiators: exports, CHAP, ACL, restart on the same file.
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { BuiltinTarget, identityFor } from '../../src/targets/builtin.js';
import { RawInitiator } from '../iscsi/raw-initiator.js';
import { iscsiUrl, portalUrl, qemuJson, run } from '../iscsi/helpers.js';
import { makeTempDir } from '../support/tmp.js';
import { targetIqn } from '../support/iqn.js';

const VOLUME = '6f1d7c3e-2b4a-4c1e-9a57-0d2c8e4b1f10';
const CHAP = { username: 'vol-user', password: 'vol-password-16c' };
const HOST_A = 'iqn.1994-05.com.redhat:host-a';
const HOST_B = 'iqn.1994-05.com.redhat:host-b';

function url(port: number, iqn: string, chap = CHAP): string {
  return iscsiUrl(port, iqn, 0, chap);
}

describe('builtin target driver', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let file: string;
  let driver: BuiltinTarget;
  let port: number;

  before(async () => {
    ({ path: dir, cleanup } = await makeTempDir('embervol-iscsi-'));
    file = join(dir, `volume-${VOLUME}`);
    await writeFile(file, '');
    await truncate(file, 32 << 20);
    driver = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), server: { nopInIntervalMs: 0 } });
    await driver.start();
    port = Number(driver.portal.split(':')[1]);
  });
  after(async () => {
    await driver.stop();
    await cleanup();
  });

  it('creates an export idempotently, as LIO does (IQN in the tid slot, LUN 0)', async () => {
    const first = await driver.createExport(VOLUME, file, CHAP);
    const again = await driver.createExport(VOLUME, file, CHAP);
    assert.deepEqual(first, again);
    assert.equal(first.iqn, `iqn.2010-10.org.openstack:volume-${VOLUME}`);
    assert.equal(first.tid, first.iqn);
    assert.equal(first.lun, 0);
    assert.deepEqual(first.portals, [`127.0.0.1:${port}`]);
    assert.deepEqual(await driver.listExports(), [VOLUME]);
    assert.deepEqual(identityFor(VOLUME), identityFor(VOLUME));
    assert.notDeepEqual(identityFor(VOLUME).uniqueId, identityFor('other').uniqueId);
  });

  it('lets only ACL initiators with the right CHAP in; qemu writes and reads back', async () => {
    const iqn = targetIqn(driver, VOLUME);
    const refused = await run('iscsi-inq', ['-i', HOST_A, url(port, iqn)]);
    assert.notEqual(refused.code, 0, 'not in the ACL yet');
    await driver.allowInitiator(VOLUME, HOST_A, 'rw');
    const disc = await run('iscsi-ls', ['-i', HOST_A, portalUrl(port, CHAP)]);
    assert.equal(disc.code, 0, disc.stderr);
    assert.match(disc.stdout, new RegExp(iqn));
    const wrong = await run('iscsi-inq', ['-i', HOST_A, url(port, iqn, { ...CHAP, password: 'not-the-password' })]);
    assert.notEqual(wrong.code, 0);
    const serial = await run('iscsi-inq', ['-i', HOST_A, '-e', '1', '-c', '128', url(port, iqn)]);
    assert.equal(serial.code, 0, serial.stderr);
    assert.match(serial.stdout, new RegExp(VOLUME));
    const io = await run('qemu-io', ['-c', 'write -P 0x3c 1M 2M', '-c', 'read -P 0x3c 1M 2M', qemuJson(port, { iqn, initiator: HOST_A, chap: CHAP })]);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed|error/i);
  });

  it('large reads in flight together each get their own data (read buffers are used again only once sent)', async () => {
    const iqn = targetIqn(driver, VOLUME);
    const regions = Array.from({ length: 16 }, (_, i) => ({ pattern: `0x${(0x40 + i).toString(16)}`, offset: `${8 + i}M` }));
    const cmds = regions.flatMap((r) => ['-c', `write -P ${r.pattern} ${r.offset} 1M`]);
    // Three passes of sixteen 1 MiB reads submitted at once, each checked against its own pattern.
    for (let pass = 0; pass < 3; pass++) {
      for (const r of pass % 2 ? [...regions].reverse() : regions) cmds.push('-c', `aio_read -P ${r.pattern} ${r.offset} 1M`);
      cmds.push('-c', 'aio_flush');
    }
    const io = await run('qemu-io', [...cmds, qemuJson(port, { iqn, initiator: HOST_A, chap: CHAP })]);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed|error/i);
    assert.equal((io.stdout.match(/^read 1048576\/1048576 bytes/gm) ?? []).length, 48, io.stdout);
  });

  it('enforces read-only attachments', async () => {
    await driver.allowInitiator(VOLUME, HOST_B, 'ro');
    const iqn = targetIqn(driver, VOLUME);
    const read = await run('qemu-io', ['-r', '-c', 'read -P 0x3c 1M 64k', qemuJson(port, { iqn, initiator: HOST_B, chap: CHAP })]);
    assert.equal(read.code, 0, read.stderr);
    assert.doesNotMatch(read.stdout + read.stderr, /Pattern verification failed/);
    const write = await run('qemu-io', ['-c', 'write -P 0x99 1M 64k', qemuJson(port, { iqn, initiator: HOST_B, chap: CHAP })]);
    // qemu sees the WP bit in MODE SENSE and refuses to open the LUN read-write at all.
    assert.notEqual(write.code, 0);
    assert.match(write.stdout + write.stderr, /write protected/i);
    await driver.denyInitiator(VOLUME, HOST_B);
  });

  it('reports a grown file after resized()', async () => {
    const iqn = targetIqn(driver, VOLUME);
    await truncate(file, 48 << 20);
    await driver.resized(VOLUME);
    const cap = await run('iscsi-readcapacity16', ['-i', HOST_A, url(port, iqn)]);
    assert.equal(cap.code, 0, cap.stderr);
    assert.match(cap.stdout, /Total size:50331648/);
  });

  it('denyInitiator drops a live session of that initiator', async () => {
    const iqn = targetIqn(driver, VOLUME);
    const c = await RawInitiator.connect(port);
    assert.equal(await c.login({ initiator: HOST_A, target: iqn, chap: CHAP }), 0);
    assert.equal(driver.server.listSessions(iqn).length, 1);
    await driver.denyInitiator(VOLUME, HOST_A);
    assert.ok(await c.waitClosed(2000), 'the session was dropped');
    assert.equal(driver.server.listSessions(iqn).length, 0);
    const again = await run('iscsi-inq', ['-i', HOST_A, url(port, iqn)]);
    assert.notEqual(again.code, 0);
    await driver.denyInitiator(VOLUME, HOST_A); // idempotent
  });

  it('keeps the data across a restart of the target on the same file', async () => {
    await driver.stop();
    driver = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), server: { nopInIntervalMs: 0 } });
    await driver.start();
    port = Number(driver.portal.split(':')[1]);
    assert.deepEqual(await driver.listExports(), []);
    await driver.createExport(VOLUME, file, CHAP);
    await driver.allowInitiator(VOLUME, HOST_A, 'rw');
    const iqn = targetIqn(driver, VOLUME);
    const io = await run('qemu-io', ['-c', 'read -P 0x3c 1M 2M', qemuJson(port, { iqn, initiator: HOST_A, chap: CHAP })]);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed|error/i);
  });

  it('removes an export and its sessions; removing twice is harmless', async () => {
    await driver.removeExport(VOLUME);
    await driver.removeExport(VOLUME);
    assert.deepEqual(await driver.listExports(), []);
    const r = await run('iscsi-inq', ['-i', HOST_A, url(port, targetIqn(driver, VOLUME))]);
    assert.notEqual(r.code, 0);
    await assert.rejects(driver.allowInitiator(VOLUME, HOST_A, 'rw'), /no export/);
  });
});
