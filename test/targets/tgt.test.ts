// The tgt driver and its supervised tgtd against real tgtd, libiscsi and qemu.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { silentLogger } from '../../src/log.js';
import { FileBackend } from '../../src/backends/file.js';
import { TgtTarget } from '../../src/targets/tgt.js';
import { TgtdDaemon, TGTD_SOCKET_DIR } from '../../src/targets/tgtd-daemon.js';
import { Tgtadm } from '../../src/targets/tgtadm.js';
import { parseConnShow, parseTargetShow } from '../../src/targets/tgt-show.js';
import { createTargetDriver } from '../../src/targets/index.js';
import { generateChapCredentials } from '../../src/util/chap.js';
import { findFreePort } from '../../src/util/ports.js';
import { runProcess } from '../../src/util/exec.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { startPrivateTgt, type PrivateTgt } from '../support/tgtd.js';
import { iscsiInq, iscsiUrl } from '../support/libiscsi.js';
import { qemuIscsiJson } from '../support/qemu.js';
import { waitFor } from '../support/wait.js';
import { targetIqn } from '../support/iqn.js';

const A = 'iqn.2024-01.org.example:host-a';
const B = 'iqn.2024-01.org.example:host-b';
const GiB = 1024 ** 3;

let dir: TempDir;
let tgt: PrivateTgt;
let backend: FileBackend;
let adm: Tgtadm;
const holders: ChildProcess[] = [];

before(async () => {
  dir = await makeTempDir();
  backend = new FileBackend(dir.path);
  tgt = await startPrivateTgt();
  adm = new Tgtadm({ controlPort: tgt.target.daemon!.controlPort });
});

after(async () => {
  for (const h of holders) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  await tgt?.stop();
  await dir?.cleanup();
});

async function newVolume(): Promise<string> {
  const id = randomUUID();
  await backend.create(id, GiB);
  return id;
}

function url(id: string, chap: { username: string; password: string }, lun = 1): string {
  return iscsiUrl({ host: tgt.host, port: tgt.port, iqn: targetIqn(tgt.target, id), lun, user: chap.username, password: chap.password });
}

async function showTarget(id: string) {
  return parseTargetShow(await adm.run(['--op', 'show', '--mode', 'target'])).find((t) => t.iqn === targetIqn(tgt.target, id));
}

/** Keeps an iSCSI session open (qemu-io sleeping between commands) until killed. */
async function holdSession(id: string, chap: { username: string; password: string }, initiator: string): Promise<ChildProcess> {
  const json = qemuIscsiJson({ portal: tgt.portal, iqn: targetIqn(tgt.target, id), lun: 1, user: chap.username, password: chap.password, initiatorName: initiator });
  const child = spawn('qemu-io', ['-c', 'sleep 600000', json], { stdio: 'ignore' });
  holders.push(child);
  await waitFor(`session of ${initiator}`, async () => (await showTarget(id))?.nexuses.some((n) => n.initiator === initiator));
  return child;
}

test('create is idempotent, gives distinct tids, LUN 1 with the volume id as SCSI serial, and one CHAP account', async () => {
  const id1 = await newVolume();
  const id2 = await newVolume();
  const chap = generateChapCredentials();
  const e1 = await tgt.target.createExport(id1, backend.devicePath(id1), chap);
  const again = await tgt.target.createExport(id1, backend.devicePath(id1), chap);
  const e2 = await tgt.target.createExport(id2, backend.devicePath(id2), generateChapCredentials());
  assert.deepEqual(again, e1);
  assert.equal(e1.iqn, `iqn.2010-10.org.openstack:volume-${id1}`);
  assert.equal(e1.lun, 1);
  assert.deepEqual(e1.portals, [tgt.portal]);
  assert.notEqual(e1.tid, e2.tid);
  const t1 = (await showTarget(id1))!;
  assert.equal(String(t1.tid), e1.tid);
  assert.deepEqual(t1.accounts, [chap.username]);
  const lun1 = t1.luns.find((l) => l.lun === 1)!;
  assert.equal(lun1.backingStorePath, backend.devicePath(id1));
  assert.equal(lun1.scsiSn, id1);
  assert.deepEqual(t1.acl, []);
  assert.deepEqual((await tgt.target.listExports()).filter((x) => x === id1 || x === id2).sort(), [id1, id2].sort());

  // What an initiator sees: the unit serial number page carries the volume id.
  await tgt.target.allowInitiator(id1, A, 'rw');
  const vpd = await runProcess('iscsi-inq', ['-i', A, '-e', '1', '-c', '128', url(id1, chap)]);
  assert.equal(vpd.code, 0, vpd.stderr);
  assert.match(vpd.stdout, new RegExp(id1));
});

