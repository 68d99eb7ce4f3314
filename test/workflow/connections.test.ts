// The export/ACL bookkeeping of the workflow against the real volume host (file backend + private tgtd):
// initialize_connection builds Cinder's connection_info, the export survives until the last attachment
// goes, and an initiator keeps its ACL entry while another live attachment uses it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeEnv, adminCtx, availableVolume, connector, INITIATOR_A, INITIATOR_B, type Env } from './fixture.js';
import { CinderFault } from '../../src/errors.js';
import * as volumes from '../../src/store/volumes.js';
import * as attachments from '../../src/store/attachments.js';
import { eventsFor } from '../../src/store/events.js';
import type { TgtTarget } from '../../src/targets/tgt.js';
import { parseTargetShow } from '../../src/targets/tgt-show.js';
import { targetIqn } from '../support/iqn.js';

let env: Env;
const ctx = adminCtx('proj-conn');
let multiType: string;

before(async () => {
  env = await makeEnv({ real: true });
  const t = await env.workflow.createType(ctx, { name: 'multi', extraSpecs: { multiattach: '<is> True' } });
  multiType = t.id;
});
after(async () => {
  await env?.close();
});

const target = () => env.tgt!.target as TgtTarget;

/** The initiators tgtd itself has bound to the volume's target (asked with tgtadm, not our bookkeeping). */
async function allowedInitiators(id: string): Promise<string[]> {
  const text = await target().daemon!.tgtadm.run(['--op', 'show', '--mode', 'target']);
  const t = parseTargetShow(text).find((x) => x.iqn === targetIqn(target(), id));
  return t ? [...t.acl].sort() : [];
}

async function row(id: string) {
  return (await volumes.findVolume(env.store.db, id))!;
}

/** Which volumes have a target in tgtd right now, asked from tgtd itself. */
async function exported(id: string): Promise<boolean> {
  return (await target().listExports()).includes(id);
}

test('create makes a sparse file of the requested size; delete removes file and row', async () => {
  const id = await availableVolume(env, ctx, { size: 2 });
  const v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'available');
  const files = join(env.dir.path, 'volumes');
  const name = (await readdir(files)).find((f) => f.includes(id));
  assert.ok(name, 'a backing file named after the volume exists');
  assert.equal((await stat(join(files, name))).size, 2 * 1024 ** 3);
  await env.workflow.deleteVolume(ctx, id);
  await env.workflow.drain();
  // Through deleting, read from the history: the background step may have finished by the time deleteVolume returns.
  const steps = (await eventsFor(env.store.db, id)).filter((e) => e.resource_type === 'volume').map((e) => `${e.from_status}->${e.to_status}`);
  assert.deepEqual(steps.slice(-2), ['available->deleting', 'deleting->deleted']);
  await assert.rejects(env.workflow.getVolume(ctx, id), (e: CinderFault) => e.status === 404 && e.message === `Volume ${id} could not be found.`);
  const left = await readdir(files);
  assert.ok(!left.some((f) => f.includes(id)));
});

