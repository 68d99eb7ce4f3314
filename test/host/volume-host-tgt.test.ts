// The volume host with the file backend and the tgt driver on a private tgtd, checked with real
// initiators (libiscsi tools and qemu): what a compute host would do with the connection data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createVolumeHost, GiB } from '../../src/host/local-host.js';
import { parseProviderLocation, parseProviderAuth } from '../../src/host/provider.js';
import type { HostLifecycle, VolumeHost, VolumeRef, IscsiConnectionData } from '../../src/host/types.js';
import { FileBackend } from '../../src/backends/file.js';
import { TgtTarget } from '../../src/targets/tgt.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { startPrivateTgt, type PrivateTgt } from '../support/tgtd.js';
import { iscsiInq, iscsiUrl, readCapacityBytes, iscsiLs, iscsiPortalUrl, splitPortal } from '../support/libiscsi.js';
import { qemuIo, type QemuIscsiTarget } from '../support/qemu.js';
import { capturingLogger } from '../support/log-capture.js';
import { waitFor } from '../support/wait.js';

const COMPUTE = 'iqn.1994-05.com.redhat:compute-a';
const STRANGER = 'iqn.1994-05.com.redhat:compute-b';

let dir: TempDir;
let tgt: PrivateTgt;
let host: VolumeHost & HostLifecycle;
let backend: FileBackend;
const logs = capturingLogger();
const secrets: string[] = [];

before(async () => {
  dir = await makeTempDir();
  tgt = await startPrivateTgt({ logger: logs.logger });
  backend = new FileBackend(dir.path);
  host = createVolumeHost({ backend, target: tgt.target, logger: logs.logger, hostName: 'test-host', portals: [tgt.portal] });
  await host.start();
});

after(async () => {
  await host?.stop();
  await dir?.cleanup();
});

/** What the workflow would do: create, connect (export + ACL entry), persist the provider columns. */
async function attachVolume(initiator = COMPUTE, multipath = false): Promise<{ vol: VolumeRef; data: IscsiConnectionData }> {
  const id = randomUUID();
  await host.createVolume(id, 1);
  const vol: VolumeRef = { id, sizeGiB: 1, providerLocation: null, providerAuth: null };
  const made = await host.connect(vol, { initiator, multipath, host: 'compute-a' }, 'rw');
  vol.providerLocation = made.providerLocation;
  vol.providerAuth = made.providerAuth;
  secrets.push(parseProviderAuth(made.providerAuth)!.password);
  return { vol, data: made.data };
}

function lunUrl(data: IscsiConnectionData, password = data.auth_password): string {
  const { host: h, port } = splitPortal(data.target_portal);
  return iscsiUrl({ host: h, port, iqn: data.target_iqn, lun: data.target_lun, user: data.auth_username, password });
}

function qemuTarget(data: IscsiConnectionData, initiatorName = COMPUTE): QemuIscsiTarget {
  return {
    portal: data.target_portal,
    iqn: data.target_iqn,
    lun: data.target_lun,
    user: data.auth_username,
    password: data.auth_password,
    initiatorName,
  };
}

test('create_export returns Cinder\'s provider_location and provider_auth; connection data matches them', async () => {
  const { vol, data } = await attachVolume();
  const loc = parseProviderLocation(vol.providerLocation!);
  assert.deepEqual(loc.portals, [tgt.portal]);
  assert.match(loc.tid, /^\d+$/);
  assert.equal(loc.iqn, `iqn.2010-10.org.openstack:volume-${vol.id}`);
  assert.equal(loc.lun, 1);
  assert.match(vol.providerLocation!, new RegExp(`^127\\.0\\.0\\.1:${tgt.port},\\d+ iqn\\.2010-10\\.org\\.openstack:volume-${vol.id} 1$`));
  assert.match(vol.providerAuth!, /^CHAP [2-9A-HJ-NP-Za-km-z]{20} [2-9A-HJ-NP-Za-km-z]{16}$/);
  const chap = parseProviderAuth(vol.providerAuth)!;
  assert.deepEqual(data, {
    target_discovered: false,
    target_portal: tgt.portal,
    target_iqn: loc.iqn,
    target_lun: 1,
    volume_id: vol.id,
    auth_method: 'CHAP',
    auth_username: chap.username,
    auth_password: chap.password,
  });

  // A second connect (next attachment) reuses the persisted CHAP and the same target.
  const { providerLocation, providerAuth } = await host.connect(vol, { initiator: COMPUTE }, 'rw');
  const again = { providerLocation, providerAuth };
  assert.deepEqual(again, { providerLocation: vol.providerLocation, providerAuth: vol.providerAuth });
});

