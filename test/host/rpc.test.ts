// The internal RPC (host/rpc-server.ts, rpc-client.ts): a real volume host (file backend, builtin target) served
// over HTTP to a RemoteVolumeHost, which must behave like the host itself: results, HostError kinds, a real
// initiator reading what the remote connect exported. Callers without the shared secret are refused before
// anything runs; a host that is not there is HostError('unavailable').
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FileBackend } from '../../src/backends/file.js';
import { createVolumeHost } from '../../src/host/local-host.js';
import type { HostLifecycle, VolumeHost } from '../../src/host/types.js';
import { HostError } from '../../src/host/types.js';
import { createRpcServer, type RpcServer } from '../../src/host/rpc-server.js';
import { RemoteVolumeHost } from '../../src/host/rpc-client.js';
import { SIGNATURE_HEADER, signRequest } from '../../src/host/rpc-protocol.js';
import { remoteHostDirectory } from '../../src/host/directory.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { findFreePort } from '../../src/util/ports.js';
import { iscsiUrl, readCapacityBytes, splitPortal } from '../support/libiscsi.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { capturingLogger } from '../support/log-capture.js';

const SECRET = 'rpc-test-secret-0123456789abcdef';
const GiB = 1024 ** 3;

let dir: TempDir;
let host: VolumeHost & HostLifecycle;
let server: RpcServer;
let address: string;
let remote: RemoteVolumeHost;
const logs = capturingLogger('debug');
const lines = () => logs.text().split('\n').filter(Boolean);

before(async () => {
  dir = await makeTempDir();
  const logger = logs.logger;
  const target = new BuiltinTarget({ portal: { host: '127.0.0.1', port: await findFreePort() }, logger });
  host = createVolumeHost({ backend: new FileBackend(join(dir.path, 'volumes')), target, logger, hostName: 'rpc-host', portals: [] });
  await host.start();
  server = createRpcServer({ host, secret: SECRET, logger });
  const bound = await server.listen({ host: '127.0.0.1', port: 0 });
  address = `127.0.0.1:${bound.port}`;
  remote = new RemoteVolumeHost({ hostName: 'rpc-host', secret: SECRET, address: async () => address });
});
after(async () => {
  await server?.close();
  await host?.stop();
  await dir?.cleanup();
});

async function post(method: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://${address}/rpc/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, body: await res.json() };
}

test('a remote host creates, exports to a real initiator, extends and deletes like the local one', async () => {
  await remote.createVolume('vol-a', 1);
  assert.deepEqual(await remote.listBackingVolumes(), ['vol-a']);
  const conn = await remote.connect(
    { id: 'vol-a', sizeGiB: 1, providerLocation: null, providerAuth: null },
    { initiator: 'iqn.2026-12.test:rpc-client' },
    'rw',
  );
  assert.match(conn.providerAuth, /^CHAP \S+ \S+$/);
  assert.deepEqual(await remote.listExports(), ['vol-a']);
  const url = iscsiUrl({ ...splitPortal(conn.data.target_portal), iqn: conn.data.target_iqn, lun: conn.data.target_lun, user: conn.data.auth_username, password: conn.data.auth_password });
  assert.equal(await readCapacityBytes(url, 'iqn.2026-12.test:rpc-client'), GiB);
  await remote.extendVolume('vol-a', 2);
  assert.equal(await readCapacityBytes(url, 'iqn.2026-12.test:rpc-client'), 2 * GiB);
  await remote.createSnapshot('vol-a', 'snap-a');
  assert.deepEqual(await remote.listBackingSnapshots(), ['snap-a']);
  await remote.createVolumeFrom('vol-b', { kind: 'snapshot', id: 'snap-a' }, 2);
  assert.deepEqual((await remote.listBackingVolumes()).sort(), ['vol-a', 'vol-b']);
  assert.equal(await remote.copyMethod(), await host.copyMethod());
  await remote.disconnect({ id: 'vol-a', sizeGiB: 2, providerLocation: conn.providerLocation, providerAuth: conn.providerAuth }, null, { dropExport: true });
  assert.deepEqual(await remote.listExports(), []);
  await remote.deleteSnapshot('vol-a', 'snap-a');
  await remote.deleteVolume('vol-a');
  await remote.deleteVolume('vol-b');
  assert.deepEqual(await remote.listBackingVolumes(), []);
  // The CHAP password that crossed the RPC is in no log line.
  const password = conn.providerAuth.split(' ')[2]!;
  assert.ok(lines().length > 0);
  assert.ok(!lines().some((l) => l.includes(password)));
});

