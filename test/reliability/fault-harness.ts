// Fault-injection harness. Several concurrent clients run random create / attach (legacy, and the attachments
// API) / real initiator I/O (qemu-io write + flush, read back) / detach / delete (cascade when it has snapshots)
// / extend / snapshot create and delete / clone (volume from a snapshot, volume from source_volid) / revert to
// snapshot / group snapshot (a client's volumes added to its group, snapshotted together, the group snapshot deleted
// and the volumes taken out again) against `embervol serve`, which is killed with SIGKILL at random moments and restarted on the same
// data dir and ports. After every restart (clients stopped, leases given time to run out) it checks:
//   1. each volume's status agrees with its attachments; no volume or snapshot stays in an interim state
//      (creating, deleting, extending, reverting, restoring, ...) past its lease, none is in an error state;
//   2. each live attachment's initiator can log in and reads back the data it wrote and flushed;
//   3. no target is visible to an initiator that has no live attachment through it (and every one that has is);
//   4. nothing answered 2xx was lost: acknowledged creates (volumes, clones, snapshots) exist, deletes are gone,
//      extends have their size, attachments are still attached;
//   5. the data dir holds a file for every volume and snapshot row in a final state and no file without a live
//      row (nor a half-made copy);
//   6. each snapshot holds what its volume held when the snapshot was acknowledged (the ranges written through
//      the initiator), each clone what its source held, and a reverted volume its snapshot's content (read from
//      the files; attached volumes are also read through their initiator, 2.).
// Run:  node --import tsx test/reliability/fault-harness.ts [--cycles N] [--clients N] [--seed N] [--processes]
//       (env EMBERVOL_FAULT_ITERATIONS = cycles). A bounded run is part of `npm test` (fault-harness.test.ts).
//       --processes: the multi-process mode (fault-cluster.ts): API processes and volume hosts on PostgreSQL,
//       one of them, at random, killed each cycle.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServiceProcess } from '../interop/service-process.js';
import { CinderApi } from '../interop/api-client.js';
import { findFreePort } from '../../src/util/ports.js';
import { qemuIo } from '../support/qemu.js';
import { iscsiLs, iscsiPortalUrl } from '../support/libiscsi.js';

export interface FaultHarnessOptions {
  cycles: number;
  clients: number;
  /** Longest a cycle runs before the kill (ms); the kill comes at a random moment before it. */
  maxCycleMs: number;
  seed: number;
  log: (line: string) => void;
  /**
   * Leases of interim states (default 1.5 s). A client that takes longer than its lease between two steps (reserve ->
   * initialize_connection -> attach) has its reservation rolled back under it; through several processes and the
   * internal RPC on a busy machine the steps take longer, so the multi-process mode asks for longer ones.
   */
  leaseSeconds?: number;
  /** What to run against (default: one `embervol serve`); given the environment of lease options. */
  deployment?: (env: NodeJS.ProcessEnv) => Promise<FaultDeployment>;
}

/** The processes the harness kills: one `embervol serve`, or a multi-process deployment (fault-cluster.ts). */
export interface FaultDeployment {
  /** Where clients send API requests. */
  url: string;
  /** Every iSCSI portal a target may be found on. */
  portals(): string[];
  /** Every directory volume and snapshot files are made in (one per volume host). */
  volumesDirs(): string[];
  /** SIGKILLs one process (chosen with rand when there are several) and starts it again; says which. */
  killAndRestart(rand: () => number): Promise<string>;
  stop(): Promise<void>;
}

