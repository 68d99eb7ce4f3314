// Read-only attachments are enforced by the builtin target, not only advertised in access_mode: a write
// from the read-only host fails at the target (DATA PROTECT; qemu refuses to open the write-protected LUN
// read-write), reads work, and the bytes stay as they were. Three ways to ask for ro: the 3.54 attachment
// mode, the legacy os-attach mode, and the volume's readonly flag.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { qemuIo, qemuIscsiJson } from '../support/qemu.js';
import { runProcess } from '../../src/util/exec.js';
import { HeldSession, qemuTarget } from './attachments-initiator.js';
import { type FlatConnectionInfo } from '../support/libiscsi.js';

const DATA_PROTECT = 0x7;
const WRITER = 'iqn.1993-08.org.debian:01:ro-writer';

describe('read-only attachments (builtin target)', () => {
  let svc: ServiceProcess;
  let api: CinderApi;
  let id: string;

  /** Asserts that `initiator` can read the 0x52 pattern and cannot change it, with qemu and with a raw session. */
  async function assertReadOnly(ci: FlatConnectionInfo, initiator: string): Promise<void> {
    assert.equal(ci.access_mode, 'ro');
    const t = qemuTarget(ci, initiator);
    const read = await runProcess('qemu-io', ['-r', '-c', 'read -P 0x52 0 64k', qemuIscsiJson(t)], { timeoutMs: 30_000 });
    assert.equal(read.code, 0, read.stdout + read.stderr);
    assert.doesNotMatch(read.stdout, /Pattern verification failed/);
    // The target reports the LUN write-protected, so qemu will not even open it read-write.
    const write = await qemuIo(t, ['write -P 0x11 0 64k']);
    assert.notEqual(write.code, 0, 'qemu-io wrote through a read-only attachment');
    assert.match(write.stdout + write.stderr, /write protected/i);
    // An initiator that writes anyway gets DATA PROTECT from the target.
    const { status, session } = await HeldSession.open(ci, initiator);
    assert.equal(status, 0, `${initiator} could not log in`);
    try {
      const w = await session.write(0, Buffer.alloc(4096, 0x11));
      assert.equal(w.status, 2, 'the write must end in CHECK CONDITION');
      assert.equal(w.senseKey, DATA_PROTECT);
      const r = await session.read(0, 8);
      assert.equal(r.status, 0);
      assert.ok(r.data.equals(Buffer.alloc(4096, 0x52)), 'the refused write changed nothing');
    } finally {
      session.close();
    }
  }

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, '0a1b2c3d4e5f', 'nova', '3.54');
    id = await api.createVolume(1, { name: 'ro-vol' });
    // Seed the volume through an ordinary rw attachment.
    const rw = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, connector: { initiator: WRITER, host: 'writer' } } });
    assert.equal(rw.status, 200, JSON.stringify(rw.body));
    assert.equal(rw.body.attachment.connection_info.access_mode, 'rw');
    const w = await qemuIo(qemuTarget(rw.body.attachment.connection_info, WRITER), ['write -P 0x52 0 64k']);
    assert.equal(w.code, 0, w.stdout + w.stderr);
    assert.equal((await api.call('DELETE', `/attachments/${rw.body.attachment.id}`)).status, 200);
  });
  after(async () => {
    await svc?.stop();
  });

  it('3.54 attachment mode ro', async () => {
    const initiator = 'iqn.1993-08.org.debian:01:ro-354';
    const r = await api.call('POST', '/attachments', {
      attachment: { volume_uuid: id, instance_uuid: randomUUID(), mode: 'ro', connector: { initiator, host: 'ro-354', mountpoint: '/dev/vdb' } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.attachment.attach_mode, 'ro');
    const ci = r.body.attachment.connection_info as FlatConnectionInfo;
    await assertReadOnly(ci, initiator);
    assert.equal((await api.call('DELETE', `/attachments/${r.body.attachment.id}`)).status, 200);
  });

  it('legacy os-attach with mode ro narrows the ACL entry that os-initialize_connection opened', async () => {
    const initiator = 'iqn.1993-08.org.debian:01:ro-legacy';
    assert.equal((await api.action(id, 'os-reserve')).status, 202);
    const init = await api.action(id, 'os-initialize_connection', { connector: { initiator, host: 'ro-legacy' } });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    assert.equal((await api.action(id, 'os-attach', { host_name: 'ro-legacy', mountpoint: '/dev/vdc', mode: 'ro' })).status, 202);
    // A later initialize_connection reports the attached mode (docs/cinder-compatibility.md#access-mode).
    const again = await api.action(id, 'os-initialize_connection', { connector: { initiator, host: 'ro-legacy' } });
    const ci = { ...again.body.connection_info.data } as FlatConnectionInfo;
    await assertReadOnly(ci, initiator);
    const vol = await api.volume(id);
    assert.equal(vol.metadata.attached_mode, 'ro');
    assert.equal((await api.action(id, 'os-detach', { attachment_id: vol.attachments[0].attachment_id })).status, 202);
    assert.equal((await api.volume(id)).status, 'available');
  });

  it('the readonly flag makes every new attachment read-only', async () => {
    const initiator = 'iqn.1993-08.org.debian:01:ro-flag';
    assert.equal((await api.action(id, 'os-update_readonly_flag', { readonly: true })).status, 202);
    const r = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, connector: { initiator, host: 'ro-flag' } } }, { 'OpenStack-API-Version': 'volume 3.44' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.attachment.attach_mode, 'ro');
    await assertReadOnly(r.body.attachment.connection_info, initiator);
    assert.equal((await api.call('DELETE', `/attachments/${r.body.attachment.id}`)).status, 200);
    assert.equal((await api.action(id, 'os-update_readonly_flag', { readonly: false })).status, 202);
  });
});
