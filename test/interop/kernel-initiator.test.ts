// The Linux kernel's iSCSI initiator (open-iscsi, iscsi_tcp) driven by os-brick, as Nova drives it, in a VM
// that the test builds (scripts/test-vm/build.sh, cached by package versions) and boots under qemu TCG.
// Inside the guest 10.0.2.2 is this machine's 127.0.0.1 (qemu user-mode networking), so the portal the API
// returns (127.0.0.1:PORT) is handed to the guest as 10.0.2.2:PORT: the same translation qemu's NAT makes.
// One VM and one `embervol serve` for the whole file; the steps build on each other, in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { findFreePort } from '../../src/util/ports.js';
import { bootTestVm, ensureTestVmImage, GUEST_HOST_ADDRESS, type TestVm } from '../support/test-vm.js';
import { runProcess } from '../../src/util/exec.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** connection_info as the guest must see it: the portal's loopback address is the user-mode gateway there. */
function forGuest(ci: Record<string, any>): Record<string, any> {
  const swap = (p: string) => p.replace(/^127\.0\.0\.1:/, `${GUEST_HOST_ADDRESS}:`);
  const out: Record<string, any> = { ...ci, target_portal: swap(ci.target_portal) };
  if (Array.isArray(ci.target_portals)) out.target_portals = ci.target_portals.map(swap);
  return out;
}

// Python run in the guest agent: os-brick exactly as Nova's libvirt volume driver calls it, with the lock path
// Nova's configuration gives oslo.concurrency.
const PY_PRELUDE = `
import json, os, subprocess
from os_brick.initiator import connector as _brick
if 'iscsi' not in globals():
    from oslo_concurrency import lockutils
    os.makedirs('/run/lock/nova', exist_ok=True)
    lockutils.set_defaults('/run/lock/nova')
    iscsi = _brick.InitiatorConnector.factory('ISCSI', 'sudo', use_multipath=False, device_scan_attempts=10)
    devices = {}
`;