/** The default deployment: one `embervol serve`, restarted on the same data dir and ports. */
async function singleProcess(env: NodeJS.ProcessEnv): Promise<FaultDeployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'embervol-faults-'));
  const iscsiPort = await findFreePort();
  const apiPort = await findFreePort();
  const start = () => startServiceProcess({ target: 'builtin', dataDir, iscsiPort, env, extraArgs: ['--listen', `127.0.0.1:${apiPort}`] });
  let svc = await start();
  return {
    url: svc.url,
    portals: () => [svc.portal],
    volumesDirs: () => [join(dataDir, 'volumes')],
    async killAndRestart() {
      await svc.kill9();
      svc = await start();
      return 'embervol serve';
    },
    async stop() {
      await svc.stop({ keepData: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface FaultHarnessResult {
  cycles: number;
  kills: number;
  operations: number;
  acknowledged: number;
  refused: number;
  interrupted: number;
  ioWrites: number;
  ioReadsVerified: number;
  loginsChecked: number;
  volumesChecked: number;
  snapshotOps: { snapshots: number; snapshotDeletes: number; clones: number; reverts: number; groupSnapshots: number; groupSnapshotDeletes: number };
  snapshotsChecked: number;
  /** Snapshot, clone and volume files whose content was compared with what the model says they hold. */
  contentChecks: number;
  violations: string[];
}

const DEFAULT_LEASE_SECONDS = 1.5;
/** Leases of the multi-process mode (see FaultHarnessOptions.leaseSeconds). */
export const CLUSTER_LEASE_SECONDS = 5;
const INTERIM = ['reserved', 'attaching', 'detaching', 'creating', 'extending', 'deleting', 'reverting'];
const SNAPSHOT_INTERIM = ['creating', 'deleting', 'restoring'];
/** Group and group snapshot statuses a task owns. */
const GROUP_INTERIM = ['creating', 'deleting', 'updating'];
/** A write's length: qemu-io `write -P byte offset 64k`. */
const RANGE = 65536;

/** Deterministic PRNG (mulberry32) so a failing seed can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Conn {
  portal: string;
  iqn: string;
  lun: number;
  user: string;
  password: string;
}

/** What one client knows from answers it got (2xx) about one of its volumes. */
interface VolModel {
  id: string;
  /** Acknowledged size (create or extend answered 2xx). */
  size: number;
  deleteAcked: boolean;
  /** An answer never came for a step on this volume: the model does not know which way it went. */
  uncertain: boolean;
  attached: { attachmentId: string | null; conn: Conn; api: 'legacy' | 'attachments' } | null;
  /** What the volume is known to hold: ranges written and flushed through an attachment, copied by a clone or
   *  restored by a revert (pattern byte at offset). Ranges whose content is unknown are left out. */
  data: Range[];
}

type Range = { offset: number; byte: number };

/** What one client knows about one of its snapshots. */
interface SnapModel {
  id: string;
  volumeId: string;
  size: number;
  deleteAcked: boolean;
  /** A create or delete whose answer never came. */
  uncertain: boolean;
  /** What the volume held when the snapshot was acknowledged; null for a snapshot adopted after a lost answer. */
  data: Range[] | null;
}

/** What one client knows about its group: the volumes in it and its live group snapshot (with its members). */
interface GroupModel {
  id: string;
  members: Set<string>;
  groupSnapshot: { id: string; snapshotIds: string[] } | null;
}

class Interrupted extends Error {}

export async function runFaultHarness(opts: FaultHarnessOptions): Promise<FaultHarnessResult> {
  const rand = rng(opts.seed);
  const pickOf = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const result: FaultHarnessResult = {
    cycles: 0, kills: 0, operations: 0, acknowledged: 0, refused: 0, interrupted: 0, ioWrites: 0, ioReadsVerified: 0,
    loginsChecked: 0, volumesChecked: 0, snapshotOps: { snapshots: 0, snapshotDeletes: 0, clones: 0, reverts: 0, groupSnapshots: 0, groupSnapshotDeletes: 0 }, snapshotsChecked: 0,
    contentChecks: 0, violations: [],
  };
  const LEASE_SECONDS = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const env = {
    EMBERVOL_LEASE_ATTACHING_SECONDS: String(LEASE_SECONDS),
    EMBERVOL_LEASE_RESERVED_SECONDS: String(LEASE_SECONDS),
    EMBERVOL_LEASE_DETACHING_SECONDS: String(LEASE_SECONDS),
    EMBERVOL_LEASE_TASK_SECONDS: String(LEASE_SECONDS),
    EMBERVOL_RECONCILE_INTERVAL_SECONDS: '0.5',
  };
  const models = new Map<number, Map<string, VolModel>>();
  const snapModels = new Map<number, Map<string, SnapModel>>();
  const groupModels = new Map<number, GroupModel>();
  let groupTypeId = '';
  const initiatorOf = (c: number) => `iqn.2026-01.org.embervol:fault-client-${c}`;
  const violation = (msg: string) => {
    result.violations.push(msg);
    opts.log(`VIOLATION: ${msg}`);
  };

  const svc = await (opts.deployment ?? singleProcess)(env);
  let attachmentsApi = true;
  try {
    for (let cycle = 0; cycle < opts.cycles; cycle++) {
      result.cycles++;
      const api = new CinderApi(svc.url, 'faultproj', 'faulter', '3.0');
      const api44 = new CinderApi(svc.url, 'faultproj', 'faulter', '3.44');
      // 3.66: a snapshot of an in-use volume needs no force; 3.40: os-revert.
      const api66 = new CinderApi(svc.url, 'faultproj', 'faulter', '3.66');
      // 3.25: a group's volumes with list_volume; group snapshots arrived with 3.14.
      const api25 = new CinderApi(svc.url, 'faultproj', 'faulter', '3.25');
      if (cycle === 0) {
        attachmentsApi = (await api44.call('GET', '/attachments')).status === 200;
        // Three clients' volumes, clones and snapshots exceed Cinder's default quotas (10): quotas are not under test here.
        const q = await api.call('PUT', '/os-quota-sets/faultproj', { quota_set: { volumes: -1, snapshots: -1, gigabytes: -1, groups: -1 } });
        if (q.status !== 200) throw new Error(`lifting the quotas failed: ${q.status} ${JSON.stringify(q.body)}`);
        const gt = await api25.call('POST', '/group_types', { group_type: { name: 'fault-group-type' } });
        if (gt.status !== 202) throw new Error(`group type create failed: ${gt.status} ${JSON.stringify(gt.body)}`);
        groupTypeId = gt.body.group_type.id;
      }
      let alive = true;

      /** One HTTP call; a dead service (no answer) is an Interrupted outcome, not a failure. */
      async function call(a: CinderApi, method: string, path: string, body?: unknown) {
        if (!alive) throw new Interrupted();
        result.operations++;
        try {
          const r = await a.call(method, path, body);
          // 503: a process it needed (a volume host, the database) is gone for now and nothing was done; the
          // client cannot know more than with a lost answer.
          if (r.status === 503) {
            result.interrupted++;
            throw new Interrupted();
          }
          if (r.status >= 500) violation(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
          if (r.status < 300) result.acknowledged++;
          else {
            result.refused++;
            if (process.env.EMBERVOL_FAULT_VERBOSE) opts.log(`refused: ${method} ${path} ${r.status} ${JSON.stringify(r.body)}`);
          }
          return r;
        } catch (err) {
          if (err instanceof Interrupted) throw err;
          result.interrupted++;
          throw new Interrupted();
        }
      }

      async function client(c: number): Promise<void> {
        const mine = models.get(c) ?? new Map<string, VolModel>();
        models.set(c, mine);
        const snaps = snapModels.get(c) ?? new Map<string, SnapModel>();
        snapModels.set(c, snaps);
        const snapsOf = (volumeId: string) => [...snaps.values()].filter((x) => x.volumeId === volumeId && !x.deleteAcked && !x.uncertain);
        /** Polls one resource until it leaves `interim` (the client waits for its task before its next step). */
        const settle = async (path: string, key: 'volume' | 'snapshot', interim: string[]): Promise<string | null> => {
          for (let i = 0; i < 100; i++) {
            const r = await call(api, 'GET', path);
            if (r.status !== 200) return null;
            if (!interim.includes(r.body[key].status)) return r.body[key].status as string;
            await sleep(100);
          }
          return interim[0]!;
        };
        /**
         * The client's group cycles through: volumes added, snapshotted together (each member snapshot must hold what
         * its volume held, like any snapshot), then the group snapshot deleted and the volumes taken out again (a
         * volume in a group cannot be deleted, and the other steps go on meanwhile: refused ones are 4xx).
         */
        async function groupStep(): Promise<void> {
          let g = groupModels.get(c);
          if (!g) {
            const r = await call(api25, 'POST', '/groups', { group: { group_type: groupTypeId, volume_types: ['__DEFAULT__'], name: `fault-group-${c}` } });
            if (r.status !== 202) return;
            g = { id: r.body.group.id, members: new Set(), groupSnapshot: null };
            groupModels.set(c, g);
            return;
          }
          if (g.groupSnapshot) {
            const gs = g.groupSnapshot;
            for (const id of gs.snapshotIds) {
              const sn = snaps.get(id);
              if (sn) sn.uncertain = true;
            }
            const r = await call(api25, 'DELETE', `/group_snapshots/${gs.id}`);
            if (r.status === 202) {
              result.snapshotOps.groupSnapshotDeletes++;
              for (const id of gs.snapshotIds) {
                const sn = snaps.get(id);
                if (sn) sn.deleteAcked = true;
              }
              g.groupSnapshot = null;
              for (let i = 0; i < 100 && (await call(api25, 'GET', `/group_snapshots/${gs.id}`)).status === 200; i++) await sleep(100);
            }
            for (const id of gs.snapshotIds) {
              const sn = snaps.get(id);
              if (sn) sn.uncertain = false;
            }
            return;
          }
          if (g.members.size > 0) {
            const out = [...g.members];
            const r = await call(api25, 'PUT', `/groups/${g.id}`, { group: { remove_volumes: out.join(',') } });
            if (r.status === 202) g.members.clear();
            return;
          }
          const candidates = [...mine.values()].filter((x) => !x.deleteAcked && !x.uncertain).slice(0, 2);
          if (candidates.length === 0) return;
          const add = await call(api25, 'PUT', `/groups/${g.id}`, { group: { add_volumes: candidates.map((x) => x.id).join(',') } });
          if (add.status !== 202) return;
          for (const x of candidates) g.members.add(x.id);
          const r = await call(api25, 'POST', '/group_snapshots', { group_snapshot: { group_id: g.id, name: `fault-gsnap-${c}` } });
          if (r.status !== 202) return;
          result.snapshotOps.groupSnapshots++;
          const gsId = r.body.group_snapshot.id as string;
          g.groupSnapshot = { id: gsId, snapshotIds: [] };
          let end: string | null = null;
          for (let i = 0; i < 100; i++) {
            const now = await call(api25, 'GET', `/group_snapshots/${gsId}`);
            end = now.status === 200 ? (now.body.group_snapshot.status as string) : null;
            if (end !== 'creating') break;
            await sleep(100);
          }
          if (end !== 'available') violation(`group snapshot ${gsId} of group ${g.id} ended ${end} while the service ran`);
          // The client wrote nothing since the request: each member holds exactly what its volume holds now.
          const members = ((await call(api25, 'GET', '/snapshots/detail')).body.snapshots as any[]).filter((x) => x.group_snapshot_id === gsId);
          for (const m of members) {
            const vol = mine.get(m.volume_id);
            g.groupSnapshot.snapshotIds.push(m.id);
            snaps.set(m.id, { id: m.id, volumeId: m.volume_id, size: m.size, deleteAcked: false, uncertain: false, data: vol ? vol.data.map((d) => ({ ...d })) : null });
          }
          if (members.length !== g.members.size) violation(`group snapshot ${gsId} has ${members.length} members, its group ${g.members.size} volumes`);
        }

        const initiator = initiatorOf(c);
        const connector = { initiator, host: `fault-host-${c}`, ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false };
        while (alive) {
          const vols = [...mine.values()].filter((v) => !v.deleteAcked && !v.uncertain);
          const op =
            vols.length < 2
              ? 'create'
              : pickOf(['create', 'attach', 'attach', 'io', 'io', 'detach', 'delete', 'extend', 'snapshot', 'snapshot', 'snapshot-delete', 'clone', 'revert', 'group-snapshot']);
          // Steps on a snapshot aim at a volume that has one.
          const withSnaps = vols.filter((x) => snapsOf(x.id).length > 0);
          const v = ['revert', 'snapshot-delete'].includes(op) && withSnaps.length ? pickOf(withSnaps) : vols.length ? pickOf(vols) : undefined;
          let step = '';
          try {
            if (op === 'group-snapshot') {
              await groupStep();
              continue;
            }
            if (op === 'create' || !v) {
              if (mine.size >= 4) {
                await sleep(20);
                continue;
              }
              step = 'create';
              const r = await call(api, 'POST', '/volumes', { volume: { size: 1, name: `fault-${c}` } });
              if (r.status === 202) mine.set(r.body.volume.id, { id: r.body.volume.id, size: 1, deleteAcked: false, uncertain: false, attached: null, data: [] });
              continue;
            }
            const cur = await call(api, 'GET', `/volumes/${v.id}`);
            if (cur.status !== 200) continue;
            const status = cur.body.volume.status as string;
            if (op === 'attach' && !v.attached && status === 'available') {
              const useNew = attachmentsApi && rand() < 0.5;
              v.uncertain = true;
              if (useNew) {
                step = 'attachment create';
                const r = await call(api44, 'POST', '/attachments', { attachment: { volume_uuid: v.id, instance_uuid: randomUUID(), connector } });
                if (r.status !== 200) {
                  v.uncertain = false;
                  continue;
                }
                const ci = r.body.attachment.connection_info;
                const d = ci.data ?? ci;
                const conn = { portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password };
                step = 'os-complete';
                const done = await call(api44, 'POST', `/attachments/${r.body.attachment.id}/action`, { 'os-complete': null });
                if (done.status === 204 || done.status === 200) {
                  v.attached = { attachmentId: r.body.attachment.id, conn, api: 'attachments' };
                  v.uncertain = false;
                }
              } else {
                step = 'os-reserve';
                if ((await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-reserve': null })).status !== 202) {
                  v.uncertain = false;
                  continue;
                }
                step = 'os-initialize_connection';
                const init = await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-initialize_connection': { connector } });
                if (init.status !== 200) {
                  await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-unreserve': null });
                  v.uncertain = false;
                  continue;
                }
                const d = init.body.connection_info.data;
                const conn = { portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password };
                step = 'os-attach';
                const att = await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-attach': { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' } });
                if (att.status === 202) {
                  const after = await call(api, 'GET', `/volumes/${v.id}`);
                  v.attached = { attachmentId: after.body.volume.attachments?.[0]?.attachment_id ?? null, conn, api: 'legacy' };
                  v.uncertain = false;
                } else {
                  await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-terminate_connection': { connector } });
                  v.uncertain = false;
                }
              }
            } else if (op === 'io' && v.attached) {
              step = 'qemu-io';
              const offset = Math.floor(rand() * 64) * 65536;
              const byte = 1 + Math.floor(rand() * 254);
              if (!alive) continue;
              const io = await qemuIo({ ...v.attached.conn, initiatorName: initiator }, [`write -P ${byte} ${offset} 64k`, 'flush'], 20_000);
              result.operations++;
              if (io.code === 0 && !/error|fail/i.test(io.stdout + io.stderr)) {
                result.ioWrites++;
                result.acknowledged++;
                v.data = v.data.filter((x) => x.offset !== offset);
                v.data.push({ offset, byte });
              } else {
                // Unacknowledged: the range may hold the old or the new bytes; stop expecting either.
                v.data = v.data.filter((x) => x.offset !== offset);
                if (alive) violation(`qemu-io write on live attachment of ${v.id} failed: ${io.stderr.slice(0, 300)}`);
              }
            } else if (op === 'detach' && v.attached && status === 'in-use') {
              v.uncertain = true;
              if (v.attached.api === 'attachments' && v.attached.attachmentId) {
                step = 'attachment delete';
                const r = await call(api44, 'DELETE', `/attachments/${v.attached.attachmentId}`);
                if (r.status === 200) v.attached = null;
              } else {
                step = 'os-begin_detaching';
                if ((await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-begin_detaching': null })).status === 202) {
                  step = 'os-terminate_connection';
                  await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-terminate_connection': { connector } });
                  step = 'os-detach';
                  const r = await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-detach': { attachment_id: v.attached.attachmentId } });
                  if (r.status === 202) v.attached = null;
                }
              }
              v.uncertain = false;
            } else if (op === 'delete' && !v.attached && status === 'available') {
              v.uncertain = true;
              step = 'delete';
              // With snapshots (the client's, or one adopted after a lost answer) only a cascade delete is allowed.
              const r = await call(api, 'DELETE', `/volumes/${v.id}?cascade=true`);
              if (r.status === 202) {
                v.deleteAcked = true;
                for (const x of snaps.values()) if (x.volumeId === v.id) x.deleteAcked = true;
              }
              v.uncertain = false;
            } else if (op === 'extend' && !v.attached && status === 'available') {
              v.uncertain = true;
              step = 'os-extend';
              const r = await call(api, 'POST', `/volumes/${v.id}/action`, { 'os-extend': { new_size: v.size + 1 } });
              if (r.status === 202) v.size += 1;
              v.uncertain = false;
            } else if (op === 'snapshot' && (status === 'available' || status === 'in-use') && snaps.size < 8) {
              // Taken while attached too: the snapshot holds every write acknowledged before the request. The client
              // waits for it before its next write, so what it holds is exactly v.data.
              step = 'snapshot';
              const r = await call(api66, 'POST', '/snapshots', { snapshot: { volume_id: v.id, name: `fault-snap-${c}` } });
              if (r.status !== 202) continue;
              result.snapshotOps.snapshots++;
              const sn: SnapModel = { id: r.body.snapshot.id, volumeId: v.id, size: v.size, deleteAcked: false, uncertain: false, data: v.data.map((d) => ({ ...d })) };
              snaps.set(sn.id, sn);
              const end = await settle(`/snapshots/${sn.id}`, 'snapshot', ['creating']);
              if (end !== 'available') violation(`snapshot ${sn.id} of ${v.id} ended ${end} while the service ran`);
            } else if (op === 'snapshot-delete') {
              const sn = snapsOf(v.id).pop();
              if (!sn) continue;
              step = 'snapshot delete';
              sn.uncertain = true;
              const r = await call(api, 'DELETE', `/snapshots/${sn.id}`);
              if (r.status === 202) {
                sn.deleteAcked = true;
                result.snapshotOps.snapshotDeletes++;
              }
              sn.uncertain = false;
            } else if (op === 'clone' && (status === 'available' || status === 'in-use') && mine.size < 4) {
              // From a snapshot of this volume, or from the volume itself (source_volid), half the time each.
              const sn = rand() < 0.5 ? snapsOf(v.id).pop() : undefined;
              step = 'clone';
              const source = sn ? { snapshot_id: sn.id } : { source_volid: v.id };
              const r = await call(api, 'POST', '/volumes', { volume: { ...source, name: `fault-${c}` } });
              if (r.status !== 202) continue;
              result.snapshotOps.clones++;
              const data = sn ? (sn.data ?? []) : v.data;
              const clone: VolModel = { id: r.body.volume.id, size: sn ? sn.size : v.size, deleteAcked: false, uncertain: false, attached: null, data: data.map((d) => ({ ...d })) };
              mine.set(clone.id, clone);
              const end = await settle(`/volumes/${clone.id}`, 'volume', ['creating']);
              if (end !== 'available') violation(`clone ${clone.id} of ${sn ? `snapshot ${sn.id}` : `volume ${v.id}`} ended ${end} while the service ran`);
            } else if (op === 'revert' && !v.attached && status === 'available') {
              const sn = snapsOf(v.id).pop();
              if (!sn || sn.size !== v.size) continue;
              step = 'revert';
              v.uncertain = true;
              const r = await call(api66, 'POST', `/volumes/${v.id}/action`, { revert: { snapshot_id: sn.id } });
              if (r.status === 202) {
                result.snapshotOps.reverts++;
                // Accepted: finished by this process or, after a kill, by the reconciler; either way it holds the snapshot.
                v.uncertain = false;
                v.data = (sn.data ?? []).map((d) => ({ ...d }));
                const end = await settle(`/volumes/${v.id}`, 'volume', ['reverting']);
                if (end !== 'available') violation(`revert of ${v.id} to ${sn.id} ended ${end} while the service ran`);
              }
              v.uncertain = false;
            }
          } catch (err) {
            if (!(err instanceof Interrupted)) throw err;
            if (v && step !== '' && step !== 'qemu-io') v.uncertain = true;
            // A revert whose answer never came may or may not have happened: its content is unknown.
            if (v && step === 'revert' && v.uncertain) v.data = [];
            return;
          }
        }
      }

      const clients = Array.from({ length: opts.clients }, (_, c) => client(c));
      await sleep(300 + Math.floor(rand() * opts.maxCycleMs));
      alive = false;
      // Restart before waiting for the clients: an initiator in the middle of a qemu-io command reconnects to the
      // restarted target (as a real one would) instead of retrying against a dead portal until it times out.
      const killed = await svc.killAndRestart(rand);
      result.kills++;
      await Promise.allSettled(clients);
      // Clients are stopped: give every lease time to run out and the reconciler time to act.
      await sleep(LEASE_SECONDS * 1000 + 1500);
      await checkInvariants(new CinderApi(svc.url, 'faultproj', 'faulter', '3.0'), cycle);
      opts.log(`cycle ${cycle + 1}/${opts.cycles} (killed ${killed}): operations ${result.operations}, kills ${result.kills}, violations ${result.violations.length}`);
    }
  } finally {
    await svc.stop();
  }
  return result;

  async function checkInvariants(api: CinderApi, cycle: number): Promise<void> {
    const at = `after restart ${cycle + 1}`;
    // Interim states must be gone within the lease (+ a few reconcile passes).
    let list: any[] = [];
    let snapList: any[] = [];
    for (let i = 0; i < 20; i++) {
      list = (await api.call('GET', '/volumes/detail?all_tenants=1')).body.volumes;
      snapList = (await api.call('GET', '/snapshots/detail?all_tenants=1')).body.snapshots;
      if (!list.some((x) => INTERIM.includes(x.status)) && !snapList.some((x) => SNAPSHOT_INTERIM.includes(x.status))) break;
      await sleep(250);
    }
    const byId = new Map(list.map((x) => [x.id as string, x]));
    for (const x of list) {
      result.volumesChecked++;
      if (INTERIM.includes(x.status)) violation(`${at}: volume ${x.id} still ${x.status} past its lease`);
      const attached = (x.attachments as unknown[]).length;
      if ((x.status === 'in-use') !== attached > 0) violation(`${at}: volume ${x.id} is ${x.status} with ${attached} attachments`);
      if (x.status === 'error' || x.status.startsWith('error_')) {
        const ev = (await api.call('GET', `/volumes/${x.id}/events`)).body.events as any[];
        violation(`${at}: volume ${x.id} in ${x.status}; last events: ${JSON.stringify(ev.slice(-3).map((e) => [e.action, e.from_status, e.to_status, e.reason]))}`);
      }
    }
    // Nothing answered 2xx was lost.
    for (const [c, mine] of models) {
      for (const v of [...mine.values()]) {
        const now = byId.get(v.id);
        if (v.deleteAcked) {
          if (now) violation(`${at}: client ${c} volume ${v.id} was deleted (202) but still exists as ${now.status}`);
          mine.delete(v.id);
          continue;
        }
        if (!now) {
          if (!v.uncertain) violation(`${at}: client ${c} volume ${v.id} was created (202) and never deleted, but is gone`);
          mine.delete(v.id);
          continue;
        }
        if (!v.uncertain && now.size !== v.size) violation(`${at}: volume ${v.id} has size ${now.size}, extend to ${v.size} was answered 202`);
        v.size = now.size;
        if (v.attached && !v.uncertain && now.attachments.length === 0) violation(`${at}: volume ${v.id} attachment answered 2xx is gone`);
        if (!v.attached && now.attachments.length > 0) {
          // An attach whose answer was lost went through: adopt it only when we hold its credentials (never, for
          // legacy), else detach it so the client's model is whole again.
          await api.call('POST', `/volumes/${v.id}/action`, { 'os-detach': { attachment_id: now.attachments[0].attachment_id } });
        }
        // Flushed data stays in the volume whatever became of the attachment.
        if (v.attached && now.attachments.length === 0) v.attached = null;
        if (v.attached) v.attached.attachmentId = now.attachments[0].attachment_id;
        v.uncertain = false;
      }
      // Volumes created by an answer that was lost: adopt them.
      for (const x of list) {
        if (x.name === `fault-${c}` && !mine.has(x.id)) {
          if (x.attachments.length > 0) await api.call('POST', `/volumes/${x.id}/action`, { 'os-detach': { attachment_id: x.attachments[0].attachment_id } });
          mine.set(x.id, { id: x.id, size: x.size, deleteAcked: false, uncertain: false, attached: null, data: [] });
        }
      }
    }
    await checkGroups(at, api);
    await checkSnapshotsAndFiles(at, list, snapList);
    // Logins and data through every live attachment; no target visible without one.
    for (const [c, mine] of models) {
      const initiator = initiatorOf(c);
      const expected = new Set([...mine.values()].filter((v) => v.attached).map((v) => v.attached!.conn.iqn));
      const visible = new Set<string>();
      for (const portal of svc.portals()) {
        const [host, port] = portal.split(':');
        const seen = await iscsiLs(iscsiPortalUrl(host!, Number(port)), initiator);
        result.loginsChecked++;
        for (const iqn of seen.iqns) visible.add(iqn);
      }
      for (const iqn of visible) if (!expected.has(iqn)) violation(`${at}: initiator ${initiator} still sees target ${iqn} without a live attachment`);
      for (const iqn of expected) {
        if (visible.has(iqn)) continue;
        const id = iqn.replace(/^.*volume-/, '');
        const ev = ((await api.call('GET', `/volumes/${id}/events`)).body?.events ?? []) as any[];
        violation(`${at}: initiator ${initiator} lost its target ${iqn} (export not restored); last events: ${JSON.stringify(ev.slice(-8).map((e) => [e.action, e.resource_type, e.from_status, e.to_status, e.reason, e.created_at]))}`);
      }
      for (const v of mine.values()) {
        if (!v.attached) continue;
        const reads = v.data.map((d) => `read -P ${d.byte} ${d.offset} 64k`);
        const io = await qemuIo({ ...v.attached.conn, initiatorName: initiator }, reads.length ? reads : ['read 0 4k']);
        result.loginsChecked++;
        if (io.code !== 0 || /Pattern verification failed|error/i.test(io.stdout + io.stderr)) {
          violation(`${at}: volume ${v.id}: login/read-back through its attachment failed: ${(io.stdout + io.stderr).slice(0, 400)}`);
        } else result.ioReadsVerified += v.data.length;
      }
    }
  }

  /**
   * Groups and group snapshots leave their interim states too, and every group snapshot still has a member per
   * volume it was taken of; each client's group model is then synced with the server (a step whose answer was lost).
   */
  async function checkGroups(at: string, api: CinderApi): Promise<void> {
    const api25 = new CinderApi(api.baseUrl, 'faultproj', 'faulter', '3.25');
    let groupList: any[] = [];
    let gsList: any[] = [];
    // At 3.25 the snapshots carry group_snapshot_id.
    const snapList = (await api25.call('GET', '/snapshots/detail?all_tenants=1')).body.snapshots as any[];
    for (let i = 0; i < 20; i++) {
      groupList = (await api25.call('GET', '/groups/detail?all_tenants=1&list_volume=true')).body.groups;
      gsList = (await api25.call('GET', '/group_snapshots/detail?all_tenants=1')).body.group_snapshots;
      if (!groupList.some((x) => GROUP_INTERIM.includes(x.status)) && !gsList.some((x) => GROUP_INTERIM.includes(x.status))) break;
      await sleep(250);
    }
    for (const x of groupList) {
      if (GROUP_INTERIM.includes(x.status) || x.status.startsWith('error')) violation(`${at}: group ${x.id} is ${x.status}`);
    }
    for (const x of gsList) {
      if (GROUP_INTERIM.includes(x.status) || x.status.startsWith('error')) violation(`${at}: group snapshot ${x.id} is ${x.status}`);
      const members = snapList.filter((s) => s.group_snapshot_id === x.id);
      if (members.length === 0) violation(`${at}: group snapshot ${x.id} has no member snapshot left`);
    }
    for (const [c, g] of groupModels) {
      const now = groupList.find((x) => x.id === g.id);
      if (!now) {
        violation(`${at}: client ${c} group ${g.id} is gone`);
        groupModels.delete(c);
        continue;
      }
      g.members = new Set(now.volumes as string[]);
      const gs = gsList.find((x) => x.group_id === g.id);
      g.groupSnapshot = gs ? { id: gs.id, snapshotIds: snapList.filter((s) => s.group_snapshot_id === gs.id).map((s) => s.id as string) } : null;
    }
  }

  /** Invariants 1 and 4 for snapshots, 5 (files against rows) and 6 (content of snapshots, clones, reverts). */
  async function checkSnapshotsAndFiles(at: string, list: any[], snapList: any[]): Promise<void> {
    const snapById = new Map(snapList.map((x) => [x.id as string, x]));
    const volIds = new Set(list.map((x) => x.id as string));
    for (const x of snapList) {
      result.snapshotsChecked++;
      if (SNAPSHOT_INTERIM.includes(x.status)) violation(`${at}: snapshot ${x.id} still ${x.status} past its lease`);
      if (x.status === 'error' || x.status.startsWith('error_')) violation(`${at}: snapshot ${x.id} in ${x.status}`);
      if (!volIds.has(x.volume_id)) violation(`${at}: snapshot ${x.id} outlived its volume ${x.volume_id}`);
    }
    for (const [c, snaps] of snapModels) {
      const mine = models.get(c)!;
      for (const sn of [...snaps.values()]) {
        const now = snapById.get(sn.id);
        if (sn.deleteAcked) {
          if (now) violation(`${at}: snapshot ${sn.id} was deleted (202) but still exists as ${now.status}`);
          snaps.delete(sn.id);
        } else if (!now) {
          // Gone without an acknowledged delete: only a delete whose answer was lost, or its volume's (cascade).
          if (!sn.uncertain && mine.has(sn.volumeId)) violation(`${at}: snapshot ${sn.id} was created (202) and never deleted, but is gone`);
          snaps.delete(sn.id);
        } else sn.uncertain = false;
      }
      // Snapshots of this client's volumes created by an answer that was lost: adopt them, content unknown.
      for (const x of snapList) {
        if (mine.has(x.volume_id) && !snaps.has(x.id)) snaps.set(x.id, { id: x.id, volumeId: x.volume_id, size: x.size, deleteAcked: false, uncertain: false, data: null });
      }
    }
    // Files against rows: a file for every row in a final state, no file without a live row, no half-made copy.
    const dirOf = new Map<string, string>();
    for (const dir of svc.volumesDirs()) for (const n of await readdir(dir).catch(() => [] as string[])) dirOf.set(n, dir);
    const names = [...dirOf.keys()];
    const volumeFiles = new Set(names.filter((n) => n.startsWith('volume-')).map((n) => n.slice('volume-'.length)));
    const snapshotFiles = new Set(names.filter((n) => n.startsWith('snapshot-')).map((n) => n.slice('snapshot-'.length)));
    for (const n of names.filter((x) => x.startsWith('.tmp-'))) violation(`${at}: half-made copy ${n} left in the data dir`);
    for (const id of volumeFiles) if (!volIds.has(id)) violation(`${at}: orphan volume file ${id} without a live row`);
    for (const id of snapshotFiles) if (!snapById.has(id)) violation(`${at}: orphan snapshot file ${id} without a live row`);
    for (const x of list) if (['available', 'in-use'].includes(x.status) && !volumeFiles.has(x.id)) violation(`${at}: volume ${x.id} is ${x.status} without its file`);
    for (const x of snapList) if (x.status === 'available' && !snapshotFiles.has(x.id)) violation(`${at}: snapshot ${x.id} is available without its file`);
    // Content: every snapshot holds what its volume held when it was acknowledged; every volume (clones and
    // reverted ones included) what the model says. Read from the files: cheap, and attached volumes are also
    // read through their initiator below.
    for (const snaps of snapModels.values()) {
      for (const sn of snaps.values()) {
        if (sn.data && snapshotFiles.has(sn.id)) await checkContent(at, `snapshot ${sn.id} (of volume ${sn.volumeId})`, join(dirOf.get(`snapshot-${sn.id}`)!, `snapshot-${sn.id}`), sn.data);
      }
    }
    for (const mine of models.values()) {
      for (const v of mine.values()) {
        if (volumeFiles.has(v.id) && v.data.length > 0) await checkContent(at, `volume ${v.id}`, join(dirOf.get(`volume-${v.id}`)!, `volume-${v.id}`), v.data);
      }
    }
  }

  async function checkContent(at: string, what: string, path: string, ranges: Range[]): Promise<void> {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(RANGE);
      for (const r of ranges) {
        const { bytesRead } = await fh.read(buf, 0, RANGE, r.offset);
        result.contentChecks++;
        const bad = bytesRead < RANGE ? 0 : buf.findIndex((b) => b !== r.byte);
        if (bytesRead < RANGE || bad >= 0) {
          violation(`${at}: ${what} at offset ${r.offset + Math.max(bad, 0)} holds ${buf[Math.max(bad, 0)]}, expected ${r.byte} (the range acknowledged before)`);
          return;
        }
      }
    } finally {
      await fh.close();
    }
  }
}

function formatResult(r: FaultHarnessResult): string {
  return [
    `cycles ${r.cycles}, kills ${r.kills}`,
    `operations ${r.operations} (acknowledged ${r.acknowledged}, refused 4xx ${r.refused}, interrupted by a kill ${r.interrupted})`,
    `initiator I/O: writes acknowledged ${r.ioWrites}, ranges read back and verified ${r.ioReadsVerified}, login checks ${r.loginsChecked}`,
    `snapshot operations acknowledged: snapshots ${r.snapshotOps.snapshots}, snapshot deletes ${r.snapshotOps.snapshotDeletes}, clones ${r.snapshotOps.clones}, reverts ${r.snapshotOps.reverts}, group snapshots ${r.snapshotOps.groupSnapshots}, group snapshot deletes ${r.snapshotOps.groupSnapshotDeletes}`,
    `volume checks ${r.volumesChecked}, snapshot checks ${r.snapshotsChecked}, file content checks (64 KiB ranges) ${r.contentChecks}`,
    `invariant violations ${r.violations.length}`,
  ].join('\n');
}

export { formatResult };

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const r = await runFaultHarness({
    cycles: arg('cycles', Number(process.env.EMBERVOL_FAULT_ITERATIONS ?? 20)),
    clients: arg('clients', 3),
    maxCycleMs: arg('max-cycle-ms', 4000),
    seed: arg('seed', Date.now() % 1_000_000),
    log: (l) => console.log(l),
    ...(process.argv.includes('--processes') ? { deployment: (await import('./fault-cluster.js')).clusterDeployment, leaseSeconds: CLUSTER_LEASE_SECONDS } : {}),
  });
  console.log(formatResult(r));
  for (const v of r.violations) console.log(`  - ${v}`);
  process.exit(r.violations.length === 0 ? 0 : 1);
}
