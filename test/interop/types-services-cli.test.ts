// The openstack CLI and cinderclient, unmodified, against `embervol serve`: a private type updated and given to a project,
// an encryption type, and the services and pools that the running process registered for itself.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RunResult } from '../../src/util/exec.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { noauthCinder, noauthOpenstack } from './cinder-cli.js';
import { CinderApi } from './api-client.js';

describe('openstack CLI and cinderclient: type update, access and encryption; volume service list; backend pools', () => {
  let svc: ServiceProcess;
  let osc: (...args: string[]) => Promise<RunResult>;
  let cinder: (...args: string[]) => Promise<RunResult>;
  let api: CinderApi;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    api = new CinderApi(svc.url, 'admin', 'notused');
    osc = noauthOpenstack(svc.url);
    // cinderclient for what this OSC cannot do without Keystone (--project looks the project up in Identity)
    // or does not have (backend pool list).
    cinder = noauthCinder(svc.url, 'admin', 'admin');
  });
  after(async () => {
    await svc?.stop();
  });

  const json = (r: RunResult) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const ok = (r: RunResult) => assert.equal(r.code, 0, r.stderr);

  it('private encrypted type: create, rename, grant a project, show access and encryption', async () => {
    const project = randomUUID().replace(/-/g, '');
    const t = json(
      await osc(
        'volume', 'type', 'create', 'cli-private', '--private', '--description', 'first',
        '--encryption-provider', 'luks', '--encryption-cipher', 'aes-xts-plain64', '--encryption-key-size', '256',
        '--encryption-control-location', 'front-end', '-f', 'json',
      ),
    );
    assert.equal(t.name, 'cli-private');
    assert.equal(t.is_public, false);
    ok(await osc('volume', 'type', 'set', '--name', 'cli-renamed', '--description', 'second', 'cli-private'));
    ok(await cinder('type-access-add', '--volume-type', t.id, '--project-id', project));
    const access = await cinder('type-access-list', '--volume-type', t.id);
    ok(access);
    assert.match(access.stdout, new RegExp(`${t.id}\\s*\\|\\s*${project}`));
    const shown = json(await osc('volume', 'type', 'show', '--encryption-type', 'cli-renamed', '-f', 'json'));
    assert.equal(shown.id, t.id);
    assert.equal(shown.description, 'second');
    assert.equal(shown.is_public, false);
    assert.match(String(shown.access_project_ids), new RegExp(project));
    assert.equal(shown.encryption.provider, 'luks');
    assert.equal(shown.encryption.cipher, 'aes-xts-plain64');
    assert.equal(shown.encryption.key_size, 256);
    assert.equal(shown.encryption.control_location, 'front-end');

    // The granted project sees the type; another project does not.
    const member = { 'X-Roles': 'member' };
    const granted = new CinderApi(svc.url, project, 'u');
    assert.equal((await granted.call('GET', `/types/${t.id}`, undefined, member)).status, 200);
    const outsider = new CinderApi(svc.url, randomUUID().replace(/-/g, ''), 'u');
    assert.equal((await outsider.call('GET', `/types/${t.id}`, undefined, member)).status, 404);

    // A volume of the type is encrypted and carries a key id.
    const v = await granted.call('POST', '/volumes', { volume: { size: 1, volume_type: t.id } }, member);
    assert.equal(v.status, 202);
    await granted.waitStatus(v.body.volume.id, 'available');
    const got = await api.call('GET', `/volumes/${v.body.volume.id}`, undefined, { 'OpenStack-API-Version': 'volume 3.64' });
    assert.equal(got.body.volume.encrypted, true);
    assert.ok(got.body.volume.encryption_key_id);
  });

  it('volume service list and backend pool list show this process as data', async () => {
    const services = json(await osc('volume', 'service', 'list', '--long', '-f', 'json'));
    const byBinary = Object.fromEntries(services.map((s: any) => [s.Binary, s]));
    assert.deepEqual(Object.keys(byBinary).sort(), ['cinder-scheduler', 'cinder-volume']);
    assert.equal(byBinary['cinder-volume'].Host, 'embervol@file');
    assert.equal(byBinary['cinder-scheduler'].Host, 'embervol');
    for (const s of services) assert.deepEqual([s.Status, s.State, s.Zone], ['enabled', 'up', 'nova']);

    ok(await osc('volume', 'service', 'set', '--disable', '--disable-reason', 'cli test', 'embervol@file', 'cinder-volume'));
    const disabled = json(await osc('volume', 'service', 'list', '--long', '--service', 'cinder-volume', '-f', 'json'));
    assert.deepEqual([disabled[0].Status, disabled[0]['Disabled Reason']], ['disabled', 'cli test']);
    const refused = await api.call('POST', '/volumes', { volume: { size: 1 } });
    assert.equal(refused.status, 202);
    await api.waitStatus(refused.body.volume.id, 'error');
    assert.equal((await api.call('PUT', '/os-services/enable', { host: 'embervol@file', binary: 'cinder-volume' })).status, 200);

    const pools = await cinder('get-pools', '--detail');
    ok(pools);
    const field = (name: string) => pools.stdout.match(new RegExp(`\\|\\s*${name}\\s*\\|\\s*(\\S+)`))?.[1];
    assert.equal(field('name'), 'embervol@file#file', pools.stdout);
    assert.equal(field('storage_protocol'), 'iSCSI');
    assert.equal(field('vendor_name'), 'Open');
    assert.ok(Number(field('total_capacity_gb')) > 0, pools.stdout);
    assert.ok(Number(field('free_capacity_gb')) > 0);
  });
});
