// The full legacy attach/detach workflow over HTTP against `embervol serve`, with a real initiator on the data path.
// Runs once per target driver: the export must behave the same whichever target serves it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CinderApi } from './api-client.js';
import { iscsiInq, iscsiUrl, readCapacityBytes, splitPortal, type IscsiLunAddress } from '../support/libiscsi.js';
import { qemuIo } from '../support/qemu.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const targets = (process.env.EMBERVOL_TEST_TARGETS ?? 'builtin,tgt').split(',') as ('tgt' | 'builtin')[];

for (const target of targets) {
  describe(`legacy attach/detach with --target ${target}`, () => {
    let svc: ServiceProcess;
    let api: CinderApi;
    const initiator = 'iqn.2004-10.com.ubuntu:01:e2e-host-1';
    const connector = { initiator, host: 'compute-1', ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false };

    before(async () => {
      svc = await startServiceProcess({ target });
      api = new CinderApi(svc.url);
    });
    after(async () => {
      await svc?.stop();
    });

    it('reserve -> initialize -> real I/O -> attach -> begin_detaching -> terminate -> detach, then the login is refused', async () => {
      const id = await api.createVolume(1, { name: 'e2e' });

      assert.equal((await api.action(id, 'os-reserve')).status, 202);
      assert.equal((await api.volume(id)).status, 'attaching');

      const init = await api.action(id, 'os-initialize_connection', { connector });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const ci = init.body.connection_info;
      assert.equal(ci.driver_volume_type, 'iscsi');
      const d = ci.data;
      for (const key of ['target_discovered', 'target_portal', 'target_iqn', 'target_lun', 'volume_id', 'auth_method', 'auth_username', 'auth_password', 'encrypted', 'qos_specs', 'access_mode']) {
        assert.ok(key in d, `connection_info.data lacks ${key}`);
      }
      assert.equal(d.target_portal, svc.portal);
      assert.equal(d.target_iqn, `iqn.2010-10.org.openstack:volume-${id}`);
      assert.equal(d.volume_id, id);
      assert.equal(d.auth_method, 'CHAP');
      assert.equal(d.auth_username.length, 20);
      assert.equal(d.auth_password.length, 16);
      assert.equal(d.access_mode, 'rw');
      assert.equal(d.target_discovered, false);

      const lun: IscsiLunAddress = { ...splitPortal(d.target_portal), iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password };
      const inq = await iscsiInq(iscsiUrl(lun), initiator);
      assert.equal(inq.code, 0, inq.stderr);
      assert.equal(await readCapacityBytes(iscsiUrl(lun), initiator), 1024 ** 3);
      const qemuTarget = { portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: initiator };
      const io = await qemuIo(qemuTarget, ['write -P 0xa5 0 64k', 'write -P 0x5a 1M 4k', 'read -P 0xa5 0 64k', 'read -P 0x5a 1M 4k']);
      assert.equal(io.code, 0, io.stdout + io.stderr);
      assert.doesNotMatch(io.stdout, /Pattern verification failed/);

      const wrongPassword = d.auth_password.slice(0, 15) + (d.auth_password.endsWith('x') ? 'y' : 'x');
      const refusedPassword = await iscsiInq(iscsiUrl({ ...lun, password: wrongPassword }), initiator);
      assert.notEqual(refusedPassword.code, 0, 'a wrong CHAP password must be refused');
      const refusedInitiator = await iscsiInq(iscsiUrl(lun), 'iqn.2004-10.com.ubuntu:01:not-attached');
      assert.notEqual(refusedInitiator.code, 0, 'an initiator that is not the connector must be refused');

      const instance = randomUUID();
      assert.equal((await api.action(id, 'os-attach', { instance_uuid: instance, mountpoint: '/dev/vdb', mode: 'rw' })).status, 202);
      const attached = await api.volume(id);
      assert.equal(attached.status, 'in-use');
      assert.equal(attached.attachments.length, 1);
      const att = attached.attachments[0];
      assert.equal(att.server_id, instance);
      assert.equal(att.device, '/dev/vdb');
      assert.equal(att.volume_id, id);
      assert.equal(attached.metadata.attached_mode, 'rw');
      assert.equal(attached.metadata.readonly, 'False');

      assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
      assert.equal((await api.volume(id)).status, 'detaching');
      assert.equal((await api.action(id, 'os-terminate_connection', { connector })).status, 202);
      assert.equal((await api.action(id, 'os-detach', { attachment_id: att.attachment_id })).status, 202);
      const detached = await api.volume(id);
      assert.equal(detached.status, 'available');
      assert.deepEqual(detached.attachments, []);

      const afterDetach = await iscsiInq(iscsiUrl(lun), initiator);
      assert.notEqual(afterDetach.code, 0, 'the same login must be refused after detach');

      assert.equal((await api.call('DELETE', `/volumes/${id}`)).status, 202);
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      assert.match(metrics, /embervol_http_requests_total\{method="POST",route="\/v3\/:project_id\/volumes\/:id\/action",status="202"\} \d+/);
      assert.match(metrics, /embervol_process_cpu_seconds_total/);
      if (target === 'builtin') {
        // The initiator's commands above went through the busy-poll window, caught or not.
        const events = [...metrics.matchAll(/^embervol_iscsi_busy_poll_events_total\{result="(?:hit|miss)"\} (\d+)$/gm)];
        assert.equal(events.length, 2, 'hit and miss counters are exported');
        assert.ok(events.reduce((n, m) => n + Number(m[1]), 0) > 0, 'iSCSI input was counted');
        assert.match(metrics, /^embervol_iscsi_busy_poll_window_seconds \S+$/m);
      }
      const logs = svc.logs.join('\n');
      assert.ok(!logs.includes(d.auth_password), 'the CHAP password appeared in the logs');
    });
  });
}
