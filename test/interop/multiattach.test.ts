// Multiattach against `embervol serve` (builtin target): three hosts attach one volume at once through the
// attachments API, each with its own ACL entry, and all read the same bytes through real logins. Detaching
// one drops that host's session and refuses its logins, while the other two hosts' sessions keep reading.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { iscsiInq, lunUrl, type FlatConnectionInfo } from '../support/libiscsi.js';
import { qemuIo } from '../support/qemu.js';
import { HeldSession, qemuTarget } from './attachments-initiator.js';

const HOSTS = ['iqn.1993-08.org.debian:01:multi-a', 'iqn.1993-08.org.debian:01:multi-b', 'iqn.1993-08.org.debian:01:multi-c'];

describe('multiattach: three hosts, one volume (builtin target)', () => {
  let svc: ServiceProcess;
  let api: CinderApi;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, '0a1b2c3d4e5f', 'nova', '3.50');
  });
  after(async () => {
    await svc?.stop();
  });

  it('all three read the same data; detaching one drops only its session; the export goes with the last', async () => {
    const t = await api.call('POST', '/types', { volume_type: { name: 'multiattach', extra_specs: { multiattach: '<is> True' } } });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const id = await api.createVolume(1, { volume_type: 'multiattach' });

    // All three attach at once: reserve + connect in one POST each, concurrently.
    const created = await Promise.all(
      HOSTS.map((initiator, i) =>
        api.call('POST', '/attachments', {
          attachment: { volume_uuid: id, instance_uuid: randomUUID(), connector: { initiator, host: `compute-${i}`, ip: '127.0.0.1', mountpoint: '/dev/vdb' } },
        }),
      ),
    );
    assert.deepEqual(created.map((r) => r.status), [200, 200, 200], JSON.stringify(created.map((r) => r.body)));
    const atts = created.map((r) => r.body.attachment as { id: string; connection_info: FlatConnectionInfo });
    const ci = atts[0]!.connection_info;
    // One target for the volume, shared by all three.
    assert.deepEqual(new Set(atts.map((a) => a.connection_info.target_iqn)).size, 1);
    for (const a of atts) {
      const done = await api.call('POST', `/attachments/${a.id}/action`, { 'os-complete': null });
      assert.equal(done.status, 204);
    }
    const vol = await api.volume(id);
    assert.equal(vol.status, 'in-use');
    assert.equal(vol.attachments.length, 3);

    // Host A writes; all three read it back through their own logins, at the same time.
    const w = await qemuIo(qemuTarget(ci, HOSTS[0]!), ['write -P 0x4d 0 64k']);
    assert.equal(w.code, 0, w.stdout + w.stderr);
    const reads = await Promise.all(HOSTS.map((h) => qemuIo(qemuTarget(ci, h), ['read -P 0x4d 0 64k'])));
    for (const [i, r] of reads.entries()) {
      assert.equal(r.code, 0, `${HOSTS[i]}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /Pattern verification failed/, HOSTS[i]);
    }

    // Long-lived sessions, one per host, like three hypervisors with the disk open.
    const sessions: HeldSession[] = [];
    for (const h of HOSTS) {
      const { status, session } = await HeldSession.open(ci, h);
      assert.equal(status, 0, `${h} could not log in`);
      sessions.push(session);
    }
    try {
      for (const s of sessions) {
        const r = await s.read(0, 8);
        assert.equal(r.status, 0);
        assert.ok(r.data.equals(Buffer.alloc(4096, 0x4d)), 'every host reads the bytes host A wrote');
      }

      // Host B detaches (Nova's path: begin_detaching, then DELETE).
      assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
      const del = await api.call('DELETE', `/attachments/${atts[1]!.id}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(del.body.attachments.map((a: any) => a.id).sort(), [atts[0]!.id, atts[2]!.id].sort());
      assert.equal((await api.volume(id)).status, 'in-use', 'two attachments remain');

      assert.equal(await sessions[1]!.waitClosed(), true, "host B's session was dropped");
      for (const i of [0, 2]) {
        const r = await sessions[i]!.read(0, 8);
        assert.equal(r.status, 0, `${HOSTS[i]} lost its session`);
        assert.ok(r.data.equals(Buffer.alloc(4096, 0x4d)));
        assert.equal(sessions[i]!.closed, false);
      }
      assert.notEqual((await iscsiInq(lunUrl(ci), HOSTS[1]!)).code, 0, 'host B can no longer log in');
      assert.equal((await iscsiInq(lunUrl(ci), HOSTS[2]!)).code, 0, 'host C still can');
    } finally {
      for (const s of sessions) s.close();
    }

    for (const i of [0, 2]) assert.equal((await api.call('DELETE', `/attachments/${atts[i]!.id}`)).status, 200);
    assert.equal((await api.volume(id)).status, 'available');
    assert.notEqual((await iscsiInq(lunUrl(ci), HOSTS[0]!)).code, 0, 'the export went with the last attachment');
  });

  it('two attachments from one host share its ACL entry until both are gone', async () => {
    const id = await api.createVolume(1, { volume_type: 'multiattach' });
    const host = 'iqn.1993-08.org.debian:01:multi-same';
    const connector = (mountpoint: string) => ({ initiator: host, host: 'compute-same', ip: '127.0.0.1', mountpoint });
    const a = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, instance_uuid: randomUUID(), connector: connector('/dev/vdb') } });
    const b = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, instance_uuid: randomUUID(), connector: connector('/dev/vdc') } });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const ci = a.body.attachment.connection_info as FlatConnectionInfo;
    const { status, session } = await HeldSession.open(ci, host);
    assert.equal(status, 0);
    try {
      assert.equal((await api.call('DELETE', `/attachments/${a.body.attachment.id}`)).status, 200);
      const r = await session.read(0, 1);
      assert.equal(r.status, 0, 'the session of the remaining attachment survives');
      assert.equal((await iscsiInq(lunUrl(ci), host)).code, 0);
      assert.equal((await api.call('DELETE', `/attachments/${b.body.attachment.id}`)).status, 200);
      assert.equal(await session.waitClosed(), true, 'the last attachment took the session with it');
    } finally {
      session.close();
    }
    assert.equal((await api.volume(id)).status, 'available');
  });
});
