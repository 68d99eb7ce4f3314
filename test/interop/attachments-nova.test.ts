// Nova's attach and detach through the attachments API against `embervol serve`, with real initiators on
// the data path: reserve without connector, update with a connector carrying the mountpoint, login and
// I/O, os-complete, os-begin_detaching, DELETE. Afterwards the volume is available and its target gone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { iscsiInq, iscsiLs, iscsiPortalUrl, splitPortal, lunUrl, type FlatConnectionInfo } from '../support/libiscsi.js';
import { qemuIo } from '../support/qemu.js';
import { qemuTarget } from './attachments-initiator.js';

const targets = (process.env.EMBERVOL_TEST_TARGETS ?? 'builtin,tgt').split(',') as ('tgt' | 'builtin')[];

for (const target of targets) {
  describe(`Nova-shaped attachment flow with --target ${target}`, () => {
    let svc: ServiceProcess;
    let api: CinderApi;
    const initiator = 'iqn.1993-08.org.debian:01:nova-compute-1';

    before(async () => {
      svc = await startServiceProcess({ target });
      // Nova talks 3.44 for attachments (nova-status requires it).
      api = new CinderApi(svc.url, '0a1b2c3d4e5f', 'nova', '3.44');
    });
    after(async () => {
      await svc?.stop();
    });

    it('reserve -> update -> login + I/O -> complete -> begin_detaching -> delete leaves the volume available and the target gone', async () => {
      const id = await api.createVolume(1, { name: 'nova-vol' });
      const instance = randomUUID();

      const reserved = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, instance_uuid: instance, connector: null } });
      assert.equal(reserved.status, 200, JSON.stringify(reserved.body));
      const attId = reserved.body.attachment.id as string;
      assert.equal(reserved.body.attachment.status, 'reserved');
      assert.equal((await api.volume(id)).status, 'reserved');

      const connector = { initiator, host: 'compute-1', ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false, mountpoint: '/dev/vdb' };
      const updated = await api.call('PUT', `/attachments/${attId}`, { attachment: { connector } });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      const ci = updated.body.attachment.connection_info as FlatConnectionInfo;
      assert.equal(ci.driver_volume_type, 'iscsi');
      assert.equal(ci.attachment_id, attId);
      assert.equal(ci.target_portal, svc.portal);
      assert.equal(ci.target_iqn, `iqn.2010-10.org.openstack:volume-${id}`);
      assert.equal(ci.auth_method, 'CHAP');
      assert.equal(ci.access_mode, 'rw');
      assert.equal((await api.volume(id)).status, 'attaching');

      // The host-side connect, as os-brick would do it from Nova's rebuilt connection_info.
      const inq = await iscsiInq(lunUrl(ci), initiator);
      assert.equal(inq.code, 0, inq.stderr);
      const io = await qemuIo(qemuTarget(ci, initiator), ['write -P 0x6e 0 64k', 'read -P 0x6e 0 64k']);
      assert.equal(io.code, 0, io.stdout + io.stderr);
      assert.doesNotMatch(io.stdout, /Pattern verification failed/);

      assert.equal((await api.call('POST', `/attachments/${attId}/action`, { 'os-complete': null })).status, 204);
      const inUse = await api.volume(id);
      assert.equal(inUse.status, 'in-use');
      assert.deepEqual(
        inUse.attachments.map((a: any) => [a.attachment_id, a.server_id, a.device]),
        [[attId, instance, '/dev/vdb']],
      );

      assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
      assert.equal((await api.volume(id)).status, 'detaching');
      const del = await api.call('DELETE', `/attachments/${attId}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(del.body, { attachments: [] });
      const detached = await api.volume(id);
      assert.equal(detached.status, 'available');
      assert.deepEqual(detached.attachments, []);

      // The target is gone: discovery no longer lists it and the same login is refused.
      const { host, port } = splitPortal(ci.target_portal);
      const ls = await iscsiLs(iscsiPortalUrl(host, port), initiator);
      assert.ok(!ls.iqns.includes(ci.target_iqn), `target still listed: ${ls.result.stdout}`);
      const again = await iscsiInq(lunUrl(ci), initiator);
      assert.notEqual(again.code, 0, 'the login must be refused once the attachment is deleted');

      assert.ok(!svc.logs.join('\n').includes(ci.auth_password), 'the CHAP password appeared in the logs');
      assert.equal((await api.call('DELETE', `/volumes/${id}`)).status, 202);
    });
  });
}
