// serve's options: defaults < JSON file < EMBERVOL_* environment < flags, and errors that say what to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { makeTempDir } from '../support/tmp.js';

test('defaults are the embedded ones: builtin target, noauth, loopback ports, SQLite in the data dir', () => {
  const c = loadConfig({ dataDir: '/var/lib/ev' }, { env: {} });
  assert.equal(c.target, 'builtin');
  assert.equal(c.auth, 'noauth');
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8776 });
  assert.deepEqual(c.iscsiPortal, { host: '127.0.0.1', port: 3260 });
  assert.equal(c.database, '/var/lib/ev/embervol.sqlite');
  assert.equal(c.keystone, null);
  assert.equal(c.leases.attachingMs, 300_000);
  assert.equal(c.iscsiBusyPollMicroseconds, 500);
  assert.equal(loadConfig({}, { env: { EMBERVOL_ISCSI_BUSY_POLL_MICROSECONDS: '0' } }).iscsiBusyPollMicroseconds, 0);
});

test('a flag beats the environment, which beats the config file', async () => {
  const dir = await makeTempDir();
  try {
    const file = join(dir.path, 'embervol.json');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:1111', target: 'tgt', iscsiPortal: '[::1]:3261', leaseDetachingSeconds: 2.5 }));
    const env = { EMBERVOL_LISTEN: '127.0.0.1:2222', EMBERVOL_TGT_CONTROL_PORT: '4000' };
    const c = loadConfig({ listen: '127.0.0.1:3333' }, { configFile: file, env });
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 3333 });
    assert.equal(c.target, 'tgt');
    assert.deepEqual(c.iscsiPortal, { host: '::1', port: 3261 });
    assert.equal(c.tgtControlPort, 4000);
    assert.equal(c.leases.detachingMs, 2500);
    assert.equal(loadConfig({}, { configFile: file, env }).listen.port, 2222);
  } finally {
    await dir.cleanup();
  }
});

test('mistakes are refused with a message that names the option and what it takes', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ listen: 'localhost' }, /listen must be HOST:PORT/],
    [{ target: 'lio' }, /target must be one of builtin, tgt, got "lio"/],
    [{ tgtControlPort: '40000' }, /tgt-control-port must be a whole number 1-32767/],
    [{ iscsiBusyPollMicroseconds: '1.5' }, /iscsi-busy-poll-microseconds must be a whole number 0-1000000, got "1.5"/],
    [{ iscsiBusyPollMicroseconds: '-3' }, /iscsi-busy-poll-microseconds must be a whole number 0-1000000/],
    [{ leaseTaskSeconds: '-1' }, /lease-task-seconds must be a number of seconds above 0/],
    [{ auth: 'keystone' }, /--auth keystone needs EMBERVOL_KEYSTONE_AUTH_URL, EMBERVOL_KEYSTONE_USERNAME, EMBERVOL_KEYSTONE_PASSWORD/],
  ];
  for (const [flags, message] of cases) {
    assert.throws(() => loadConfig(flags, { env: {} }), (e: unknown) => e instanceof ConfigError && message.test(e.message));
  }
  const dir = await makeTempDir();
  try {
    const file = join(dir.path, 'bad.json');
    writeFileSync(file, JSON.stringify({ dataDirectory: '/x' }));
    assert.throws(() => loadConfig({}, { configFile: file, env: {} }), /unknown option "dataDirectory"/);
    writeFileSync(file, '{ not json');
    assert.throws(() => loadConfig({}, { configFile: file, env: {} }), /is not valid JSON/);
  } finally {
    await dir.cleanup();
  }
});

test('keystone options are read from the environment so the password need not be on the command line', () => {
  const c = loadConfig({ auth: 'keystone' }, {
    env: { EMBERVOL_KEYSTONE_AUTH_URL: 'http://ks:5000/v3', EMBERVOL_KEYSTONE_USERNAME: 'embervol', EMBERVOL_KEYSTONE_PASSWORD: 's3cret' },
  });
  assert.deepEqual(c.keystone, {
    authUrl: 'http://ks:5000/v3', username: 'embervol', password: 's3cret', projectName: 'service', userDomainName: 'Default', projectDomainName: 'Default',
  });
});

test('roles: host needs --rpc-listen and the RPC secret, which comes from the environment or the config file only', async () => {
  const secret = 'a-shared-secret-of-some-length';
  assert.equal(loadConfig({}, { env: {} }).role, 'all');
  assert.equal(loadConfig({}, { env: {} }).rpcSecret, null);
  assert.throws(() => loadConfig({ role: 'db' }, { env: {} }), (e: unknown) => e instanceof ConfigError && /role must be one of all, api, host/.test(e.message));
  assert.throws(() => loadConfig({ role: 'host' }, { env: { EMBERVOL_RPC_SECRET: secret } }), (e: unknown) => e instanceof ConfigError && /--rpc-listen/.test(e.message));
  assert.throws(() => loadConfig({ role: 'host', rpcListen: '127.0.0.1:8777' }, { env: {} }), (e: unknown) => e instanceof ConfigError && /EMBERVOL_RPC_SECRET/.test(e.message));
  assert.throws(() => loadConfig({ role: 'api' }, { env: {} }), (e: unknown) => e instanceof ConfigError && /EMBERVOL_RPC_SECRET/.test(e.message));
  assert.throws(() => loadConfig({ role: 'api' }, { env: { EMBERVOL_RPC_SECRET: 'short' } }), (e: unknown) => e instanceof ConfigError && /at least 16/.test(e.message));
  const host = loadConfig({ role: 'host', rpcListen: '127.0.0.1:8777' }, { env: { EMBERVOL_RPC_SECRET: secret } });
  assert.deepEqual([host.role, host.rpcListen, host.rpcSecret], ['host', { host: '127.0.0.1', port: 8777 }, secret]);
  // No error message repeats the secret.
  try {
    loadConfig({ role: 'host' }, { env: { EMBERVOL_RPC_SECRET: secret } });
  } catch (e) {
    assert.ok(!(e as Error).message.includes(secret));
  }
  const dir = await makeTempDir();
  try {
    const file = join(dir.path, 'embervol.json');
    writeFileSync(file, JSON.stringify({ role: 'api', rpcSecret: secret, reportIntervalSeconds: 2, serviceDownSeconds: 7 }));
    const api = loadConfig({}, { configFile: file, env: {} });
    assert.deepEqual([api.role, api.rpcSecret, api.reportIntervalMs, api.serviceDownMs], ['api', secret, 2000, 7000]);
  } finally {
    await dir.cleanup();
  }
  assert.throws(
    () => loadConfig({ reportIntervalSeconds: 10, serviceDownSeconds: 5 }, { env: {} }),
    (e: unknown) => e instanceof ConfigError && /service-down-seconds must be longer/.test(e.message),
  );
});