test('the host errors travel with their kinds', async () => {
  await assert.rejects(remote.createVolume('vol-bad', 0), (e: unknown) => e instanceof HostError && e.kind === 'invalid' && /positive integer/.test(e.message));
  await assert.rejects(
    remote.connect({ id: 'vol-missing', sizeGiB: 1, providerLocation: null, providerAuth: null }, { initiator: 'iqn.2026-12.test:x' }, 'rw'),
    (e: unknown) => e instanceof HostError && e.kind === 'not-found',
  );
  await remote.createVolume('vol-nochap', 1);
  await assert.rejects(
    remote.syncExport({ id: 'vol-nochap', sizeGiB: 1, providerLocation: null, providerAuth: null }, []),
    (e: unknown) => e instanceof HostError && e.kind === 'no-credentials',
  );
  await remote.deleteVolume('vol-nochap');
});

test('calls without the secret are refused with 401 and change nothing', async () => {
  const body = JSON.stringify({ args: ['vol-intruder', 1] });
  const unsigned = await post('createVolume', body, {});
  assert.equal(unsigned.status, 401);
  const wrongKey = await post('createVolume', body, { [SIGNATURE_HEADER]: signRequest('another-secret-of-enough-length', 'createVolume', body) });
  assert.equal(wrongKey.status, 401);
  // A signature for another body or another method does not carry over.
  const otherBody = await post('createVolume', body, { [SIGNATURE_HEADER]: signRequest(SECRET, 'createVolume', JSON.stringify({ args: ['x', 1] })) });
  assert.equal(otherBody.status, 401);
  const otherMethod = await post('createVolume', body, { [SIGNATURE_HEADER]: signRequest(SECRET, 'deleteVolume', body) });
  assert.equal(otherMethod.status, 401);
  const stale = await post('createVolume', body, { [SIGNATURE_HEADER]: signRequest(SECRET, 'createVolume', body, Date.now() - 60 * 60 * 1000) });
  assert.equal(stale.status, 401);
  assert.deepEqual(await host.listBackingVolumes(), []);
  // The client of a process with another secret sees the refusal as an unreachable host.
  const stranger = new RemoteVolumeHost({ hostName: 'rpc-host', secret: 'another-secret-of-enough-length', address: async () => address });
  await assert.rejects(stranger.createVolume('vol-intruder', 1), (e: unknown) => e instanceof HostError && e.kind === 'unavailable');
  assert.deepEqual(await host.listBackingVolumes(), []);
  // The secret never reaches a log line, nor does the signature.
  assert.ok(!lines().some((l) => l.includes(SECRET)));
  assert.ok(lines().some((l) => l.includes('RPC call refused')));
});

test('a signed call of an unknown method or with a bad body is a 4xx', async () => {
  const body = JSON.stringify({ args: [] });
  assert.equal((await post('rmRf', body, { [SIGNATURE_HEADER]: signRequest(SECRET, 'rmRf', body) })).status, 404);
  const notJson = 'args=1';
  assert.equal((await post('listExports', notJson, { [SIGNATURE_HEADER]: signRequest(SECRET, 'listExports', notJson) })).status, 400);
});

test('a host nobody listens for, or one without an address, is unavailable', async () => {
  const port = await findFreePort();
  const gone = new RemoteVolumeHost({ hostName: 'gone', secret: SECRET, address: async () => `127.0.0.1:${port}` });
  await assert.rejects(gone.listExports(), (e: unknown) => e instanceof HostError && e.kind === 'unavailable' && /ECONNREFUSED/.test(e.message));
  const dir2 = remoteHostDirectory({ local: null, secret: SECRET, lookup: async (name) => (name === 'rpc-host' ? address : null), cacheMs: 1000 });
  assert.deepEqual(await dir2.byName('rpc-host').listBackingVolumes(), []);
  await assert.rejects(dir2.byName('unknown').listExports(), (e: unknown) => e instanceof HostError && e.kind === 'unavailable');
  assert.throws(() => dir2.byName(null), (e: unknown) => e instanceof HostError && e.kind === 'unavailable');
  const noSecret = remoteHostDirectory({ local: null, secret: null, lookup: async () => address, cacheMs: 1000 });
  assert.throws(() => noSecret.byName('rpc-host'), (e: unknown) => e instanceof HostError && e.kind === 'unavailable');
});