test('an ACL entry is needed to log in, even with the right CHAP; the ACL never becomes ALL', async () => {
  const id = await newVolume();
  const chap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), chap);
  assert.notEqual((await iscsiInq(url(id, chap), A)).code, 0);
  await tgt.target.allowInitiator(id, A, 'rw');
  await tgt.target.allowInitiator(id, A, 'rw'); // idempotent
  assert.deepEqual((await showTarget(id))!.acl, [A]);
  assert.equal((await iscsiInq(url(id, chap), A)).code, 0);
  assert.notEqual((await iscsiInq(url(id, chap), B)).code, 0);
  await assert.rejects(tgt.target.allowInitiator(randomUUID(), A, 'rw'), /no tgt target/);
});

test('re-exporting with new CHAP credentials replaces the old ones', async () => {
  const id = await newVolume();
  const oldChap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), oldChap);
  await tgt.target.allowInitiator(id, A, 'rw');
  const newChap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), newChap);
  assert.deepEqual((await showTarget(id))!.accounts, [newChap.username]);
  assert.notEqual((await iscsiInq(url(id, oldChap), A)).code, 0);
  assert.equal((await iscsiInq(url(id, newChap), A)).code, 0, 'the ACL survives a re-export');
});

test('denyInitiator unbinds it and drops its live session at once; another initiator keeps its session', async () => {
  const id = await newVolume();
  const chap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), chap);
  await tgt.target.allowInitiator(id, A, 'rw');
  await tgt.target.allowInitiator(id, B, 'rw');
  const ha = await holdSession(id, chap, A);
  const hb = await holdSession(id, chap, B);
  await tgt.target.denyInitiator(id, A);
  const t = (await showTarget(id))!;
  assert.deepEqual(t.acl, [B]);
  assert.ok(!t.nexuses.some((n) => n.initiator === A), 'A\'s session must be gone');
  assert.ok(t.nexuses.some((n) => n.initiator === B), 'B\'s session must stay');
  assert.notEqual((await iscsiInq(url(id, chap), A)).code, 0);
  await tgt.target.denyInitiator(id, A); // idempotent
  ha.kill('SIGKILL');
  hb.kill('SIGKILL');
});

test('denyInitiator matches IQNs case-insensitively', async () => {
  const id = await newVolume();
  const chap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), chap);
  await tgt.target.allowInitiator(id, 'iqn.2024-01.org.example:Mixed-Case', 'rw');
  await tgt.target.denyInitiator(id, 'iqn.2024-01.org.example:mixed-case');
  assert.deepEqual((await showTarget(id))!.acl, []);
});

test('removeExport with a live session removes the target and its account; it tolerates a missing target', async () => {
  const id = await newVolume();
  const chap = generateChapCredentials();
  await tgt.target.createExport(id, backend.devicePath(id), chap);
  await tgt.target.allowInitiator(id, A, 'rw');
  const h = await holdSession(id, chap, A);
  await tgt.target.removeExport(id);
  assert.equal(await showTarget(id), undefined);
  assert.ok(!(await adm.run(['--op', 'show', '--mode', 'account'])).includes(chap.username));
  assert.ok(!(await tgt.target.listExports()).includes(id));
  await tgt.target.removeExport(id);
  await tgt.target.removeExport(randomUUID());
  await tgt.target.denyInitiator(randomUUID(), A);
  h.kill('SIGKILL');
});