describe('the Linux kernel initiator with os-brick in a VM (open-iscsi, iscsi_tcp)', { timeout: 30 * 60_000 }, () => {
  let svc: ServiceProcess;
  let api: CinderApi;
  let vm: TestVm;
  let dataDir: string;
  let apiPort: number;
  let iscsiPort: number;
  const project = '0a1b2c3d4e5f';
  let connector: Record<string, any>;
  // the volume of the Nova attach, kept attached from one step to the next
  let volumeId = '';
  let attachmentId = '';
  let ci: Record<string, any> = {};
  let device = '';

  const startServe = async () =>
    startServiceProcess({
      target: 'builtin',
      dataDir,
      iscsiPort,
      extraArgs: ['--listen', `127.0.0.1:${apiPort}`],
    });
  const sh = (cmd: string, timeoutSeconds?: number) => vm.sh(cmd, timeoutSeconds);
  const ok = (cmd: string, timeoutSeconds?: number) => vm.ok(cmd, timeoutSeconds);
  const volumeFile = (id: string) => join(dataDir, 'volumes', `volume-${id}`);
  const allocated = (id: string) => statSync(volumeFile(id)).blocks * 512;

  /** Nova's attach through the 3.44+ attachments API: create with the connector, update, connect_volume, complete. */
  async function novaAttach(id: string, mode?: 'ro' | 'rw') {
    const instance = randomUUID();
    const created = await api.call('POST', '/attachments', {
      attachment: { volume_uuid: id, instance_uuid: instance, connector, ...(mode ? { mode } : {}) },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const attId = created.body.attachment.id as string;
    const updated = await api.call('PUT', `/attachments/${attId}`, { attachment: { connector: { ...connector, mountpoint: '/dev/vdb' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    const info = updated.body.attachment.connection_info as Record<string, any>;
    assert.equal(info.driver_volume_type, 'iscsi');
    assert.equal(info.auth_method, 'CHAP');
    const dev = await vm.py<{ path: string; real: string; type: string }>(
      PY_PRELUDE +
        `
info = iscsi.connect_volume(args)
devices[args['target_iqn']] = info
result = dict(info, real=os.path.realpath(info['path']))
`,
      forGuest(info),
    ).catch(async (e: Error) => {
      const diag = await vm.sh('iscsiadm -m session -P 3; tail -n 30 /var/log/iscsid.log; dmesg | tail -n 30');
      const serveLog = svc.logs.slice(-30).join('\n').split(info.auth_password).join('***');
      throw new Error(`${e.message}\n--- guest\n${diag.out}${diag.err}\n--- embervol serve\n${serveLog}`);
    });
    assert.equal(dev.type, 'block');
    assert.equal((await api.call('POST', `/attachments/${attId}/action`, { 'os-complete': null })).status, 204);
    return { attId, info, device: dev.real };
  }

  /** Nova's detach: begin_detaching, os-brick disconnect_volume, attachment delete. */
  async function novaDetach(id: string, attId: string, info: Record<string, any>) {
    assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
    await vm.py(PY_PRELUDE + `iscsi.disconnect_volume(args, devices.pop(args['target_iqn']))\nresult = True`, forGuest(info));
    const del = await api.call('DELETE', `/attachments/${attId}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal((await api.volume(id)).status, 'available');
  }

  before(async () => {
    const image = await ensureTestVmImage();
    dataDir = mkdtempSync(join(tmpdir(), 'embervol-kernel-'));
    apiPort = await findFreePort();
    iscsiPort = await findFreePort();
    svc = await startServe();
    api = new CinderApi(svc.url, project, 'nova', '3.54');
    vm = await bootTestVm({ imageDir: image });
  });

  after(async () => {
    await vm?.stop();
    await svc?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('boots Debian\'s kernel and answers over the serial channel; os-brick gives the connector Nova sends', async () => {
    const out = await ok('uname -r; modinfo -n iscsi_tcp; cat /etc/iscsi/initiatorname.iscsi; pgrep -x iscsid');
    assert.match(out, /-amd64\n/);
    assert.match(out, /iscsi_tcp\.ko/);
    connector = await vm.py(
      `from os_brick.initiator import connector as c\nresult = c.get_connector_properties('sudo', '10.0.2.15', False, False)`,
    );
    const name = /InitiatorName=(\S+)/.exec(out)![1];
    assert.equal(connector.initiator, name);
    assert.equal(connector.ip, '10.0.2.15');
    assert.equal(connector.multipath, false);
  });

  it('discovery (SendTargets) and os-brick connect_volume with CHAP: a block device of the volume\'s size appears', async () => {
    volumeId = await api.createVolume(1, { name: 'kernel-vol' });
    ({ attId: attachmentId, info: ci, device } = await novaAttach(volumeId));
    assert.equal((await api.volume(volumeId)).status, 'in-use');
    // SendTargets from the guest lists the target (the address in it is the host's own portal address)
    const disc = await ok(`iscsiadm -m discovery -t sendtargets -p ${GUEST_HOST_ADDRESS}:${iscsiPort} -o nonpersistent`);
    assert.match(disc, new RegExp(`127\\.0\\.0\\.1:${iscsiPort},\\d+ ${ci.target_iqn.replace(/\./g, '\\.')}`));
    const session = await ok('iscsiadm -m session -P 3');
    assert.match(session, new RegExp(`Target: ${ci.target_iqn.replace(/\./g, '\\.')}`));
    assert.match(session, /iSCSI Session State: LOGGED_IN/);
    assert.match(session, /username: \S+/);
    assert.match(device, /^\/dev\/sd[a-z]+$/);
    assert.equal(Number((await ok(`blockdev --getsize64 ${device}`)).trim()), 1 * GiB);
    assert.ok(!svc.logs.join('\n').includes(ci.auth_password), 'the CHAP password appeared in the logs');
  });

  it('mkfs.ext4, files written with checksums and synced: the guest reads them back and so does the host, from the volume file', async () => {
    assert.ok(device, 'needs the attached device of the step before');
    await ok(`mkfs.ext4 -q -F ${device} && mkdir -p /mnt/vol && mount ${device} /mnt/vol`, 300);
    await ok(
      'mkdir -p /mnt/vol/data && for i in 1 2 3 4; do head -c $((i * 300000)) /dev/urandom >/mnt/vol/data/f$i; done; ' +
        'cd /mnt/vol/data && sha256sum f* >/tmp/data.sha256 && sync',
      300,
    );
    await ok('echo 3 >/proc/sys/vm/drop_caches && cd /mnt/vol/data && sha256sum -c /tmp/data.sha256');
    const sums = (await ok('cat /tmp/data.sha256')).trim().split('\n');
    assert.equal(sums.length, 4);
    // the host reads the same files out of the volume file with debugfs (no mount). debugfs does not replay the
    // journal, and after sync ext4 may still hold the new inodes and directory blocks only there (a CI run read f1
    // as empty): freezing the filesystem checkpoints the journal into place.
    await ok('fsfreeze -f /mnt/vol && fsfreeze -u /mnt/vol');
    for (const line of sums) {
      const [sum, name] = line.split(/\s+/);
      const r = await runProcess('bash', ['-c', `debugfs -R 'cat /data/${name}' ${volumeFile(volumeId)} 2>/dev/null | sha256sum`], { timeoutMs: 60_000 });
      assert.equal(r.stdout.split(/\s+/)[0], sum, `host copy of ${name}`);
    }
  });

  it('fstrim reaches the target as UNMAP and punches holes in the volume file', async () => {
    assert.ok(device, 'needs the attached device of the step before');
    const discardMax = Number((await ok(`cat /sys/block/${device.slice(5)}/queue/discard_max_bytes`)).trim());
    assert.ok(discardMax > 0, 'the kernel sees no discard support on the LUN');
    await ok('head -c $((48 * 1024 * 1024)) /dev/urandom >/mnt/vol/big && sync', 300);
    const before = allocated(volumeId);
    await ok('rm /mnt/vol/big && sync');
    const trimmed = await ok('fstrim -v /mnt/vol', 300);
    assert.match(trimmed, /trimmed/);
    const after = allocated(volumeId);
    assert.ok(before - after >= 40 * MiB, `allocated ${before} -> ${after} bytes: fstrim freed less than 40 MiB`);
    await ok('cd /mnt/vol/data && sha256sum -c /tmp/data.sha256');
  });

  it('an extend of the in-use volume is visible to the kernel after a session rescan (os-brick extend_volume)', async () => {
    assert.ok(device, 'needs the attached device of the step before');
    assert.equal((await api.action(volumeId, 'os-extend', { new_size: 2 })).status, 202);
    await api.waitStatus(volumeId, 'in-use', 60_000);
    await ok('iscsiadm -m session --rescan');
    let size = 0;
    for (let i = 0; i < 50 && size !== 2 * GiB; i++) {
      size = Number((await ok(`blockdev --getsize64 ${device}`)).trim());
      if (size !== 2 * GiB) await sleep(200);
    }
    assert.equal(size, 2 * GiB);
    const brickSize = await vm.py<number>(PY_PRELUDE + 'result = iscsi.extend_volume(args)', forGuest(ci));
    assert.equal(brickSize, 2 * GiB);
    await ok(`resize2fs ${device}`, 300);
    assert.match(await ok('df -B1 --output=size /mnt/vol'), /\b(1|2)\d{9}\b/);
  });

  it('SIGKILL and restart of embervol serve under a running writer: the kernel reconnects, I/O resumes, fsck is clean and every synced file reads back', async () => {
    assert.ok(device, 'needs the attached device of the step before');
    await ok(`cat >/tmp/writer.sh <<'WRITER'
mkdir -p /mnt/vol/w
i=0
while [ ! -e /tmp/stop-writer ]; do
  f=/mnt/vol/w/f$i
  head -c 131072 /dev/urandom >$f && sync $f && (cd /mnt/vol/w && sha256sum f$i >>/tmp/synced.sha256)
  echo $i >/tmp/writer.progress
  i=$((i + 1))
done
WRITER
rm -f /tmp/stop-writer /tmp/synced.sha256; setsid bash /tmp/writer.sh >/tmp/writer.log 2>&1 </dev/null & echo $! >/tmp/writer.pid`);
    const progress = async () => Number((await sh('cat /tmp/writer.progress 2>/dev/null || echo -1')).out.trim());
    const waitProgress = async (past: number, seconds: number) => {
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const p = await progress();
        if (p > past) return p;
        if (Date.now() > deadline) throw new Error(`the writer did not get past ${past} within ${seconds} s\n${vm.console().slice(-3000)}`);
        await sleep(500);
      }
    };
    await waitProgress(3, 120);
    await svc.kill9();
    const atKill = await progress();
    await sleep(3000);
    svc = await startServe();
    api = new CinderApi(svc.url, project, 'nova', '3.54');
    // the kernel's replacement timeout (open-iscsi's default 120 s) has not run out: the session comes back
    await waitProgress(atKill + 3, 150);
    assert.match(await ok('iscsiadm -m session -P 1'), /iSCSI Session State: LOGGED_IN/);
    await ok('touch /tmp/stop-writer; while kill -0 $(cat /tmp/writer.pid) 2>/dev/null; do sleep 0.2; done', 300);
    await ok('umount /mnt/vol', 120);
    const fsck = await sh(`fsck.ext4 -n -f ${device}`, 300);
    assert.equal(fsck.rc, 0, fsck.out + fsck.err);
    await ok(`echo 3 >/proc/sys/vm/drop_caches; mount ${device} /mnt/vol`);
    const check = await ok('cd /mnt/vol/w && sha256sum -c --quiet /tmp/synced.sha256 && wc -l </tmp/synced.sha256 && cd /mnt/vol/data && sha256sum -c --quiet /tmp/data.sha256', 300);
    assert.ok(Number(check.trim()) > atKill, `only ${check.trim()} files were synced`);
    await ok('umount /mnt/vol', 120);
  });

  it('disconnect_volume and attachment delete end the access: the same CHAP login is refused by the target', async () => {
    await novaDetach(volumeId, attachmentId, ci);
    assert.doesNotMatch((await sh('iscsiadm -m session')).out, new RegExp(ci.target_iqn.replace(/\./g, '\\.')));
    const again = await vm.py<{ rc: number; out: string }>(
      `
import subprocess
node = ['iscsiadm', '-m', 'node', '-T', args['target_iqn'], '-p', args['target_portal']]
def run(*extra):
    return subprocess.run(node + list(extra), capture_output=True, text=True, timeout=120)
run('--interface', 'default', '--op', 'new')
run('--op', 'update', '-n', 'node.session.auth.authmethod', '-v', 'CHAP')
run('--op', 'update', '-n', 'node.session.auth.username', '-v', args['auth_username'])
run('--op', 'update', '-n', 'node.session.auth.password', '-v', args['auth_password'])
p = run('--login')
run('--logout')
run('--op', 'delete')
result = {'rc': p.returncode, 'out': p.stdout + p.stderr}
`,
      forGuest(ci),
    );
    assert.notEqual(again.rc, 0, `the login after attachment delete succeeded: ${again.out}`);
    // refused by the target (it answered the login with a status), not lost on the way
    const refused = svc.logs
      .filter((l) => l.includes('"login refused"'))
      .map((l) => JSON.parse(l) as { msg?: string; initiator?: string });
    assert.ok(refused.some((r) => r.initiator === connector.initiator), `the target logged no refused login of ${connector.initiator}`);
    assert.equal((await api.call('DELETE', `/volumes/${volumeId}`)).status, 202);
  });

  it('a read-only attachment: the kernel reads the LUN and its writes fail', async () => {
    const id = await api.createVolume(1, { name: 'kernel-ro' });
    const ro = await novaAttach(id, 'ro');
    assert.equal(ro.info.access_mode, 'ro');
    const name = ro.device.slice(5);
    await ok(`dd if=${ro.device} of=/dev/null bs=64k count=16 iflag=direct`);
    const write = await sh(`blockdev --setrw ${ro.device} 2>/dev/null; dd if=/dev/zero of=${ro.device} bs=4k count=1 oflag=direct`);
    assert.notEqual(write.rc, 0, `a write to the read-only LUN succeeded: ${write.out}${write.err}`);
    // the kernel learned it from the target's MODE SENSE (write protect) or from DATA PROTECT on the write
    const roFlag = (await ok(`cat /sys/block/${name}/ro`)).trim();
    const dmesg = await ok('dmesg');
    assert.ok(roFlag === '1' || /Data protect|Write Protect is on/i.test(dmesg), `ro=${roFlag}: no sign of write protection\n${write.err}`);
    await novaDetach(id, ro.attId, ro.info);
    assert.equal((await api.call('DELETE', `/volumes/${id}`)).status, 202);
    assert.ok(!svc.logs.join('\n').includes(ci.auth_password), 'the CHAP password appeared in the logs');
  });
});