test('an allowed initiator with the returned CHAP logs in with libiscsi; capacity is the volume size', async () => {
  const { data } = await attachVolume();
  const inq = await iscsiInq(lunUrl(data), COMPUTE);
  assert.equal(inq.code, 0, inq.stderr);
  assert.match(inq.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
  assert.equal(await readCapacityBytes(lunUrl(data), COMPUTE), GiB);
});

test('qemu writes a pattern through the export and reads it back; the bytes land in the volume file', async () => {
  const { vol, data } = await attachVolume();
  const r = await qemuIo(qemuTarget(data), ['write -P 0xab 0 64k', 'read -P 0xab 0 64k']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed/);
  const st = await stat(backend.devicePath(vol.id));
  assert.ok(st.blocks > 0, 'the write must reach the backing file');
});

test('a wrong CHAP password, no CHAP, and an initiator outside the ACL are refused', async () => {
  const { data } = await attachVolume();
  const wrong = await iscsiInq(lunUrl(data, 'WrongPassword234'), COMPUTE);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /Authentication failure/);
  const { host: h, port } = splitPortal(data.target_portal);
  const noChap = await iscsiInq(iscsiUrl({ host: h, port, iqn: data.target_iqn, lun: 1 }), COMPUTE);
  assert.notEqual(noChap.code, 0);
  const stranger = await iscsiInq(lunUrl(data), STRANGER);
  assert.notEqual(stranger.code, 0);
  const strangerQemu = await qemuIo(qemuTarget(data, STRANGER), ['read 0 4k']);
  assert.notEqual(strangerQemu.code, 0);
  // The allowed initiator still gets in: the refusals were about who and how, not a broken target.
  assert.equal((await iscsiInq(lunUrl(data), COMPUTE)).code, 0);
});

test('terminate_connection ends access for that initiator; other initiators keep theirs', async () => {
  const { vol, data } = await attachVolume();
  await host.connect(vol, { initiator: STRANGER }, 'rw');
  assert.equal((await iscsiInq(lunUrl(data), STRANGER)).code, 0);
  await host.disconnect(vol, COMPUTE, { dropExport: false });
  const after = await iscsiInq(lunUrl(data), COMPUTE);
  assert.notEqual(after.code, 0);
  assert.equal((await iscsiInq(lunUrl(data), STRANGER)).code, 0);
  // Idempotent: terminating again is fine.
  await host.disconnect(vol, COMPUTE, { dropExport: false });
});

test('multipath connectors get the plural lists', async () => {
  const { data } = await attachVolume(COMPUTE, true);
  assert.deepEqual(data.target_portals, [tgt.portal]);
  assert.deepEqual(data.target_iqns, [data.target_iqn]);
  assert.deepEqual(data.target_luns, [1]);
});

test('extend grows the volume and the exported LUN reports the new capacity', async () => {
  const { vol, data } = await attachVolume();
  await host.extendVolume(vol.id, 2);
  assert.equal((await stat(backend.devicePath(vol.id))).size, 2 * GiB);
  assert.equal(await readCapacityBytes(lunUrl(data), COMPUTE), 2 * GiB);
});

test('remove_export: discovery no longer shows the target and login is refused; delete removes the file', async () => {
  const { vol, data } = await attachVolume();
  const portal = iscsiPortalUrl(tgt.host, tgt.port);
  const before = await iscsiLs(portal, COMPUTE);
  assert.ok(before.iqns.includes(data.target_iqn), before.result.stdout + before.result.stderr);
  await host.disconnect(vol, null, { dropExport: true });
  const afterLs = await iscsiLs(portal, COMPUTE);
  assert.ok(!afterLs.iqns.includes(data.target_iqn), afterLs.result.stdout);
  assert.notEqual((await iscsiInq(lunUrl(data), COMPUTE)).code, 0);
  await host.disconnect(vol, null, { dropExport: true }); // idempotent
  assert.ok(!(await tgt.target.listExports()).includes(vol.id));
  await host.deleteVolume(vol.id);
  assert.equal(await backend.exists(vol.id), false);
});

