// python3-cinderclient's CLI, unmodified, runs the attachment flow against `embervol serve` (noauth):
// attachment-create --connect, -complete, -list, -show, -delete, at 3.44 and at the negotiated maximum.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RunResult } from '../../src/util/exec.js';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { field, noauthCinder } from './cinder-cli.js';
import { iscsiInq, iscsiUrl, splitPortal } from '../support/libiscsi.js';

const project = '5e6f7a8b9c0d';

// Each cinder process takes seconds to start, so the cases run side by side (they share no volume).
describe('python3-cinderclient attachment commands against embervol', { concurrency: true }, () => {
  let svc: ServiceProcess;
  let api: CinderApi;
  let cinder: (...args: string[]) => Promise<RunResult>;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, project, 'alice', '3.44');
    cinder = noauthCinder(svc.url, project);
  });
  after(async () => {
    await svc?.stop();
  });

  for (const version of ['3.44', null] as const) {
    it(`create --connect, complete, list, show, delete at ${version ?? 'the negotiated maximum (3.70)'}`, async () => {
      const flag = version ? ['--os-volume-api-version', version] : [];
      const id = await api.createVolume(1, { name: `cc-${version ?? 'max'}` });
      const server = randomUUID();
      const initiator = `iqn.1993-08.org.debian:01:cinderclient-${version ?? 'max'}`;
      const mode = version ? [] : ['--mode', 'rw'];
      const created = await cinder(
        ...flag, 'attachment-create', id, server,
        '--connect', 'True', '--initiator', initiator, '--ip', '127.0.0.1', '--host', 'cc-host',
        '--platform', 'x86_64', '--ostype', 'linux', '--mountpoint', '/dev/vdb', ...mode,
      );
      assert.equal(created.code, 0, created.stderr);
      const attId = field(created.stdout, 'id');
      assert.ok(attId && /^[0-9a-f-]{36}$/.test(attId), created.stdout);
      assert.equal(field(created.stdout, 'status'), 'attaching');
      assert.equal(field(created.stdout, 'instance'), server);
      // The second table is the flattened connection_info; a real initiator logs in with it.
      const iqn = field(created.stdout, 'target_iqn')!;
      assert.equal(iqn, `iqn.2010-10.org.openstack:volume-${id}`);
      assert.equal(field(created.stdout, 'attachment_id'), attId);
      assert.equal(field(created.stdout, 'driver_volume_type'), 'iscsi');
      const portal = splitPortal(field(created.stdout, 'target_portal')!);
      const url = iscsiUrl({ ...portal, iqn, lun: Number(field(created.stdout, 'target_lun')), user: field(created.stdout, 'auth_username'), password: field(created.stdout, 'auth_password') });
      const inq = await iscsiInq(url, initiator);
      assert.equal(inq.code, 0, inq.stderr);

      const completed = await cinder(...flag, 'attachment-complete', attId);
      assert.equal(completed.code, 0, completed.stderr);
      assert.equal((await api.volume(id)).status, 'in-use');

      const listed = await cinder(...flag, 'attachment-list', '--volume-id', id);
      assert.equal(listed.code, 0, listed.stderr);
      const row = listed.stdout.split('\n').find((l) => l.includes(attId));
      assert.ok(row, listed.stdout);
      assert.deepEqual(row.split('|').map((c) => c.trim()).slice(1, 5), [attId, id, 'attached', server]);

      const shown = await cinder(...flag, 'attachment-show', attId);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(field(shown.stdout, 'status'), 'attached');
      assert.equal(field(shown.stdout, 'attach_mode'), 'rw');
      assert.equal(field(shown.stdout, 'access_mode'), 'rw');
      assert.equal(field(shown.stdout, 'target_iqn'), iqn);

      const deleted = await cinder(...flag, 'attachment-delete', attId);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal((await api.volume(id)).status, 'available');
      assert.notEqual((await iscsiInq(url, initiator)).code, 0, 'the login is refused after attachment-delete');
      if (version) {
        const missing = await cinder(...flag, 'attachment-show', attId);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /could not be found/);
      }
    });
  }

  it('attachment-create --connect True without --initiator is a 400 that says what is missing', async () => {
    const id = await api.createVolume(1);
    const r = await cinder('--os-volume-api-version', '3.44', 'attachment-create', id, '--connect', 'True', '--host', 'h');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Connector doesn't have required information: initiator \(HTTP 400\)/);
    assert.equal((await api.volume(id)).status, 'available', 'nothing was reserved');
  });

  it('attachment commands below 3.27 are refused by the client, and the server 404s them', async () => {
    const r = await cinder('--os-volume-api-version', '3.26', 'attachment-list');
    assert.notEqual(r.code, 0);
    const raw = await new CinderApi(svc.url, project, 'alice', '3.26').call('GET', '/attachments');
    assert.equal(raw.status, 404);
  });
});
