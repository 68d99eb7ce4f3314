// The embervol CLI as a host without Nova uses it: create, attach (three steps), real I/O, detach, delete.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess } from '../../src/util/exec.js';
import { iscsiInq } from '../support/libiscsi.js';
import { qemuIo, qemuIscsiJson } from '../support/qemu.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const repoRoot = new URL('../..', import.meta.url).pathname;

function embervol(url: string, ...args: string[]) {
  return runProcess(process.execPath, ['--import', 'tsx', `${repoRoot}src/cli/main.ts`, '--url', url, ...args], { cwd: repoRoot });
}

describe('embervol CLI', () => {
  let svc: ServiceProcess;
  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
  });
  after(async () => {
    await svc?.stop();
  });

  it('creates, attaches with a usable connection, detaches and deletes', async () => {
    const initiator = 'iqn.2024-01.org.example:cli-host';
    const created = await embervol(svc.url, '--json', 'volume', 'create', '--size', '1', '--name', 'cli-vol');
    assert.equal(created.code, 0, created.stderr);
    const vol = JSON.parse(created.stdout);
    assert.equal(vol.status, 'available');

    const attached = await embervol(svc.url, '--json', 'attach', 'cli-vol', '--initiator', initiator, '--host', 'cli-host');
    assert.equal(attached.code, 0, attached.stderr);
    const a = JSON.parse(attached.stdout);
    assert.equal(a.status, 'in-use');
    assert.ok(a.attachment_id);
    const d = a.connection_info.data;
    assert.match(a.libiscsi_url, /^iscsi:\/\/[^@]+%[^@]+@127\.0\.0\.1:\d+\/iqn\.2010-10\.org\.openstack:volume-/);
    const inq = await iscsiInq(a.libiscsi_url, initiator);
    assert.equal(inq.code, 0, inq.stderr);
    const io = await qemuIo({ portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: initiator }, ['write -P 0x3c 0 8k', 'read -P 0x3c 0 8k']);
    assert.equal(io.code, 0, io.stdout + io.stderr);

    const table = await embervol(svc.url, 'volume', 'list');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /cli-vol\s*\|\s*in-use/);

    const detached = await embervol(svc.url, 'detach', 'cli-vol');
    assert.equal(detached.code, 0, detached.stderr);
    assert.match(detached.stdout, /now available/);
    assert.notEqual((await iscsiInq(a.libiscsi_url, initiator)).code, 0, 'login must be refused after detach');

    const deleted = await embervol(svc.url, 'volume', 'delete', 'cli-vol');
    assert.equal(deleted.code, 0, deleted.stderr);

    // The history outlives the volume: every transition, in order, with who asked.
    let history: { action: string; from_status: string | null; to_status: string | null; user_id: string | null }[] = [];
    for (let i = 0; i < 50 && !history.some((e) => e.to_status === 'deleted'); i++) {
      const events = await embervol(svc.url, '--json', 'events', vol.id);
      assert.equal(events.code, 0, events.stderr);
      history = JSON.parse(events.stdout);
      await new Promise((r) => setTimeout(r, 100));
    }
    const volumeSteps = history.filter((e) => e.from_status !== e.to_status).map((e) => `${e.from_status ?? '-'}>${e.to_status}`);
    for (const step of ['creating>available', 'available>reserved', 'in-use>detaching', 'available>deleting', 'deleting>deleted']) {
      assert.ok(volumeSteps.includes(step), `events lack ${step}: ${volumeSteps.join(', ')}`);
    }
    assert.ok(history.some((e) => e.user_id === 'embervol-cli'), 'events name the user who acted');
    const eventsTable = await embervol(svc.url, 'events', vol.id);
    assert.match(eventsTable.stdout, /\| When\s+\| Resource/);
  });

  it('attaches read-only with --mode ro: reads work, writes are refused by the target', async () => {
    const initiator = 'iqn.2024-01.org.example:cli-ro-host';
    assert.equal((await embervol(svc.url, 'volume', 'create', '--size', '1', '--name', 'cli-ro')).code, 0);
    const attached = await embervol(svc.url, '--json', 'attach', 'cli-ro', '--initiator', initiator, '--mode', 'ro');
    assert.equal(attached.code, 0, attached.stderr);
    const d = JSON.parse(attached.stdout).connection_info.data;
    assert.equal(d.access_mode, 'ro');
    const q = { portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: initiator };
    const read = await runProcess('qemu-io', ['-r', '-c', 'read -P 0 0 4k', qemuIscsiJson(q)]);
    assert.equal(read.code, 0, read.stdout + read.stderr);
    const write = await qemuIo(q, ['write -P 0x1 0 4k']);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /write protected/);
    assert.equal((await embervol(svc.url, 'detach', 'cli-ro')).code, 0);
    assert.equal((await embervol(svc.url, 'volume', 'delete', 'cli-ro')).code, 0);
  });

  it('exits 1 on an API refusal, 2 on a usage error and 3 when the service is unreachable, with a message', async () => {
    const missing = await embervol(svc.url, 'volume', 'show', 'no-such-volume');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no volume with id or name "no-such-volume"/);

    const badMode = await embervol(svc.url, 'attach', 'x', '--initiator', 'iqn.2024-01.org.example:h', '--mode', 'rx');
    assert.equal(badMode.code, 2);
    assert.match(badMode.stderr, /--mode must be rw or ro/);

    const unreachable = await embervol('http://127.0.0.1:9', 'volume', 'list');
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /cannot reach embervol at http:\/\/127\.0\.0\.1:9/);
  });
});