test('delete_volume removes a live export before the file', async () => {
  const { vol, data } = await attachVolume();
  await host.deleteVolume(vol.id);
  assert.ok(!(await tgt.target.listExports()).includes(vol.id));
  assert.equal(await backend.exists(vol.id), false);
  assert.notEqual((await iscsiInq(lunUrl(data), COMPUTE)).code, 0);
});

test('kill -9 of tgtd: the supervisor restarts it and the driver restores its exports with the data intact', async () => {
  const { data } = await attachVolume();
  const w = await qemuIo(qemuTarget(data), ['write -P 0x5c 0 64k']);
  assert.equal(w.code, 0, w.stderr);
  const oldPid = tgt.target.daemon!.pid!;
  const restored = new Promise((resolve) => tgt.target.once('restored', resolve));
  process.kill(oldPid, 'SIGKILL');
  await restored;
  assert.notEqual(tgt.target.daemon!.pid, oldPid);
  const r = await qemuIo(qemuTarget(data), ['read -P 0x5c 0 64k']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.notEqual((await iscsiInq(lunUrl(data), STRANGER)).code, 0, 'the ACL must come back too');
});

test('ensure_export (a fresh embervol process after tgtd lost its state) brings the target back with the same CHAP', async () => {
  // A second driver without memory of earlier exports, on the same tgtd: what a restarted service has.
  const fresh = new TgtTarget({
    portal: { host: tgt.host, port: tgt.port },
    logger: logs.logger,
    daemon: { manage: false, controlPort: tgt.target.daemon!.controlPort },
  });
  const freshHost = createVolumeHost({ backend, target: fresh, logger: logs.logger, hostName: 'test-host', portals: [tgt.portal] });
  await freshHost.start();
  const id = randomUUID();
  await freshHost.createVolume(id, 1);
  const vol: VolumeRef = { id, sizeGiB: 1, providerLocation: null, providerAuth: null };
  const made = await freshHost.connect(vol, { initiator: COMPUTE }, 'rw');
  vol.providerLocation = made.providerLocation;
  vol.providerAuth = made.providerAuth;
  secrets.push(parseProviderAuth(vol.providerAuth)!.password);
  const data = made.data;
  assert.equal((await qemuIo(qemuTarget(data), ['write -P 0x3e 0 64k'])).code, 0);

  // The supervising driver never made this export, so after the crash nobody restores it...
  const oldPid = tgt.target.daemon!.pid!;
  const restarted = new Promise((resolve) => tgt.target.daemon!.once('restarted', () => resolve(undefined)));
  process.kill(oldPid, 'SIGKILL');
  await restarted;
  await waitFor('restarted tgtd to answer', async () => (await fresh.listExports().catch(() => null)) !== null);
  assert.ok(!(await fresh.listExports()).includes(id));
  assert.notEqual((await iscsiInq(lunUrl(data), COMPUTE)).code, 0);

  // ...until ensure_export runs with what the database holds.
  await freshHost.syncExport(vol, [{ initiator: COMPUTE, mode: 'rw' }]);
  assert.ok((await fresh.listExports()).includes(id));
  const r = await qemuIo(qemuTarget(data), ['read -P 0x3e 0 64k']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.notEqual((await iscsiInq(lunUrl(data), STRANGER)).code, 0);
  await assert.rejects(freshHost.syncExport({ ...vol, providerAuth: null }, []), /no CHAP credentials/);
  await freshHost.deleteVolume(id);
});

test('no CHAP password ever reaches the logs', () => {
  const text = logs.text();
  assert.ok(text.length > 0, 'the run must have logged something');
  assert.ok(secrets.length > 0);
  for (const s of secrets) assert.ok(!text.includes(s), 'a CHAP password was logged');
});
