// Services, hosts, pools and capabilities as real data (cinder/api/contrib/services.py, hosts.py,
// scheduler_stats.py, capabilities.py): every volume host and scheduler registers a row in the services table and
// heartbeats it; what the API reports is read from there, so hosts on other machines appear the same way.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput } from '../errors.js';
import type { RequestContext } from './context.js';
import type { Db } from '../store/schema.js';
import * as services from '../store/services.js';
import { volumeTotals } from '../store/volume-totals.js';
import { nowTimestamp, toBool } from '../store/schema.js';
import type { Deps, ServiceTiming } from './deps.js';
import type { HostUsage, PoolInfo, ServiceChange, ServiceInfo, ServicesWorkflow } from './types-services-model.js';
import { requireAdmin } from './policy.js';
import { backendSatisfies, hasRoomFor, virtualFreeGiB } from './scheduling.js';
import type { VolumeHost } from '../host/types.js';

export const VOLUME_BINARY = 'cinder-volume';
export const SCHEDULER_BINARY = 'cinder-scheduler';
/** Cinder's service_down_time: a service whose last heartbeat is older is down. */
export const SERVICE_DOWN_SECONDS = 60;
/** Cinder's report_interval: how often a service heartbeats. */
export const REPORT_INTERVAL_SECONDS = 10;
/** What embervol reports as its driver's version in the pools and capabilities APIs. */
export const DRIVER_VERSION = '1.0.0';
const VENDOR_NAME = 'Open Source';
const STORAGE_PROTOCOL = 'iSCSI';
const MAX_OVER_SUBSCRIPTION_RATIO = 20.0;

/**
 * Cinder's _filter_host (cinder/db/sqlalchemy/api.py): `a#p` matches only itself; `a@b` also matches its pools;
 * a bare host also matches its backends and pools.
 */
export function hostMatches(value: string, candidate: string): boolean {
  if (candidate === value) return true;
  if (value.includes('#')) return false;
  if (candidate.startsWith(`${value}#`)) return true;
  return !value.includes('@') && candidate.startsWith(`${value}@`);
}

/** A volume row's host column holds the host name; its backend is `<host>@file` (views/volumes.ts shows `@file#file`). */
function backendOfVolumeHost(host: string, backendName: string): string {
  return host.includes('@') ? host.split('#')[0] : `${host}@${backendName}`;
}