test('a new driver on the same tgtd recovers existing targets and their tids and allocates around them', async () => {
  const id = await newVolume();
  const chap = generateChapCredentials();
  const made = await tgt.target.createExport(id, backend.devicePath(id), chap);
  const other = new TgtTarget({
    portal: { host: tgt.host, port: tgt.port },
    logger: silentLogger(),
    daemon: { manage: false, controlPort: tgt.target.daemon!.controlPort },
  });
  await other.start();
  assert.ok((await other.listExports()).includes(id));
  const again = await other.createExport(id, backend.devicePath(id), chap);
  assert.equal(again.tid, made.tid);
  const fresh = await newVolume();
  const tids = parseTargetShow(await adm.run(['--op', 'show', '--mode', 'target'])).map((t) => String(t.tid));
  const e = await other.createExport(fresh, backend.devicePath(fresh), generateChapCredentials());
  assert.ok(!tids.includes(e.tid), `tid ${e.tid} must be new`);
  // The account was reset by the driver that did not know the password; the same CHAP still logs in.
  await other.allowInitiator(id, A, 'rw');
  assert.equal((await iscsiInq(url(id, chap), A)).code, 0);
  await other.stop(); // unmanaged: must leave the daemon running
  assert.ok((await tgt.target.listExports()).includes(id));
});

test('concurrent creates on one tgtd never share a tid', async () => {
  const ids = await Promise.all(Array.from({ length: 6 }, () => newVolume()));
  const made = await Promise.all(ids.map((id) => tgt.target.createExport(id, backend.devicePath(id), generateChapCredentials())));
  assert.equal(new Set(made.map((m) => m.tid)).size, ids.length);
  await Promise.all(ids.map((id) => tgt.target.removeExport(id)));
  for (const id of ids) assert.equal(await showTarget(id), undefined);
});

