// `embervol serve --auth keystone` against a real Keystone (Debian's keystone on loopback): project isolation,
// Cinder's default roles, and the unmodified cinder and openstack CLIs logging in with passwords via the catalog.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { runProcess } from '../../src/util/exec.js';
import { startKeystone, type KeystoneFixture, type KeystoneUser } from '../support/keystone.js';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

describe('embervol with --auth keystone', () => {
  let ks: KeystoneFixture;
  let svc: ServiceProcess;
  const tokens = new Map<KeystoneUser, string>();

  before(async () => {
    ks = await startKeystone();
    const sc = ks.serviceCredentials();
    svc = await startServiceProcess({
      target: 'builtin',
      extraArgs: ['--auth', 'keystone', '--keystone-auth-url', sc.authUrl, '--keystone-username', sc.username, '--keystone-project-name', sc.projectName],
      env: { EMBERVOL_KEYSTONE_PASSWORD: sc.password },
    });
    await ks.registerService('volumev3', 'cinderv3', `${svc.url}/v3/$(project_id)s`);
    for (const u of ['alice', 'bob', 'rita', 'adminuser'] as const) tokens.set(u, await ks.token(u));
  });
  after(async () => {
    await svc?.stop();
    await ks?.stop();
  });

  /** A client acting as `user` in that user's own project, or in `project` (a URL project that may not be theirs). */
  function as(user: KeystoneUser, project = ks.users[user].project): CinderApi {
    const api = new CinderApi(svc.url, ks.projects[project].id, user, '3.0');
    const token = tokens.get(user)!;
    const call = api.call.bind(api);
    api.call = (method, path, body, headers = {}) => call(method, path, body, { 'X-Auth-Token': token, ...headers });
    return api;
  }

  it('isolates projects and applies member / reader / admin as Cinder does', async () => {
    const alice = as('alice');
    const id = await alice.createVolume(1, { name: 'alice-vol' });
    const shown = await alice.volume(id);
    assert.equal(shown.user_id, ks.users.alice.id);
    assert.equal(shown['os-vol-tenant-attr:tenant_id'], ks.projects.A.id);

    const bob = as('bob');
    const foreign = await bob.call('GET', `/volumes/${id}`);
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, { itemNotFound: { code: 404, message: `Volume ${id} could not be found.` } });
    assert.ok(!(await bob.call('GET', '/volumes')).body.volumes.some((v: { id: string }) => v.id === id));
    const wrongUrl = await as('bob', 'A').call('GET', `/volumes/${id}`);
    assert.equal(wrongUrl.status, 400, 'a URL project that is not the token project is a malformed URL');

    const rita = as('rita');
    assert.equal((await rita.call('GET', `/volumes/${id}`)).status, 200, 'a reader can read');
    const readerAction = await rita.action(id, 'os-reserve');
    assert.equal(readerAction.status, 403);
    assert.match(readerAction.body.forbidden.message, /^Policy doesn't allow .+ to be performed\.$/);

    const memberAdminAction = await alice.action(id, 'os-reset_status', { status: 'error' });
    assert.equal(memberAdminAction.status, 403, 'os-reset_status is admin only');
    assert.equal((await alice.action(id, 'os-force_delete')).status, 403, 'os-force_delete is admin only');
    assert.equal((await alice.call('POST', '/types', { volume_type: { name: 'nope' } })).status, 403, 'type management is admin only');

    const admin = as('adminuser');
    assert.equal((await admin.action(id, 'os-reset_status', { status: 'error' })).status, 202);
    assert.equal((await alice.volume(id)).status, 'error');
    assert.equal((await admin.action(id, 'os-force_delete')).status, 202);
  });

  it('lets a user detach an attachment Nova uses only with a service token (CVE-2023-2088 rule)', async () => {
    const alice = as('alice');
    const id = await alice.createVolume(1);
    const headers = { 'OpenStack-API-Version': 'volume 3.44' };
    const created = await alice.call('POST', '/attachments', {
      attachment: { volume_uuid: id, instance_uuid: randomUUID(), connector: { initiator: 'iqn.2024-01.org.example:ks-host', host: 'ks-host' } },
    }, headers);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const attId = created.body.attachment.id;
    assert.equal((await alice.call('POST', `/attachments/${attId}/action`, { 'os-complete': null }, headers)).status, 204);

    const plain = await alice.call('DELETE', `/attachments/${attId}`, undefined, headers);
    assert.equal(plain.status, 409);
    assert.match(plain.body.conflictingRequest.message, /^ConflictNovaUsingAttachment: /);
    const withService = await alice.call('DELETE', `/attachments/${attId}`, undefined, { ...headers, 'X-Service-Token': await ks.token('nova') });
    assert.equal(withService.status, 200, JSON.stringify(withService.body));
    assert.equal((await alice.volume(id)).status, 'available');
  });

  it('answers 401 the way keystonemiddleware does for a bad or missing token', async () => {
    const api = new CinderApi(svc.url, ks.projects.A.id);
    const bad = await api.call('GET', '/volumes', undefined, { 'X-Auth-Token': 'gAAAAA-not-a-token' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Keystone uri=/);
    const revokedToken = await ks.token('alice');
    await ks.revoke(revokedToken);
    const revoked = await api.call('GET', '/volumes', undefined, { 'X-Auth-Token': revokedToken });
    assert.equal(revoked.status, 401);
  });

  it('serves the unmodified cinder and openstack CLIs and openstacksdk logging in with a password through the catalog: volumes and types', async () => {
    const alice = ks.users.alice;
    const env = {
      ...process.env,
      OS_AUTH_URL: ks.authUrl,
      OS_USERNAME: alice.name,
      OS_PASSWORD: alice.password,
      OS_PROJECT_NAME: ks.projects.A.name,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_INTERFACE: 'public',
    };
    // OSC 6's `volume create` insists on an image service (Glance) in the catalog; there is none here, so the
    // volume is created with cinderclient and openstacksdk, and OSC lists, shows and deletes.
    const created = await runProcess('cinder', ['create', '--name', 'ks-cli-vol', '1'], { env });
    assert.equal(created.code, 0, created.stderr);
    const id = /\|\s*id\s*\|\s*([0-9a-f-]{36})/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    await as('alice').waitStatus(id, 'available');
    const listed = await runProcess('openstack', ['volume', 'list', '-f', 'json'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(JSON.parse(listed.stdout).some((v: { ID: string; Name: string }) => v.ID === id && v.Name === 'ks-cli-vol'), listed.stdout);
    const shown = await runProcess('openstack', ['volume', 'show', id, '-f', 'json'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).name, 'ks-cli-vol');

    const sdk = await runProcess('/usr/bin/python3', ['-c', [
      'import openstack, sys',
      'c = openstack.connect(auth_url=sys.argv[1], username=sys.argv[2], password=sys.argv[3], project_name=sys.argv[4], user_domain_name="Default", project_domain_name="Default", identity_api_version="3")',
      'v = c.block_storage.create_volume(size=1, name="ks-sdk-vol")',
      'v = c.block_storage.wait_for_status(v, "available", wait=60)',
      'print(v.id, v.name, v.status)',
    ].join('\n'), ks.authUrl, alice.name, alice.password, ks.projects.A.name], { env });
    assert.equal(sdk.code, 0, sdk.stderr);
    const [sdkId, sdkName, sdkStatus] = sdk.stdout.trim().split(' ');
    assert.equal(sdkName, 'ks-sdk-vol');
    assert.equal(sdkStatus, 'available');

    for (const vid of [id, sdkId]) {
      const deleted = await runProcess('openstack', ['volume', 'delete', vid], { env });
      assert.equal(deleted.code, 0, deleted.stderr);
    }
    const adminEnv = { ...env, OS_USERNAME: ks.users.adminuser.name, OS_PASSWORD: ks.users.adminuser.password };
    const typeCreated = await runProcess('openstack', ['volume', 'type', 'create', '--property', 'multiattach=<is> True', 'ks-shared', '-f', 'json'], { env: adminEnv });
    assert.equal(typeCreated.code, 0, typeCreated.stderr);
    const typeList = await runProcess('openstack', ['volume', 'type', 'list', '-f', 'json'], { env: adminEnv });
    assert.ok(JSON.parse(typeList.stdout).some((t: { Name: string }) => t.Name === 'ks-shared'), typeList.stdout);
    const typeShown = await runProcess('openstack', ['volume', 'type', 'show', 'ks-shared', '-f', 'json'], { env: adminEnv });
    assert.equal(typeShown.code, 0, typeShown.stderr);
    assert.match(typeShown.stdout, /multiattach/);
    const memberTypeCreate = await runProcess('openstack', ['volume', 'type', 'create', 'not-allowed'], { env });
    assert.notEqual(memberTypeCreate.code, 0, 'a member may not create types');
    assert.match(memberTypeCreate.stderr, /Policy doesn't allow|403/);
    const typeDeleted = await runProcess('openstack', ['volume', 'type', 'delete', 'ks-shared'], { env: adminEnv });
    assert.equal(typeDeleted.code, 0, typeDeleted.stderr);

    const bobEnv = { ...env, OS_USERNAME: ks.users.bob.name, OS_PASSWORD: ks.users.bob.password, OS_PROJECT_NAME: ks.projects.B.name };
    const bobList = await runProcess('openstack', ['volume', 'list', '-f', 'json'], { env: bobEnv });
    assert.equal(bobList.code, 0, bobList.stderr);
    assert.deepEqual(JSON.parse(bobList.stdout), []);
  });
});