function parseCaps(row: services.ServiceRow): Record<string, unknown> {
  if (!row.capabilities) return {};
  try {
    return JSON.parse(row.capabilities) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export const DEFAULT_SERVICE_TIMING: ServiceTiming = { reportIntervalMs: REPORT_INTERVAL_SECONDS * 1000, downAfterMs: SERVICE_DOWN_SECONDS * 1000 };

function isUp(row: services.ServiceRow, now: number, downAfterMs: number): boolean {
  const beat = row.updated_at ?? row.created_at;
  return Math.abs(now - Date.parse(`${beat}Z`)) <= downAfterMs;
}

function serviceInfo(row: services.ServiceRow, now: number, downAfterMs: number): ServiceInfo {
  let updatedAt = row.updated_at;
  if (row.modified_at && (updatedAt === null || row.modified_at > updatedAt)) updatedAt = row.modified_at;
  return {
    host: row.host,
    binary: row.binary,
    zone: row.availability_zone,
    disabled: toBool(row.disabled),
    disabledReason: row.disabled_reason,
    frozen: toBool(row.frozen),
    up: isUp(row, now, downAfterMs),
    updatedAt,
    lastHeartbeat: row.updated_at,
    replicationStatus: 'not-capable',
    activeBackendId: null,
  };
}

const GiB = 1024 ** 3;
const round2 = (n: number) => Math.round(n * 100) / 100;

/** What a volume needs from the backend it is placed on. */
export interface PlacementRequest {
  extraSpecs: Record<string, string>;
  zone: string;
  sizeGiB?: number;
  /** Only this host may take it (a snapshot's or clone's source host; a retyped volume's own host). */
  host?: string | null;
}

export interface Scheduler {
  /**
   * Where a new volume goes: among the volume services that are up, enabled, not frozen, in the volume's zone,
   * report capabilities that satisfy the specs (scheduling.ts, Cinder's CapabilitiesFilter) and, given a size,
   * have room for it, the one with the most virtual free capacity (Cinder's CapacityWeigher). The host name is
   * what volumes.host holds. When none fits: the reason, Cinder's (scheduler/filter_scheduler.py raises
   * NoValidBackend with it).
   */
  placeVolume(req: PlacementRequest): Promise<{ host: string } | { problem: string }>;
  /** Why no backend can take a volume (placeVolume's reason), or null when one can. */
  placementProblem(req: PlacementRequest): Promise<string | null>;
  /** Volume host names whose services row is down (their reconciler is not running). */
  downHosts(): Promise<string[]>;
  /** The zones volume services are in: the ones a volume can be created in, and whether one of their hosts is up. */
  zones(): Promise<{ name: string; available: boolean }[]>;
  /** Whether the volume service of a volume row's host is frozen (db.is_backend_frozen). */
  backendFrozen(volumeHost: string | null): Promise<boolean>;
}

const instances = new WeakMap<Deps, ServicesWorkflow & Scheduler>();

/** One services module per workflow: the heartbeat state is shared by the API, the scheduler and the timer. */
export function servicesActions(deps: Deps): ServicesWorkflow & Scheduler {
  let s = instances.get(deps);
  if (!s) {
    s = makeServices(deps);
    instances.set(deps, s);
  }
  return s;
}

function makeServices(deps: Deps): ServicesWorkflow & Scheduler {
  const db = deps.store.db;
  const { timing, registration } = deps.services;
  const local = deps.hosts.local;
  let backendName = 'file';
  let lastBeat = 0;
  let beating: Promise<void> | null = null;

  async function beat(): Promise<void> {
    const now = nowTimestamp();
    const volumeService = local ? await volumeServiceRegistration(local, now) : null;
    await deps.store.transaction(async (trx) => {
      if (volumeService) await services.heartbeat(trx, volumeService);
      if (registration.scheduler) {
        await services.heartbeat(trx, {
          id: randomUUID(),
          host: registration.name,
          binary: SCHEDULER_BINARY,
          topic: SCHEDULER_BINARY,
          availabilityZone: deps.availabilityZone,
          rpcAddress: null,
          capabilities: null,
          now,
        });
      }
    });
    lastBeat = Date.now();
  }

  /** The local volume host's row: where it is reached, its zone, and the stats the scheduler and pools API read. */
  async function volumeServiceRegistration(host: VolumeHost, now: string): Promise<services.ServiceRegistration> {
    // A host that cannot measure its storage still registers (capacity 0, as Cinder reports an unknown one).
    const cap = await (host.capacity?.() ?? Promise.resolve({ totalBytes: 0, freeBytes: 0, backendName })).catch((err) => {
      deps.logger.warn({ err }, 'volume host capacity unavailable');
      return { totalBytes: 0, freeBytes: 0, backendName };
    });
    backendName = cap.backendName;
    const stats = {
      volume_backend_name: backendName,
      vendor_name: VENDOR_NAME,
      driver_version: DRIVER_VERSION,
      storage_protocol: STORAGE_PROTOCOL,
      total_capacity_gb: round2(cap.totalBytes / GiB),
      free_capacity_gb: round2(cap.freeBytes / GiB),
      reserved_percentage: 0,
      // Back-end QoS limits are enforced by the builtin target only; tgt cannot (docs/qos.md).
      QoS_support: host.qosSupport === true,
      thin_provisioning_support: true,
      thick_provisioning_support: false,
      max_over_subscription_ratio: MAX_OVER_SUBSCRIPTION_RATIO,
      multiattach: true,
      // Each volume has its own target, as views/volumes.ts says for shared_targets.
      shared_targets: false,
      backend_state: 'up',
      // How snapshots and clones are made here (backends/cow.ts): 'reflink' shares extents, 'sparse-copy' copies data.
      copy_method: await host.copyMethod(),
    };
    return {
      id: randomUUID(),
      host: `${host.hostName}@${backendName}`,
      binary: VOLUME_BINARY,
      topic: VOLUME_BINARY,
      availabilityZone: deps.availabilityZone,
      rpcAddress: registration.rpcAddress,
      capabilities: JSON.stringify(stats),
      now,
    };
  }

  function heartbeat(): Promise<void> {
    beating ??= beat().finally(() => {
      beating = null;
    });
    return beating;
  }

  /** Readers see this process's own rows even before the first timer tick (and in processes without the timer). */
  async function fresh(): Promise<void> {
    if (Date.now() - lastBeat > timing.reportIntervalMs) await heartbeat();
  }

  async function volumeRows(host: string): Promise<services.ServiceRow[]> {
    const rows = await services.listServices(db, { binary: VOLUME_BINARY });
    return rows.filter((r) => hostMatches(host, r.host));
  }

  /** Capacity figures that come from the volume rows: what is allocated on each backend. */
  async function allocated(db: Db, backends: string[]): Promise<Map<string, { gb: number; count: number }>> {
    const out = new Map<string, { gb: number; count: number }>();
    const hostNames = [...new Set(backends.map((b) => b.split('@')[0]))];
    for (const t of await volumeTotals(db, hostNames)) {
      const key = backendOfVolumeHost(t.host, backendName);
      const cur = out.get(key) ?? { gb: 0, count: 0 };
      out.set(key, { gb: cur.gb + t.gigabytes, count: cur.count + t.count });
    }
    return out;
  }

  /** The volume services placement may choose from, best first (Cinder's filters, then its CapacityWeigher). */
  async function candidates(req: PlacementRequest): Promise<services.ServiceRow[]> {
    await fresh();
    const now = Date.now();
    let rows = await services.listServices(db, { binary: VOLUME_BINARY });
    if (req.host !== undefined) {
      // A row without a host predates volumes.host: it can only be the local host's.
      const only = req.host ?? local?.hostName;
      rows = only === undefined ? [] : rows.filter((r) => hostMatches(only, r.host));
    }
    const usable = rows.filter((r) => isUp(r, now, timing.downAfterMs) && !toBool(r.disabled) && !toBool(r.frozen) && r.availability_zone === req.zone);
    const matching = usable.filter((r) => {
      const caps = parseCaps(r);
      return backendSatisfies(req.extraSpecs, caps) && (req.sizeGiB === undefined || hasRoomFor(caps, req.sizeGiB));
    });
    if (matching.length < 2) return matching;
    const alloc = await allocated(db, matching.map((r) => r.host));
    const weight = (r: services.ServiceRow) => virtualFreeGiB(parseCaps(r), alloc.get(r.host)?.gb ?? 0);
    // Highest weight first; equal weights keep the services table's order (by host name), as a stable sort does.
    return matching.map((r) => ({ r, w: weight(r) })).sort((a, b) => b.w - a.w).map((x) => x.r);
  }

  return {
    heartbeat,

    async placeVolume(req) {
      const [best] = await candidates(req);
      // The services row is `<host>@<backend>`; volumes.host holds the host name (views/volumes.ts adds the rest).
      return best ? { host: best.host.split('@')[0] } : { problem: 'No weighed backends available' };
    },

    async placementProblem(req) {
      return (await candidates(req)).length > 0 ? null : 'No weighed backends available';
    },

    async downHosts() {
      const now = Date.now();
      const rows = await services.listServices(db, { binary: VOLUME_BINARY });
      return rows.filter((r) => !isUp(r, now, timing.downAfterMs)).map((r) => r.host.split('@')[0]);
    },

    async zones() {
      await fresh();
      const now = Date.now();
      const out = new Map<string, boolean>();
      for (const r of await services.listServices(db, { binary: VOLUME_BINARY })) {
        const up = isUp(r, now, timing.downAfterMs) && !toBool(r.disabled);
        out.set(r.availability_zone, (out.get(r.availability_zone) ?? false) || up);
      }
      // This process's own zone is where volumes go when a request names none; it is listed even before a host registers.
      if (!out.has(deps.availabilityZone)) out.set(deps.availabilityZone, false);
      return [...out.entries()].map(([name, available]) => ({ name, available }));
    },

    async backendFrozen(volumeHost) {
      if (volumeHost === null) return false;
      const backend = backendOfVolumeHost(volumeHost, backendName);
      const rows = await services.listServices(db, { binary: VOLUME_BINARY });
      return rows.some((r) => r.host === backend && toBool(r.frozen));
    },

    async listServices(ctx, filters) {
      requireAdmin(ctx, 'volume_extension:services:index');
      await fresh();
      const now = Date.now();
      const rows = await services.listServices(db, filters.binary !== undefined ? { binary: filters.binary } : {});
      return rows.filter((r) => filters.host === undefined || hostMatches(filters.host, r.host)).map((r) => serviceInfo(r, now, timing.downAfterMs));
    },

    async setServiceEnabled(ctx, req) {
      requireAdmin(ctx, 'volume_extension:services:update');
      await fresh();
      const binaryKey = req.binary || req.service;
      const row = (await services.listServices(db, { binary: binaryKey })).find((r) => hostMatches(req.host, r.host));
      if (!row) throw new CinderFault(404, `Service ${binaryKey} could not be found on host ${req.host}.`);
      await services.updateService(db, row.id, {
        disabled: !req.enabled,
        ...(req.reason !== undefined ? { disabledReason: req.reason } : {}),
        now: nowTimestamp(),
      });
      const out: ServiceChange = {
        host: req.host,
        service: req.service,
        binary: req.binary,
        disabled: !req.enabled,
        status: req.enabled ? 'enabled' : 'disabled',
      };
      if (req.reason !== undefined) out.disabledReason = req.reason;
      return out;
    },

    async freezeHost(ctx, host) {
      requireAdmin(ctx, 'volume:freeze_host');
      await changeFrozen(host, true);
    },

    async thawHost(ctx, host) {
      requireAdmin(ctx, 'volume:thaw_host');
      await changeFrozen(host, false);
    },

    async listHosts(ctx, zone) {
      requireAdmin(ctx, 'volume_extension:hosts');
      await fresh();
      const now = Date.now();
      const rows = (await services.listServices(db)).filter((r) => !toBool(r.disabled) && (!zone || r.availability_zone === zone));
      return rows.map((r) => serviceInfo(r, now, timing.downAfterMs));
    },

    async showHost(ctx, host) {
      requireAdmin(ctx, 'volume_extension:hosts');
      await fresh();
      const [row] = await volumeRows(host);
      if (!row) throw new CinderFault(404, `Service ${VOLUME_BINARY} could not be found on host ${host}.`);
      const hostNames = [row.host.split('@')[0]];
      const totals = (await volumeTotals(db, hostNames)).filter((t) => backendOfVolumeHost(t.host, backendName) === row.host);
      const byProject = new Map<string, { count: number; gb: number }>();
      for (const t of totals) {
        const cur = byProject.get(t.projectId) ?? { count: 0, gb: 0 };
        byProject.set(t.projectId, { count: cur.count + t.count, gb: cur.gb + t.gigabytes });
      }
      const sum = [...byProject.values()].reduce((a, b) => ({ count: a.count + b.count, gb: a.gb + b.gb }), { count: 0, gb: 0 });
      // Snapshots do not exist in embervol yet, so their counts are 0 (hosts.py adds them per project).
      const usage = (project: string, v: { count: number; gb: number }): HostUsage => ({
        host,
        project,
        volumeCount: v.count,
        totalVolumeGb: v.gb,
        snapshotCount: 0,
        totalSnapshotGb: 0,
      });
      return [usage('(total)', sum), ...[...byProject.entries()].map(([p, v]) => usage(p, v))];
    },

    async listPools(ctx, filters) {
      requireAdmin(ctx, 'scheduler_extension:scheduler_stats:get_pools');
      await fresh();
      const now = Date.now();
      // The scheduler knows only backends that are up, enabled and not frozen (scheduler/host_manager.py).
      const rows = (await services.listServices(db, { binary: VOLUME_BINARY })).filter(
        (r) => isUp(r, now, timing.downAfterMs) && !toBool(r.disabled) && !toBool(r.frozen),
      );
      const alloc = await allocated(db, rows.map((r) => r.host));
      const pools: PoolInfo[] = [];
      for (const r of rows) {
        const caps = parseCaps(r);
        const poolName = String(caps.volume_backend_name ?? backendName);
        const a = alloc.get(r.host) ?? { gb: 0, count: 0 };
        const name = `${r.host}#${poolName}`;
        if (filters.name !== undefined && filters.name !== name) continue;
        if (filters.backendName !== undefined && filters.backendName !== caps.volume_backend_name) continue;
        pools.push({
          name,
          capabilities: {
            ...caps,
            pool_name: poolName,
            allocated_capacity_gb: a.gb,
            // Sparse files: what is provisioned is the sum of the volumes' sizes.
            provisioned_capacity_gb: a.gb,
            total_volumes: a.count,
            filter_function: null,
            goodness_function: null,
            timestamp: r.updated_at,
          },
        });
      }
      return pools;
    },

    async backendCapabilities(ctx, host) {
      requireAdmin(ctx, 'volume_extension:capabilities');
      await fresh();
      const [row] = await volumeRows(host);
      if (!row) throw new CinderFault(404, `Can't find service: ${host}`);
      const caps = parseCaps(row);
      return {
        topic: row.host,
        capabilities: {
          ...caps,
          pool_name: null,
          properties: {
            thin_provisioning: { title: 'Thin Provisioning', description: 'Sets thin provisioning.', type: 'boolean' },
            compression: { title: 'Compression', description: 'Enables compression.', type: 'boolean' },
            qos: { title: 'QoS', description: 'Enables QoS.', type: 'boolean' },
            replication_enabled: { title: 'Replication', description: 'Enables replication.', type: 'boolean' },
          },
        },
      };
    },
  };

  /** volume/api.py _replication_db_change for 'frozen', then what the manager does: freeze disables, thaw enables. */
  async function changeFrozen(host: string, frozen: boolean): Promise<void> {
    await fresh();
    await deps.store.transaction(async (trx) => {
      const rows = (await services.listServices(trx, { binary: VOLUME_BINARY })).filter((r) => hostMatches(host, r.host));
      if (rows.length === 0) throw invalidInput(`No service found with host=${host}`);
      const now = nowTimestamp();
      const notChanged: string[] = [];
      for (const r of rows) {
        const ok = await services.updateService(trx, r.id, { frozen, disabled: frozen, disabledReason: frozen ? 'frozen' : '', now }, { frozen: !frozen });
        if (!ok) notChanged.push(r.host);
      }
      if (notChanged.length === rows.length) {
        const list = `[${notChanged.map((h) => `'${h}'`).join(', ')}]`;
        throw invalidInput(`No service could be changed: frozen in ${list} must be ${frozen ? 'False' : 'True'} to failover.`);
      }
    });
  }
}