test('initialize_connection: export persisted in Cinder formats, every 4.3 key present', async () => {
  const id = await availableVolume(env, ctx);
  await env.workflow.reserve(ctx, id);
  const info = await env.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  assert.equal(info.driver_volume_type, 'iscsi');
  const d = info.data;
  assert.deepEqual(Object.keys(d).sort(), [
    'access_mode', 'auth_method', 'auth_password', 'auth_username', 'cacheable', 'encrypted', 'qos_specs',
    'target_discovered', 'target_iqn', 'target_lun', 'target_portal', 'volume_id',
  ]);
  assert.equal(d.target_discovered, false);
  assert.equal(d.target_portal, env.tgt!.portal);
  assert.equal(d.target_iqn, `iqn.2010-10.org.openstack:volume-${id}`);
  assert.equal(d.target_lun, 1);
  assert.equal(d.volume_id, id);
  assert.equal(d.auth_method, 'CHAP');
  assert.match(d.auth_username as string, /^[2-9A-HJ-NP-Za-km-z]{20}$/);
  assert.match(d.auth_password as string, /^[2-9A-HJ-NP-Za-km-z]{16}$/);
  assert.equal(d.access_mode, 'rw');
  assert.equal(d.encrypted, false);
  assert.equal(d.qos_specs, null);
  assert.equal(d.cacheable, false);
  const r = await row(id);
  assert.match(r.provider_location!, new RegExp(`^${env.tgt!.portal.replace(/\./g, '\\.')},\\d+ iqn\\.2010-10\\.org\\.openstack:volume-${id} 1$`));
  assert.equal(r.provider_auth, `CHAP ${d.auth_username} ${d.auth_password}`);
  assert.equal(r.status, 'attaching', 'initialize_connection does not change the status');
  assert.ok(await exported(id));

  // multipath asks for the plural lists; CHAP is reused, not regenerated.
  const again = await env.workflow.initializeConnection(ctx, id, connector(INITIATOR_A, { multipath: true }));
  assert.deepEqual(again.data.target_portals, [env.tgt!.portal]);
  assert.deepEqual(again.data.target_iqns, [d.target_iqn]);
  assert.deepEqual(again.data.target_luns, [1]);
  assert.equal(again.data.auth_password, d.auth_password);
});

test('missing initiator is 400 and creates nothing', async () => {
  const id = await availableVolume(env, ctx);
  for (const bad of [{ host: 'h' }, 'iqn-as-a-string', null, { initiator: '' }]) {
    await assert.rejects(
      env.workflow.initializeConnection(ctx, id, bad),
      (e: CinderFault) => e.status === 400 && e.message === "Invalid input received: Connector doesn't have required information: initiator",
    );
  }
  assert.equal((await row(id)).provider_location, null);
  assert.equal(await exported(id), false);
});

test('legacy cycle: detach of the only attachment removes the export and the ACL', async () => {
  const id = await availableVolume(env, ctx);
  await env.workflow.reserve(ctx, id);
  await env.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  await env.workflow.attach(ctx, id, { hostName: 'compute-a', mountpoint: '/dev/vdb', mode: 'rw' });
  let v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'in-use');
  assert.equal(v.attachStatus, 'attached');
  const [att] = await attachments.liveAttachments(env.store.db, [id]);
  assert.equal(att.initiator, INITIATOR_A, 'os-attach claimed the connector of initialize_connection');
  assert.deepEqual(await allowedInitiators(id), [INITIATOR_A]);

  await env.workflow.beginDetaching(ctx, id);
  await env.workflow.terminateConnection(ctx, id, connector(INITIATOR_A));
  assert.deepEqual(await allowedInitiators(id), [], 'the only user of the initiator is leaving');
  assert.ok(await exported(id), 'terminate_connection leaves the export');
  await env.workflow.detach(ctx, id, v.attachments[0].id);
  v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'available');
  assert.equal(v.attachStatus, 'detached');
  assert.deepEqual(v.attachments, []);
  assert.equal(await exported(id), false);
  assert.equal((await row(id)).provider_location, null);
  assert.ok((await row(id)).provider_auth, 'CHAP stays so a later export reuses it');
});