test('a tgtd whose portal is taken fails to start instead of running without a portal', async () => {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const d = new TgtdDaemon({ portal: { host: '127.0.0.1', port }, logger: silentLogger(), readyTimeoutMs: 1_500 });
  try {
    await assert.rejects(d.start(), /did not become ready/);
    assert.equal(d.running, false);
  } finally {
    await d.stop();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a second private tgtd runs beside the first; stop ends it and removes its control socket', async () => {
  const port = await findFreePort();
  const d = new TgtdDaemon({ portal: { host: '127.0.0.1', port }, logger: silentLogger() });
  await d.start();
  assert.notEqual(d.controlPort, tgt.target.daemon!.controlPort);
  const pid = d.pid!;
  assert.equal(await d.tgtadm.run(['--op', 'show', '--mode', 'target']), '');
  await d.stop();
  assert.equal(d.running, false);
  assert.throws(() => process.kill(pid, 0));
  assert.equal(existsSync(`${TGTD_SOCKET_DIR}/socket.${d.controlPort}`), false);
  // The first daemon is untouched.
  await tgt.target.listExports();
});

test('tgtadm failures say what failed without echoing arguments (which may be CHAP secrets)', async () => {
  const secret = 'SecretPassw0rdXy';
  await adm.run(['--op', 'new', '--mode', 'account', '--user', 'dupuser', '--password', secret]);
  try {
    await assert.rejects(adm.run(['--op', 'new', '--mode', 'account', '--user', 'dupuser', '--password', secret]), (err: Error) => {
      assert.match(err.message, /account already exists/);
      assert.ok(!err.message.includes(secret));
      return true;
    });
  } finally {
    await adm.run(['--op', 'delete', '--mode', 'account', '--user', 'dupuser']);
  }
});

test('show parsers read targets, nexuses, LUNs, accounts, ACLs and connections', () => {
  const show = [
    'Target 3: iqn.2010-10.org.openstack:volume-x',
    '    System information:',
    '        Driver: iscsi',
    '        State: ready',
    '    I_T nexus information:',
    '        I_T nexus: 7',
    '            Initiator: iqn.a:b alias: none',
    '            Connection: 0',
    '                IP Address: 127.0.0.1',
    '    LUN information:',
    '        LUN: 0',
    '            Type: controller',
    '            Backing store path: None',
    '        LUN: 1',
    '            Type: disk',
    '            SCSI SN: x',
    '            Backing store path: /tmp/volume-x',
    '    Account information:',
    '        user1',
    '    ACL information:',
    '        iqn.a:b',
    'Target 4: iqn.other:t',
    '    System information:',
    '        Driver: iscsi',
    '        State: ready',
    '    I_T nexus information:',
    '    LUN information:',
    '    Account information:',
    '    ACL information:',
    '',
  ].join('\n');
  const [t3, t4] = parseTargetShow(show);
  assert.equal(t3!.tid, 3);
  assert.equal(t3!.state, 'ready');
  assert.deepEqual(t3!.nexuses, [{ nexus: 7, initiator: 'iqn.a:b', connections: [0] }]);
  assert.deepEqual(t3!.luns.map((l) => [l.lun, l.backingStorePath]), [[0, null], [1, '/tmp/volume-x']]);
  assert.deepEqual(t3!.accounts, ['user1']);
  assert.deepEqual(t3!.acl, ['iqn.a:b']);
  assert.deepEqual(t4, { tid: 4, iqn: 'iqn.other:t', state: 'ready', nexuses: [], luns: [], accounts: [], acl: [] });
  assert.deepEqual(parseConnShow('Session: 2\n    Connection: 0\n        Initiator: iqn.a:b\n        IP Address: 127.0.0.1\n'), [
    { sid: 2, cid: 0, initiator: 'iqn.a:b', address: '127.0.0.1' },
  ]);
});

test('the factory builds a tgt driver and refuses unknown names', () => {
  const d = createTargetDriver('tgt', { portal: { host: '127.0.0.1', port: 3260 }, logger: silentLogger() }) as TgtTarget;
  assert.equal(d.name, 'tgt');
  assert.equal(targetIqn(d, 'abc'), 'iqn.2010-10.org.openstack:volume-abc');
  const custom = createTargetDriver('tgt', { portal: { host: '127.0.0.1', port: 3260 }, logger: silentLogger(), iqnPrefix: 'iqn.2024-01.io.embervol:' }) as TgtTarget;
  assert.equal(targetIqn(custom, 'abc'), 'iqn.2024-01.io.embervol:volume-abc');
  assert.throws(() => createTargetDriver('nope', { portal: { host: '127.0.0.1', port: 3260 }, logger: silentLogger() }), /unknown target driver/);
});

test('calls made while tgtd is down wait for the supervisor to restart it, then succeed', async () => {
  const before = await newVolume();
  const chap = generateChapCredentials();
  await tgt.target.createExport(before, backend.devicePath(before), chap);
  await tgt.target.allowInitiator(before, A, 'rw');
  const daemon = tgt.target.daemon!;
  const died = new Promise((resolve) => daemon.once('died', resolve));
  const restored = new Promise<{ restored: number; failed: number }>((resolve) => tgt.target.once('restored', resolve));
  process.kill(daemon.pid!, 'SIGKILL');
  await died;
  assert.equal(daemon.running, false);
  const id = await newVolume();
  const made = await tgt.target.createExport(id, backend.devicePath(id), generateChapCredentials());
  assert.equal(made.iqn, targetIqn(tgt.target, id));
  assert.equal(daemon.running, true);
  const summary = await restored;
  assert.equal(summary.failed, 0);
  // The export made before the crash is back, CHAP and ACL included.
  assert.equal((await iscsiInq(url(before, chap), A)).code, 0);
  assert.notEqual((await iscsiInq(url(before, chap), B)).code, 0);
  assert.ok((await tgt.target.listExports()).includes(id));
});
