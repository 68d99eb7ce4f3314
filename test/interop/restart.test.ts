// Exports survive a restart of `embervol serve`, clean or by SIGKILL: an attached host logs in again with the same
// portal, IQN, LUN and CHAP and reads back what it wrote (and flushed), for each target driver. With tgt this also
// proves a killed service does not leave its private tgtd holding the portal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { findFreePort } from '../../src/util/ports.js';
import { qemuIo } from '../support/qemu.js';
import { CinderApi } from './api-client.js';
import { freeTgtControlPort, startServiceProcess } from './service-process.js';

const targets = (process.env.EMBERVOL_TEST_TARGETS ?? 'builtin,tgt').split(',') as ('tgt' | 'builtin')[];

for (const target of targets) {
  describe(`restart of embervol serve with --target ${target}`, () => {
    for (const how of ['SIGTERM', 'SIGKILL'] as const) it(`after ${how}, restores the export of an attached volume with the same credentials and the data intact`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'embervol-restart-'));
      const iscsiPort = await findFreePort();
      const tgtControlPort = freeTgtControlPort();
      const initiator = 'iqn.2024-01.org.example:restart-host';
      const connector = { initiator, host: 'restart-host' };
      let svc = await startServiceProcess({ target, dataDir, iscsiPort, tgtControlPort });
      try {
        let api = new CinderApi(svc.url);
        const id = await api.createVolume(1);
        assert.equal((await api.action(id, 'os-reserve')).status, 202);
        const init = await api.action(id, 'os-initialize_connection', { connector });
        assert.equal(init.status, 200);
        const d = init.body.connection_info.data;
        assert.equal((await api.action(id, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdc' })).status, 202);
        const q = { portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: initiator };
        const wrote = await qemuIo(q, ['write -P 0x7e 0 256k', 'write -P 0x11 512M 64k', 'flush']);
        assert.equal(wrote.code, 0, wrote.stdout + wrote.stderr);

        if (how === 'SIGKILL') await svc.kill9();
        else await svc.stop({ keepData: true });
        svc = await startServiceProcess({ target, dataDir, iscsiPort, tgtControlPort });
        api = new CinderApi(svc.url);
        const vol = await api.volume(id);
        assert.equal(vol.status, 'in-use');
        const read = await qemuIo(q, ['read -P 0x7e 0 256k', 'read -P 0x11 512M 64k', 'read -P 0 1M 64k']);
        assert.equal(read.code, 0, read.stdout + read.stderr);
        assert.doesNotMatch(read.stdout, /Pattern verification failed/);

        assert.equal((await api.action(id, 'os-begin_detaching')).status, 202);
        assert.equal((await api.action(id, 'os-terminate_connection', { connector })).status, 202);
        assert.equal((await api.action(id, 'os-detach', { attachment_id: vol.attachments[0].attachment_id })).status, 202);
        assert.equal((await api.volume(id)).status, 'available');
      } finally {
        await svc.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
