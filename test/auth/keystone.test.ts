// The token validator against a real Keystone (Debian's keystone package) on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PassThrough } from 'node:stream';
import { AuthError, createKeystoneValidator, type KeystoneValidatorOptions } from '../../src/auth/keystone.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { startKeystone, type KeystoneFixture } from '../support/keystone.js';

const VALIDATE = { method: 'GET', path: '/v3/auth/tokens' };
const LOGIN = { method: 'POST', path: '/v3/auth/tokens' };

async function rejects(p: Promise<unknown>, status: number, reason: string): Promise<AuthError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AuthError, `expected AuthError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.reason, reason);
    return err;
  }
  assert.fail(`expected a ${status} ${reason} rejection`);
}

describe('keystone validator (real keystone)', () => {
  let ks: KeystoneFixture;
  const validator = (extra: Partial<KeystoneValidatorOptions> = {}) =>
    createKeystoneValidator({ ...ks.serviceCredentials(), logger: silentLogger(), ...extra });

  before(async () => {
    ks = await startKeystone();
  });
  after(async () => {
    await ks?.stop();
  });

  test('a member token gives its project, roles and expiry', async () => {
    const v = validator();
    const issued = await ks.issue('alice');
    const r = await v.validate(issued.token);
    assert.equal(r.userId, ks.users.alice.id);
    assert.equal(r.userName, 'alice');
    assert.equal(r.projectId, ks.projects.A.id);
    assert.equal(r.projectName, 'project-a');
    assert.deepEqual([...r.roles].sort(), ['member', 'reader']); // Keystone adds the implied reader role
    assert.equal(r.isAdmin, false);
    assert.equal(r.isService, false);
    assert.equal(r.expiresAt.getTime(), issued.expiresAt.getTime());
  });

  test('admin, reader and another project map as Cinder expects', async () => {
    const v = validator();
    const admin = await v.validate(await ks.token('adminuser'));
    assert.equal(admin.isAdmin, true);
    assert.equal(admin.projectId, ks.projects.A.id);
    assert.ok(admin.roles.includes('admin'));

    const reader = await v.validate(await ks.token('rita'));
    assert.deepEqual(reader.roles, ['reader']);
    assert.equal(reader.isAdmin, false);
    assert.equal(reader.projectId, ks.projects.A.id);

    const bob = await v.validate(await ks.token('bob'));
    assert.equal(bob.projectId, ks.projects.B.id);
    assert.notEqual(bob.projectId, ks.projects.A.id);
  });

  test('missing, garbage and unscoped tokens are 401 with a WWW-Authenticate value', async () => {
    const v = validator();
    await rejects(v.validate(undefined), 401, 'missing-token');
    await rejects(v.validate('   '), 401, 'missing-token');
    const err = await rejects(v.validate('gAAAAABnot-a-real-token'), 401, 'invalid-token');
    assert.equal(err.wwwAuthenticate, `Keystone uri="${ks.authUrl.replace(/\/v3$/, '')}"`);
    assert.deepEqual(err.body(), { unauthorized: { code: 401, message: 'The request you have made requires authentication.' } });
    await rejects(v.validate(await ks.token('alice', { unscoped: true })), 401, 'unscoped-token');
  });

  test('a cached validation does not ask Keystone again; the service token is obtained once', async () => {
    const v = validator();
    const token = await ks.token('alice');
    ks.resetRequests();
    const first = await v.validate(token);
    assert.equal(ks.countRequests(LOGIN), 1, 'one service login');
    assert.equal(ks.countRequests(VALIDATE), 1, 'one validation');
    for (let i = 0; i < 5; i++) assert.deepEqual(await v.validate(token), first);
    assert.equal(ks.countRequests(VALIDATE), 1, 'later validations come from the cache');
    assert.equal(ks.countRequests(LOGIN), 1);
    const other = await ks.token('bob');
    await v.validate(other);
    assert.equal(ks.countRequests(VALIDATE), 2, 'another token is validated');
    assert.equal(ks.countRequests(LOGIN), 1, 'with the same service token');
    assert.equal(v.stats().cacheHits, 5);
  });

  test('concurrent validations of one token share one Keystone request', async () => {
    const v = validator();
    const token = await ks.token('bob');
    await v.validate(await ks.token('rita')); // service login out of the way
    ks.resetRequests();
    const results = await Promise.all(Array.from({ length: 8 }, () => v.validate(token)));
    assert.equal(ks.countRequests(VALIDATE), 1);
    for (const r of results) assert.equal(r.projectId, ks.projects.B.id);
  });

  test('a revoked token: served from the cache until forget() or cacheTtlMs, then 401', async () => {
    let clock = Date.now();
    const v = validator({ cacheTtlMs: 60_000, now: () => clock });
    const token = await ks.token('rita');
    await v.validate(token);
    await ks.revoke(token);

    // Documented: within cacheTtlMs a cached validation is trusted without asking Keystone.
    ks.resetRequests();
    assert.equal((await v.validate(token)).userName, 'rita');
    assert.equal(ks.countRequests(VALIDATE), 0);

    // Past cacheTtlMs Keystone is asked again and says the token is gone.
    clock += 60_001;
    await rejects(v.validate(token), 401, 'invalid-token');
    assert.equal(ks.countRequests(VALIDATE), 1);
    // Failures are not cached: the next try asks again.
    await rejects(v.validate(token), 401, 'invalid-token');
    assert.equal(ks.countRequests(VALIDATE), 2);

    // forget() drops an entry at once.
    const t2 = await ks.token('alice');
    const v2 = validator();
    await v2.validate(t2);
    await ks.revoke(t2);
    v2.forget(t2);
    await rejects(v2.validate(t2), 401, 'invalid-token');

    // A fresh validator never accepts the revoked token.
    await rejects(validator().validate(token), 401, 'invalid-token');
  });

  test('X-Service-Token: the service role makes isService; another valid token does not; a bad one is 401', async () => {
    const v = validator();
    const alice = await ks.token('alice');
    const nova = await ks.token('nova');
    const withService = await v.validate(alice, nova);
    assert.equal(withService.isService, true);
    assert.equal(withService.userName, 'alice', 'the user is still the subject token');
    assert.equal(withService.projectId, ks.projects.A.id);

    const withBob = await v.validate(alice, await ks.token('bob'));
    assert.equal(withBob.isService, false, 'a member token is no service token');

    assert.equal((await v.validate(alice)).isService, false);
    await rejects(v.validate(alice, 'gAAAAABgarbage'), 401, 'invalid-service-token');

    // Deployments may name other roles (service_token_roles).
    const v2 = validator({ serviceTokenRoles: ['admin'] });
    assert.equal((await v2.validate(alice, nova)).isService, false);
    assert.equal((await v2.validate(alice, await ks.token('adminuser'))).isService, true);
  });

  test('Keystone unreachable -> 503; cached validations keep working; recovery afterwards', async () => {
    const v = validator();
    const cached = await ks.token('alice');
    await v.validate(cached);
    const fresh = await ks.token('bob');
    ks.setReachable(false);
    try {
      const err = await rejects(v.validate(fresh), 503, 'keystone-unavailable');
      assert.deepEqual(err.body(), { serviceUnavailable: { code: 503, message: 'The Keystone service is temporarily unavailable.' } });
      assert.equal((await v.validate(cached)).userName, 'alice');
      // A validator that has no service token yet cannot even log in.
      await rejects(validator().validate(fresh), 503, 'keystone-unavailable');
    } finally {
      ks.setReachable(true);
    }
    assert.equal((await v.validate(fresh)).userName, 'bob');
  });

  test('Keystone on a closed port -> 503', async () => {
    const v = createKeystoneValidator({ ...ks.serviceCredentials(), authUrl: 'http://127.0.0.1:1/v3', logger: silentLogger(), timeoutMs: 2000 });
    await rejects(v.validate(await ks.token('alice')), 503, 'keystone-unavailable');
  });

  test('wrong service credentials -> 503 keystone-misconfigured', async () => {
    const v = validator({ password: 'wrong' });
    await rejects(v.validate(await ks.token('alice')), 503, 'keystone-misconfigured');
  });

  test('an authUrl without /v3 works', async () => {
    const v = validator({ authUrl: ks.authUrl.replace(/\/v3$/, '/') });
    assert.equal((await v.validate(await ks.token('alice'))).userName, 'alice');
  });

  test('the cache is a bounded LRU', async () => {
    const v = validator({ cacheSize: 2 });
    const [a, b, c] = [await ks.token('alice'), await ks.token('bob'), await ks.token('rita')];
    await v.validate(a);
    await v.validate(b);
    await v.validate(a); // a is now the most recent
    await v.validate(c); // evicts b
    assert.equal(v.stats().cached, 2);
    ks.resetRequests();
    await v.validate(a);
    await v.validate(c);
    assert.equal(ks.countRequests(VALIDATE), 0);
    await v.validate(b);
    assert.equal(ks.countRequests(VALIDATE), 1);
  });

  test('tokens and passwords never reach the log, even at debug level', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString('utf8')));
    const logger = createLogger({ level: 'trace', destination: out });
    const creds = ks.serviceCredentials();
    const v = createKeystoneValidator({ ...creds, logger });
    const alice = await ks.token('alice');
    const nova = await ks.token('nova');
    await v.validate(alice, nova);
    await rejects(v.validate('gAAAAABbad-token-value'), 401, 'invalid-token');
    await rejects(createKeystoneValidator({ ...creds, password: 'wrong-secret-pw', logger }).validate(alice), 503, 'keystone-misconfigured');
    ks.setReachable(false);
    await rejects(v.validate(await ks.token('bob')), 503, 'keystone-unavailable');
    ks.setReachable(true);
    await new Promise((r) => setImmediate(r));
    assert.ok(text.length > 0, 'something was logged');
    for (const secret of [alice, nova, 'gAAAAABbad-token-value', creds.password, 'wrong-secret-pw']) {
      assert.ok(!text.includes(secret), 'a secret leaked into the log');
    }
  });
});
