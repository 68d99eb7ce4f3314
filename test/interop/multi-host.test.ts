// Scale-out on one machine (issue 14; ../shared/DESIGN.md "Scale-out"): two volume hosts and two API processes,
// real child processes sharing one PostgreSQL (a private cluster, test/support/postgres.ts). Volumes land on both
// hosts; a reserve storm split across the API processes has one winner; a volume attached through one API process
// (real initiator I/O) is detached through the other; the openstack CLI lists both hosts; a host killed with
// SIGKILL shows down, new volumes go to the other, and once restarted it restores its exports so the attached
// initiator reads its data again; an API process killed mid-request leaves nothing half-done.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CinderApi } from './api-client.js';
import { noauthOpenstack } from './cinder-cli.js';
import { startCluster, SERVICE_DOWN_SECONDS, type Cluster } from './multi-host-cluster.js';
import { qemuTarget } from './attachments-initiator.js';
import { qemuIo } from '../support/qemu.js';
import { iscsiInq, lunUrl, type FlatConnectionInfo } from '../support/libiscsi.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const HOSTS = ['host-a', 'host-b'];

describe('two API processes and two volume hosts on one PostgreSQL', () => {
  let dir: TempDir;
  let pg: PostgresCluster;
  let cluster: Cluster;
  let admin: CinderApi[];

  before(async () => {
    dir = await makeTempDir('embervol-multihost-');
    pg = await startPostgres();
    cluster = await startCluster({
      database: await pg.createDatabase(),
      root: dir.path,
      hostNames: HOSTS,
      apiCount: 2,
      // Short task leases so that a create cut off by a killed API process is finished by its host's reconciler soon.
      // Short leases so that what a dead host or a killed API process left in an interim state moves on soon.
      extraArgs: ['--lease-task-seconds', '3', '--lease-attaching-seconds', '8', '--reconcile-interval-seconds', '1'],
    });
    // Admin (to see os-vol-host-attr:host and os-services), at the attachments API's microversion.
    admin = cluster.apis.map((a) => new CinderApi(a.url, 'admin', 'admin', '3.44'));
    const unlimited = await admin[0]!.call('PUT', '/os-quota-sets/admin', { quota_set: { volumes: -1, gigabytes: -1, snapshots: -1 } });
    assert.equal(unlimited.status, 200, JSON.stringify(unlimited.body));
  });
  after(async () => {
    await cluster?.stop();
    await pg?.stop();
    await dir?.cleanup();
  });

  const hostOf = async (api: CinderApi, id: string) => String((await api.volume(id))['os-vol-host-attr:host']).split('@')[0];
  const volumeFile = (host: string, id: string) => join(dir.path, host, 'volumes', `volume-${id}`);
  const hostProc = (name: string) => cluster.hosts.find((h) => h.name === name)!;

  async function createOn(api: CinderApi, name: string): Promise<{ id: string; host: string }> {
    const id = await api.createVolume(1, { name });
    return { id, host: await hostOf(api, id) };
  }

  /** A new volume that placement put on `host` (placement alternates between equal hosts). */
  async function createOnHost(host: string, name: string): Promise<{ id: string; host: string }> {
    for (let i = 0; i < 6; i++) {
      const made = await createOn(admin[i % 2]!, `${name}-${i}`);
      if (made.host === host) return made;
    }
    throw new Error(`no new volume landed on ${host}`);
  }

  /** Reserve, connect and complete through `api`: the attachment id and connection_info. */
  async function attach(api: CinderApi, id: string, initiator: string): Promise<{ attId: string; ci: FlatConnectionInfo }> {
    const reserved = await api.call('POST', '/attachments', { attachment: { volume_uuid: id, instance_uuid: randomUUID(), connector: null } });
    assert.equal(reserved.status, 200, JSON.stringify(reserved.body));
    const attId = reserved.body.attachment.id as string;
    const connector = { initiator, host: 'compute-1', ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false, mountpoint: '/dev/vdb' };
    const updated = await api.call('PUT', `/attachments/${attId}`, { attachment: { connector } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal((await api.call('POST', `/attachments/${attId}/action`, { 'os-complete': null })).status, 204);
    return { attId, ci: updated.body.attachment.connection_info as FlatConnectionInfo };
  }

  it('places new volumes on both hosts, each in its own data dir; either API process serves any volume', async () => {
    const made = [];
    for (let i = 0; i < 4; i++) made.push(await createOn(admin[i % 2]!, `spread-${i}`));
    assert.deepEqual([...new Set(made.map((m) => m.host))].sort(), HOSTS);
    for (const m of made) {
      assert.ok(existsSync(volumeFile(m.host, m.id)), `volume ${m.id} has no file on ${m.host}`);
      assert.ok(!existsSync(volumeFile(HOSTS.find((h) => h !== m.host)!, m.id)));
      assert.equal(await hostOf(admin[1]!, m.id), m.host);
    }
    // Deleting through the other API process removes the file on the volume's host.
    const gone = made[0]!;
    assert.equal((await admin[1]!.call('DELETE', `/volumes/${gone.id}`)).status, 202);
    await waitFor('the deleted volume to go', async () => (await admin[0]!.call('GET', `/volumes/${gone.id}`)).status === 404);
    assert.ok(!existsSync(volumeFile(gone.host, gone.id)));
  });

  it('a snapshot and a volume made from it stay on the source volume\'s host', async () => {
    for (const api of admin) {
      const src = await createOn(api, 'snap-source');
      const snap = await api.call('POST', '/snapshots', { snapshot: { volume_id: src.id, name: 's' } });
      assert.equal(snap.status, 202, JSON.stringify(snap.body));
      const snapId = snap.body.snapshot.id as string;
      await waitFor('the snapshot', async () => (await api.call('GET', `/snapshots/${snapId}`)).body.snapshot.status === 'available');
      const copy = await api.createVolume(1, { snapshot_id: snapId });
      assert.equal(await hostOf(api, copy), src.host);
      assert.ok(existsSync(volumeFile(src.host, copy)));
    }
  });

  it('a 50-way os-reserve storm split across both API processes has exactly one winner', async () => {
    const { id } = await createOn(admin[0]!, 'storm');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => admin[i % 2]!.action(id, 'os-reserve')));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 202).length, 1, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 400).length, 49, JSON.stringify(statuses));
    assert.equal((await admin[1]!.volume(id)).status, 'attaching');
    assert.equal((await admin[1]!.action(id, 'os-unreserve')).status, 202);
    assert.equal((await admin[0]!.volume(id)).status, 'available');
  });

  it('a volume attached through one API process with real I/O is detached through the other', async () => {
    const initiator = 'iqn.1993-08.org.debian:01:multi-host-1';
    for (const [via, back] of [[0, 1], [1, 0]] as const) {
      const { id, host } = await createOn(admin[via]!, `attach-${via}`);
      const { attId, ci } = await attach(admin[via]!, id, initiator);
      assert.equal(ci.target_portal, `127.0.0.1:${hostProc(host).iscsiPort}`);
      const io = await qemuIo(qemuTarget(ci, initiator), ['write -P 0x5a 0 64k', 'read -P 0x5a 0 64k']);
      assert.equal(io.code, 0, io.stdout + io.stderr);
      assert.doesNotMatch(io.stdout, /Pattern verification failed/);
      assert.equal((await admin[back]!.volume(id)).status, 'in-use');
      const del = await admin[back]!.call('DELETE', `/attachments/${attId}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.equal((await admin[via]!.volume(id)).status, 'available');
      // The host removed the target: the same login is refused now.
      assert.notEqual((await iscsiInq(lunUrl(ci), initiator)).code, 0);
    }
  });

  it('openstack volume service list shows both hosts and both API processes\' schedulers, up', async () => {
    const osc = noauthOpenstack(cluster.apis[1]!.url);
    const r = await osc('volume', 'service', 'list', '--long', '-f', 'json');
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { Binary: string; Host: string; State: string; Status: string }[];
    const volumeHosts = rows.filter((s) => s.Binary === 'cinder-volume').map((s) => [s.Host, s.State, s.Status]);
    assert.deepEqual(volumeHosts.sort(), [['host-a@file', 'up', 'enabled'], ['host-b@file', 'up', 'enabled']]);
    const schedulers = rows.filter((s) => s.Binary === 'cinder-scheduler').map((s) => s.Host);
    assert.deepEqual(schedulers.sort(), ['api-0', 'api-1']);
    const pools = await admin[0]!.call('GET', '/scheduler-stats/get_pools');
    assert.deepEqual(pools.body.pools.map((p: { name: string }) => p.name).sort(), ['host-a@file#file', 'host-b@file#file']);
  });

  it('a host killed with SIGKILL shows down, new volumes go to the other; restarted, its exports serve the initiator again', async () => {
    const initiator = 'iqn.1993-08.org.debian:01:multi-host-2';
    // A volume on host-b attached with data on it, then host-b dies.
    const victim = await createOnHost('host-b', 'victim');
    const { attId, ci } = await attach(admin[0]!, victim.id, initiator);
    // And one reserved by a client that never finishes (os-reserve): its lease must run out without host-b.
    const reserved = await createOnHost('host-b', 'reserved');
    assert.equal((await admin[1]!.action(reserved.id, 'os-reserve')).status, 202);
    // And two more: one to attach and one to delete while host-b is gone.
    const toAttach = await createOnHost('host-b', 'to-attach');
    const toDelete = await createOnHost('host-b', 'to-delete');
    const write = await qemuIo(qemuTarget(ci, initiator), ['write -P 0xc3 0 128k']);
    assert.equal(write.code, 0, write.stdout + write.stderr);
    const b = hostProc('host-b');
    await b.proc.kill9();

    const osc = noauthOpenstack(cluster.apis[0]!.url);
    const stateOfB = async () => {
      const r = await osc('volume', 'service', 'list', '--service', 'cinder-volume', '-f', 'json');
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { Host: string; State: string }[]).find((s) => s.Host === 'host-b@file')?.State;
    };
    await waitFor('host-b to show down', async () => (await stateOfB()) === 'down', SERVICE_DOWN_SECONDS * 1000 * 5);
    for (let i = 0; i < 4; i++) assert.equal((await createOn(admin[i % 2]!, `after-kill-${i}`)).host, 'host-a');
    // Its volume still shows attached: the attachment is not the host's to drop.
    assert.equal((await admin[1]!.volume(victim.id)).status, 'in-use');
    // An attach that needs the dead host is refused with 503 and leaves the volume as it was.
    const refused = await admin[1]!.call('POST', '/attachments', {
      attachment: { volume_uuid: toAttach.id, instance_uuid: randomUUID(), connector: { initiator, host: 'compute-1', ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false } },
    });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(refused.body.serviceUnavailable.message, /host is unavailable/);
    const untouched = await admin[0]!.volume(toAttach.id);
    assert.deepEqual([untouched.status, untouched.attachments], ['available', []]);
    // A delete is accepted and waits for its host: deleting until host-b is back.
    assert.equal((await admin[0]!.call('DELETE', `/volumes/${toDelete.id}`)).status, 202);
    await waitFor('the delete to reach the host', async () => (await admin[1]!.volume(toDelete.id)).status === 'deleting');
    // A copy of a volume on the dead host has no host to go to: No valid backend.
    const clone = await admin[0]!.call('POST', '/volumes', { volume: { size: 1, source_volid: toAttach.id } });
    assert.equal(clone.status, 202);
    assert.equal((await admin[0]!.volume(clone.body.volume.id)).status, 'error');
    // The reservation expires by its lease although its host is down: the API processes roll it back.
    await waitFor('the reservation on the dead host to expire', async () => (await admin[0]!.volume(reserved.id)).status === 'available', 60_000);
    assert.equal(b.proc.child.exitCode ?? b.proc.child.signalCode, 'SIGKILL');

    await cluster.restartHost(b);
    await waitFor('host-b to show up again', async () => (await stateOfB()) === 'up', SERVICE_DOWN_SECONDS * 1000 * 5);
    // The restarted host restored the export with the same portal, IQN and CHAP: the initiator reads its data.
    const read = await qemuIo(qemuTarget(ci, initiator), ['read -P 0xc3 0 128k']);
    assert.equal(read.code, 0, read.stdout + read.stderr);
    assert.doesNotMatch(read.stdout, /Pattern verification failed/);
    // Its startup pass finished the delete that waited for it.
    await waitFor('the waiting delete to finish', async () => (await admin[0]!.call('GET', `/volumes/${toDelete.id}`)).status === 404);
    assert.ok(!existsSync(volumeFile('host-b', toDelete.id)));
    // And it takes new volumes again (it has the least provisioned now).
    const next = await createOn(admin[1]!, 'after-restart');
    assert.equal(next.host, 'host-b');
    const del = await admin[1]!.call('DELETE', `/attachments/${attId}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal((await admin[0]!.volume(victim.id)).status, 'available');
  });

  it('an API process killed mid-request leaves no half state: the other serves, every accepted create finishes', async () => {
    const victim = admin[0]!;
    const creates = Array.from({ length: 16 }, (_, i) => victim.call('POST', '/volumes', { volume: { size: 1, name: `midkill-${i}` } }));
    // Killed while requests are in flight: some answered, some cut off before or after their row committed.
    await Promise.race(creates);
    await cluster.apis[0]!.kill9();
    const settled = await Promise.allSettled(creates);
    const accepted = settled.flatMap((r) => (r.status === 'fulfilled' && r.value.status === 202 ? [r.value.body.volume.id as string] : []));
    assert.ok(accepted.length >= 1);
    const survivor = admin[1]!;
    const mine = async () =>
      ((await survivor.call('GET', '/volumes/detail?all_tenants=1')).body.volumes as any[]).filter((v) => String(v.name).startsWith('midkill-'));
    // Every create whose row committed (answered or not) ends available on its host, with its file; none stays creating.
    const done = await waitFor('every cut-off create to finish', async () => {
      const vs = await mine();
      return vs.every((v) => v.status === 'available') ? vs : null;
    }, 60_000);
    for (const id of accepted) assert.ok(done.some((v) => v.id === id), `accepted volume ${id} is missing`);
    for (const v of done) assert.ok(existsSync(volumeFile(String(v['os-vol-host-attr:host']).split('@')[0], v.id)));
    // The killed process comes back and serves the same volumes.
    await cluster.restartApi(0);
    admin[0] = new CinderApi(cluster.apis[0]!.url, 'admin', 'admin', '3.44');
    assert.equal((await admin[0].volume(accepted[0]!)).status, 'available');
  });
});
