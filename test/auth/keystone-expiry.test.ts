// Token expiry and service-token renewal against a real Keystone whose tokens live 6 seconds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthError, createKeystoneValidator } from '../../src/auth/keystone.js';
import { silentLogger } from '../../src/log.js';
import { startKeystone, type KeystoneFixture } from '../support/keystone.js';

const VALIDATE = { method: 'GET', path: '/v3/auth/tokens' };
const LOGIN = { method: 'POST', path: '/v3/auth/tokens' };
const LIFETIME_S = 6;
const sleepUntil = async (t: number) => {
  const ms = t - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
};

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.status, 401);
    return err.reason;
  }
  assert.fail('expected a rejection');
}

describe('keystone validator: expiry (real keystone, short-lived tokens)', () => {
  let ks: KeystoneFixture;
  before(async () => {
    ks = await startKeystone({ tokenExpirationSeconds: LIFETIME_S });
  });
  after(async () => {
    await ks?.stop();
  });

  test('a cached token is rejected locally once it expires; Keystone rejects it too', async () => {
    const v = createKeystoneValidator({ ...ks.serviceCredentials(), logger: silentLogger(), cacheTtlMs: Infinity });
    const issued = await ks.issue('alice');
    assert.ok(issued.expiresAt.getTime() - Date.now() <= LIFETIME_S * 1000);
    const r = await v.validate(issued.token);
    assert.equal(r.expiresAt.getTime(), issued.expiresAt.getTime());

    await sleepUntil(issued.expiresAt.getTime() + 200);
    ks.resetRequests();
    assert.equal(await reason(v.validate(issued.token)), 'expired-token');
    assert.equal(ks.countRequests(VALIDATE), 0, 'the cache knew the expiry; Keystone was not asked');

    // Without a cache entry Keystone is asked and says the token is unknown.
    const v2 = createKeystoneValidator({ ...ks.serviceCredentials(), logger: silentLogger() });
    assert.equal(await reason(v2.validate(issued.token)), 'invalid-token');
    assert.equal(ks.countRequests(VALIDATE), 1);
  });

  test('the service token is renewed before it expires', async () => {
    const v = createKeystoneValidator({ ...ks.serviceCredentials(), logger: silentLogger() });
    ks.resetRequests();
    const t0 = Date.now();
    await v.validate(await ks.token('bob'));
    assert.equal(ks.countRequests(LOGIN), 1);
    // Renewal happens once half the lifetime is left (never later than 5 minutes before expiry).
    await sleepUntil(t0 + (LIFETIME_S / 2) * 1000 + 1200);
    const r = await v.validate(await ks.token('rita'));
    assert.equal(r.userName, 'rita');
    assert.equal(ks.countRequests(LOGIN), 2, 'a new service token was obtained');
    assert.equal(v.stats().serviceLogins, 2);
    // Every validation succeeded; none was refused because of an expired service token.
    assert.equal(ks.requests.filter((q) => q.method === 'GET' && q.status !== 200).length, 0);
  });
});