test('multiattach: export stays until the last attachment; a shared initiator keeps its ACL entry', async () => {
  const id = await availableVolume(env, ctx, { volumeType: 'multi' });
  assert.equal((await env.workflow.getVolume(ctx, id)).multiattach, true);
  const attachFrom = async (initiator: string, instance: string) => {
    await env.workflow.reserve(ctx, id);
    await env.workflow.initializeConnection(ctx, id, connector(initiator));
    await env.workflow.attach(ctx, id, { instanceUuid: instance, mountpoint: '/dev/vdb' });
  };
  const I1 = '11111111-1111-4111-8111-111111111111';
  const I2 = '22222222-2222-4222-8222-222222222222';
  const I3 = '33333333-3333-4333-8333-333333333333';
  await attachFrom(INITIATOR_A, I1);
  await attachFrom(INITIATOR_A, I2); // two instances on the same compute host
  await attachFrom(INITIATOR_B, I3);
  let v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'in-use');
  assert.equal(v.attachments.length, 3);
  assert.deepEqual((await allowedInitiators(id)).sort(), [INITIATOR_A, INITIATOR_B]);
  const idOf = (inst: string) => v.attachments.find((a) => a.instanceUuid === inst)!.id;

  // Detach I1: compute-a still serves I2, so its ACL entry must stay.
  await env.workflow.beginDetaching(ctx, id);
  await env.workflow.terminateConnection(ctx, id, connector(INITIATOR_A));
  await env.workflow.detach(ctx, id, idOf(I1));
  v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'in-use', 'status derived from the remaining attachments');
  assert.deepEqual((await allowedInitiators(id)).sort(), [INITIATOR_A, INITIATOR_B]);

  // Detach I3: compute-b's last attachment, its entry goes; the export stays for I2.
  await env.workflow.beginDetaching(ctx, id);
  await env.workflow.terminateConnection(ctx, id, connector(INITIATOR_B));
  await env.workflow.detach(ctx, id, idOf(I3));
  assert.deepEqual(await allowedInitiators(id), [INITIATOR_A]);
  assert.ok(await exported(id));

  // A detach that skips terminate_connection still cleans up: the last attachment takes the export with it.
  await env.workflow.beginDetaching(ctx, id);
  await env.workflow.detach(ctx, id, idOf(I2));
  v = await env.workflow.getVolume(ctx, id);
  assert.equal(v.status, 'available');
  assert.equal(await exported(id), false);
});

test('a failed attach rolls back through terminate_connection: status and ACL restored', async () => {
  const id = await availableVolume(env, ctx);
  await env.workflow.reserve(ctx, id);
  await env.workflow.initializeConnection(ctx, id, connector(INITIATOR_B));
  assert.deepEqual(await allowedInitiators(id), [INITIATOR_B]);
  await env.workflow.terminateConnection(ctx, id, connector(INITIATOR_B));
  assert.equal((await row(id)).status, 'available', 'terminate unreserves');
  assert.deepEqual(await allowedInitiators(id), []);
});

test('restoreExports brings back targets and ACLs of attached volumes after tgtd lost them', async () => {
  const id = await availableVolume(env, ctx);
  await env.workflow.reserve(ctx, id);
  await env.workflow.initializeConnection(ctx, id, connector(INITIATOR_A));
  await env.workflow.attach(ctx, id, { hostName: 'compute-a', mountpoint: '/dev/vdc' });
  await target().removeExport(id); // what a tgtd restart without persistence does
  assert.equal(await exported(id), false);
  await env.workflow.restoreExports();
  assert.ok(await exported(id));
  assert.deepEqual(await allowedInitiators(id), [INITIATOR_A]);
});

// Moved from test/host/volume-host-tgt.test.ts: the workflow validates the connector (the host trusts it).
test('a connector without initiator is a 400 with Cinder\'s message', async () => {
  const id = await availableVolume(env, ctx);
  await assert.rejects(env.workflow.initializeConnection(ctx, id, { host: 'x' }), (err: unknown) => {
    assert.ok(err instanceof CinderFault);
    assert.equal(err.status, 400);
    assert.match(err.message, /initiator/);
    return true;
  });
});

test('extend grows the file and the size; shrinking is refused with Cinder\'s message', async () => {
  const id = await availableVolume(env, ctx);
  await assert.rejects(
    env.workflow.extend(ctx, id, 1),
    (e: CinderFault) => e.status === 400 && e.message === 'Invalid input received: New size for extend must be greater than current size. (current: 1, extended: 1).',
  );
  await env.workflow.extend(ctx, id, 3);
  await env.workflow.drain();
  const r = await row(id);
  assert.equal(r.status, 'available');
  assert.equal(r.size, 3);
  // It went through extending: read from the history, since the background step may already have finished when
  // extend() returns (it does on PostgreSQL, whose I/O lets the task run while the test awaits).
  const steps = (await eventsFor(env.store.db, id)).filter((e) => e.resource_type === 'volume').map((e) => `${e.from_status}->${e.to_status}`);
  assert.deepEqual(steps.slice(-2), ['available->extending', 'extending->available']);
});
