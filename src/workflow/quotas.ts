// Quotas: limits (project, default class, built-in defaults) and the accounting every resource-creating
// step calls inside its own transaction. There are no reservations: usage is charged in the transaction that
// writes the row it counts and released in the one that removes it, so nothing can leak when a request or the
// process dies half-way (Cinder's reserve/commit/rollback and its expiring reservations are not needed).
//
// For other resources (snapshots, groups, backups): call consumeQuota(trx, projectId, volumeTypeId,
// { snapshots: 1, gigabytes: size }) in the transaction that inserts the row, releaseQuota() with the same delta
// in the one that soft-deletes it, add the rows to recountUsage() in src/store/quotas.ts, and move the charge in
// workflow/transfers.ts acceptTransfer when the volume's snapshots move with it.
import type { Transaction } from 'kysely';
import { CinderFault, QuotaFault, forbidden, invalidInput } from '../errors.js';
import type { Database, Db } from '../store/schema.js';
import * as quotas from '../store/quotas.js';
import * as types from '../store/volume-types.js';
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import type { QuotasWorkflow, QuotaUsageInfo } from './quotas-model.js';
import { canSeeProject, requireAdmin } from './policy.js';
import * as volumes from '../store/volumes.js';
import * as snapshots from '../store/snapshots.js';
import * as groups from '../store/groups.js';

/** Cinder's built-in defaults (cinder/quota.py quota_opts; per_volume_size_limit -1). */
export const DEFAULT_LIMITS: Readonly<Record<string, number>> = {
  volumes: 10,
  snapshots: 10,
  gigabytes: 1000,
  backups: 10,
  backup_gigabytes: 1000,
  groups: 10,
  per_volume_gigabytes: -1,
};

/** Resources that also exist per volume type, as `<resource>_<type name>` (cinder/quota.py VolumeTypeResource). */
export const PER_TYPE_RESOURCES = ['volumes', 'gigabytes', 'snapshots'] as const;

/** Keys a quota-set body may carry that are not resources (cinder/quota.py NON_QUOTA_KEYS). */
const NON_QUOTA_KEYS = new Set(['tenant_id', 'id']);
/** db.MAX_INT in Cinder. */
const MAX_INT = 0x7fffffff;

/** What one step consumes (positive) or gives back (negative), in the order Cinder reports the first excess. */
export interface QuotaDelta {
  volumes?: number;
  gigabytes?: number;
  snapshots?: number;
  /** Generic volume groups (a project total only, like Cinder's GROUP_QUOTAS). */
  groups?: number;
}

/** Limit lookup for one project: its own limit, else the default class's, else the built-in default. */
export type LimitOf = (resource: string, typeId: string) => number;

export async function limitsFor(db: Db, projectId: string): Promise<LimitOf> {
  const own = await quotas.getLimits(db, 'project', projectId);
  const cls = await quotas.getLimits(db, 'class', 'default');
  const key = (r: string, t: string) => `${r}\u0000${t}`;
  const ownMap = new Map(own.map((l) => [key(l.resource, l.typeId), l.limit]));
  const clsMap = new Map(cls.map((l) => [key(l.resource, l.typeId), l.limit]));
  return (resource, typeId) =>
    ownMap.get(key(resource, typeId)) ?? clsMap.get(key(resource, typeId)) ?? (typeId === quotas.TOTAL ? (DEFAULT_LIMITS[resource] ?? -1) : -1);
}

async function typeName(db: Db, typeId: string): Promise<string> {
  return (await types.findType(db, typeId, { includeDeleted: true }))?.name ?? typeId;
}

/**
 * What a charge is for, which decides the QuotaError Cinder raises when it is refused:
 * - `volumes` / `snapshots` / `groups`: quota_utils.process_reserve_over_quota(resource, size) as create,
 *   transfer accept, retype and group create call it (`requested` in the gigabytes message is `size`);
 * - `extend`: volume/api.py extend, which always reports the project's total gigabytes (limit and consumed),
 *   whichever counter refused.
 */
export type QuotaPurpose = { resource: 'volumes' | 'snapshots' | 'groups'; size: number } | { resource: 'extend'; size: number };

/** The default purpose of a delta: a group charge, a snapshot charge when it counts snapshots, else a volume charge. */
function purposeOf(delta: QuotaDelta): QuotaPurpose {
  return { resource: delta.groups ? 'groups' : delta.snapshots ? 'snapshots' : 'volumes', size: delta.gigabytes ?? 0 };
}

/** Cinder's exception for the first counter (`over`, named as in a quota set) that refused. */
function overQuota(purpose: QuotaPurpose, over: string, limit: number, consumed: number): QuotaFault {
  if (over.includes('gigabytes')) {
    return new QuotaFault(
      'VolumeSizeExceedsAvailableQuota',
      `Requested volume or snapshot exceeds allowed ${over} quota. Requested ${purpose.size}G, quota is ${limit}G and ${consumed}G has been consumed.`,
    );
  }
  if (purpose.resource === 'snapshots' && over.includes('snapshots')) return new QuotaFault('SnapshotLimitExceeded', `Maximum number of snapshots allowed (${limit}) exceeded`);
  if (purpose.resource === 'groups' && over === 'groups') return new QuotaFault('GroupLimitExceeded', `Maximum number of groups allowed (${limit}) exceeded`);
  if (purpose.resource === 'volumes' && over.includes('volumes')) {
    return new QuotaFault('VolumeLimitExceeded', `Maximum number of volumes allowed (${limit}) exceeded for quota '${over}'.`);
  }
  // e.g. snapshots_<type> refused while retyping a volume with snapshots (resource 'volumes').
  return new QuotaFault('UnexpectedOverQuota', `Unexpected over quota on ${over}.`);
}

/** per_volume_gigabytes: a volume (created, extended or accepted) may not be larger than this (VolumeSizeExceedsLimit). */
export async function checkPerVolumeSize(db: Db, projectId: string, size: number, opts: { check?: boolean } = {}): Promise<void> {
  if (opts.check === false) return;
  const limit = (await limitsFor(db, projectId))('per_volume_gigabytes', quotas.TOTAL);
  if (limit >= 0 && size > limit) throw new QuotaFault('VolumeSizeExceedsLimit', `Requested volume size ${size}G is larger than maximum allowed limit ${limit}G.`);
}

/** Which counters a charge touches: the totals and the type's (default), or the type's alone (a retype). */
type Scopes = 'total-and-type' | 'type-only';

function scopesOf(typeId: string | null, scopes: Scopes = 'total-and-type'): string[] {
  if (scopes === 'type-only') return typeId ? [typeId] : [];
  return typeId ? [quotas.TOTAL, typeId] : [quotas.TOTAL];
}

/**
 * Charges `delta` to `projectId` (totals and, with a type, the per-type counters) inside `trx`, the
 * transaction that writes the row being counted. Every positive change is one conditional UPDATE against the
 * limit; the first one refused throws Cinder's 413 and, since the caller's transaction then rolls back, nothing
 * was charged. The counters are tried in Cinder's order (totals, then the type's; volumes, gigabytes,
 * snapshots as the delta lists them), so the first refused is the one Cinder would name.
 */
export async function consumeQuota(
  trx: Transaction<Database>,
  projectId: string,
  typeId: string | null,
  delta: QuotaDelta,
  opts: { check?: boolean; purpose?: QuotaPurpose; scopes?: Scopes } = {},
): Promise<void> {
  const limitOf = opts.check === false ? () => -1 : await limitsFor(trx, projectId);
  /** Total gigabytes charged by this call so far: a message reports usage as it was before the request. */
  let totalGigabytesAdded = 0;
  for (const scope of scopesOf(typeId, opts.scopes)) {
    for (const [resource, n] of Object.entries(delta) as [string, number | undefined][]) {
      if (!n) continue;
      const limit = limitOf(resource, scope);
      if (await quotas.addUsage(trx, projectId, { resource, typeId: scope }, n, limit)) {
        if (resource === 'gigabytes' && scope === quotas.TOTAL) totalGigabytesAdded += n;
        continue;
      }
      const purpose = opts.purpose ?? purposeOf(delta);
      if (purpose.resource === 'extend') {
        const total = { resource: 'gigabytes', typeId: quotas.TOTAL };
        throw overQuota(purpose, 'gigabytes', limitOf('gigabytes', quotas.TOTAL), (await quotas.usageOf(trx, projectId, total)) - totalGigabytesAdded);
      }
      const consumed = await quotas.usageOf(trx, projectId, { resource, typeId: scope });
      const name = scope === quotas.TOTAL ? resource : `${resource}_${await typeName(trx, scope)}`;
      throw overQuota(purpose, name, limit, consumed);
    }
  }
}

/** Gives `delta` back (the row it counted left the project); never refused. */
export async function releaseQuota(
  trx: Transaction<Database>,
  projectId: string,
  typeId: string | null,
  delta: QuotaDelta,
  opts: { scopes?: Scopes } = {},
): Promise<void> {
  for (const scope of scopesOf(typeId, opts.scopes)) {
    for (const [resource, n] of Object.entries(delta) as [string, number | undefined][]) {
      if (n) await quotas.addUsage(trx, projectId, { resource, typeId: scope }, -n);
    }
  }
}

interface VolumeCharge {
  projectId: string;
  typeId: string | null;
  gigabytes: number;
}

function chargeOf(row: volumes.VolumeRow | undefined): VolumeCharge | null {
  return row ? { projectId: row.project_id, typeId: row.volume_type_id, gigabytes: quotas.chargedSize(row) } : null;
}

/**
 * Runs `fn` (a write to one volume row, inside `trx`) and moves the volume's quota charge along with it: a new
 * row is charged, a deleted one released, a grown or shrunk one (size, pending extend) re-charged, one that
 * changed project (transfer) released from the old owner and charged to the new, one that changed type (retype)
 * moved between the types' counters with its snapshots (retypeCharge). Growth is checked against the limits
 * unless `check` is false (a task finishing what was already charged).
 * Whatever `fn` does to the row, stored usage keeps equal to recountUsage().
 */
export async function withVolumeCharge<T>(
  trx: Transaction<Database>,
  volumeId: string,
  fn: () => Promise<T>,
  opts: { check?: boolean } = {},
): Promise<T> {
  const before = chargeOf(await volumes.findVolume(trx, volumeId));
  const result = await fn();
  const after = chargeOf(await volumes.findVolume(trx, volumeId));
  if (before && after && before.projectId === after.projectId && before.typeId === after.typeId) {
    const d = after.gigabytes - before.gigabytes;
    if (d > 0) {
      await checkPerVolumeSize(trx, after.projectId, after.gigabytes, opts);
      await consumeQuota(trx, after.projectId, after.typeId, { gigabytes: d }, { ...opts, purpose: { resource: 'extend', size: d } });
    } else if (d < 0) await releaseQuota(trx, after.projectId, after.typeId, { gigabytes: -d });
    return result;
  }
  if (before && after && before.projectId === after.projectId && before.gigabytes === after.gigabytes) {
    await retypeCharge(trx, volumeId, before, after.typeId, opts);
    return result;
  }
  if (before) await releaseQuota(trx, before.projectId, before.typeId, { volumes: 1, gigabytes: before.gigabytes });
  if (after) {
    await checkPerVolumeSize(trx, after.projectId, after.gigabytes, opts);
    await consumeQuota(trx, after.projectId, after.typeId, { volumes: 1, gigabytes: after.gigabytes }, opts);
  }
  return result;
}

/**
 * A volume changed type: as Cinder's retype (quota_utils.get_volume_type_reservation with reserve_vol_type_only,
 * volume/manager.py retype), only the per-type counters move -- volumes_<type>, gigabytes_<type> (the volume and
 * its snapshots) and snapshots_<type> -- and the volume's snapshots take the new type, so a snapshot is always
 * charged to its volume's type. The project's totals do not change, so they are not checked again.
 */
async function retypeCharge(trx: Transaction<Database>, volumeId: string, before: VolumeCharge, toTypeId: string | null, opts: { check?: boolean }): Promise<void> {
  await releaseQuota(trx, before.projectId, before.typeId, { volumes: 1, gigabytes: before.gigabytes }, { scopes: 'type-only' });
  const moving = (await snapshots.snapshotsOfVolume(trx, volumeId)).filter((s) => s.volume_type_id !== toTypeId);
  for (const s of moving) {
    await releaseQuota(trx, s.project_id, s.volume_type_id, { snapshots: 1, gigabytes: s.volume_size }, { scopes: 'type-only' });
    await snapshots.casSnapshot(trx, s.id, { volume_type_id: toTypeId }, {});
  }
  // One charge per project (a transfer with no_snapshots leaves the snapshots with the donor), the volume's first.
  const projects = [before.projectId, ...new Set(moving.map((s) => s.project_id).filter((p) => p !== before.projectId))];
  for (const p of projects) {
    const mine = moving.filter((s) => s.project_id === p);
    const volume = p === before.projectId ? 1 : 0;
    const charge = { volumes: volume, gigabytes: volume * before.gigabytes + mine.reduce((n, s) => n + s.volume_size, 0), snapshots: mine.length };
    await consumeQuota(trx, p, toTypeId, charge, { ...opts, purpose: { resource: 'volumes', size: before.gigabytes }, scopes: 'type-only' });
  }
}

/** Charges a volume row just inserted in `trx` to its project (checked: 413 when over a limit). */
export async function chargeNewVolume(trx: Transaction<Database>, volumeId: string): Promise<void> {
  const row = await volumes.findVolume(trx, volumeId);
  if (!row) return;
  await checkPerVolumeSize(trx, row.project_id, quotas.chargedSize(row));
  await consumeQuota(trx, row.project_id, row.volume_type_id, { volumes: 1, gigabytes: quotas.chargedSize(row) });
}

/** Charges a snapshot row just inserted in `trx` to its project: snapshots 1 and gigabytes its size (413 when over). */
export async function chargeNewSnapshot(trx: Transaction<Database>, snapshotId: string): Promise<void> {
  const row = await snapshots.findSnapshot(trx, snapshotId);
  if (!row) return;
  await consumeQuota(trx, row.project_id, row.volume_type_id, { snapshots: 1, gigabytes: row.volume_size });
}

/**
 * Soft-deletes a snapshot row and gives its charge back, in `trx`; a row already deleted is left alone, so a
 * repeated delete (reconciler, cascade) cannot release twice.
 */
export async function deleteSnapshotRow(trx: Transaction<Database>, snapshotId: string): Promise<void> {
  const row = await snapshots.findSnapshot(trx, snapshotId);
  if (!row) return;
  await snapshots.softDeleteSnapshot(trx, snapshotId);
  await releaseQuota(trx, row.project_id, row.volume_type_id, { snapshots: 1, gigabytes: row.volume_size });
}

/** Charges a group row just inserted in `trx` to its project (groups 1; 413 when over). */
export async function chargeNewGroup(trx: Transaction<Database>, projectId: string): Promise<void> {
  await consumeQuota(trx, projectId, null, { groups: 1 });
}

/** Soft-deletes a group row and gives its charge back, in `trx`; a row already deleted releases nothing. */
export async function deleteGroupRow(trx: Transaction<Database>, groupId: string): Promise<void> {
  const row = await groups.findGroup(trx, groupId);
  if (!row) return;
  if (await groups.softDeleteGroup(trx, groupId)) await releaseQuota(trx, row.project_id, null, { groups: 1 });
}

/** A live volume type as the quota API names it. */
interface TypeRef {
  id: string;
  name: string;
}

async function allTypes(db: Db): Promise<TypeRef[]> {
  return (await types.listTypes(db, { publicOnly: false })).map((t) => ({ id: t.id, name: t.name }));
}

/** Every resource key of a quota set (fixed ones, then per type), with the usage key it maps to. */
function resourceKeys(typeList: TypeRef[]): { name: string; resource: string; typeId: string }[] {
  const out = Object.keys(DEFAULT_LIMITS).map((r) => ({ name: r, resource: r, typeId: quotas.TOTAL }));
  for (const t of typeList) for (const r of PER_TYPE_RESOURCES) out.push({ name: `${r}_${t.name}`, resource: r, typeId: t.id });
  return out;
}

/** oslo's validate_integer as Cinder's quota-set format checker applies it (cinder/api/validation/validators.py). */
function quotaValue(key: string, v: unknown): number {
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) n = Number(v.trim());
  else throw new CinderFault(400, `${key} must be an integer.`);
  if (n < -1) throw new CinderFault(400, `${key} must be >= -1`);
  if (n > MAX_INT) throw new CinderFault(400, `${key} must be <= ${MAX_INT}`);
  return n;
}

export function quotaActions(deps: Deps): QuotasWorkflow {
  const { store } = deps;
  const db = store.db;

  function requireOwnerOrAdmin(ctx: RequestContext, projectId: string, rule: string): void {
    if (!canSeeProject(ctx, projectId)) throw forbidden(rule);
  }

  async function limitsView(projectId: string): Promise<Record<string, number>> {
    const limitOf = await limitsFor(db, projectId);
    const out: Record<string, number> = {};
    for (const k of resourceKeys(await allTypes(db))) out[k.name] = limitOf(k.resource, k.typeId);
    return out;
  }

  /** The project's own limits play no part: the defaults are the default class's, else the built-in ones. */
  const defaultsView = () => classView('default');

  async function usageView(projectId: string): Promise<Record<string, QuotaUsageInfo>> {
    const limitOf = await limitsFor(db, projectId);
    const stored = (await quotas.storedUsage(db, projectId)).get(projectId) ?? [];
    const out: Record<string, QuotaUsageInfo> = {};
    for (const k of resourceKeys(await allTypes(db))) {
      const inUse = stored.find((u) => u.resource === k.resource && u.typeId === k.typeId)?.inUse ?? 0;
      // No reservations exist (usage is charged with the row), so reserved is always 0.
      out[k.name] = { limit: limitOf(k.resource, k.typeId), in_use: inUse, reserved: 0 };
    }
    return out;
  }

  /** Maps body keys to usage keys; unknown keys are Cinder's "Bad key(s)" 400. */
  async function parseBody(body: Record<string, unknown>, what: 'quota set' | 'quota class set'): Promise<{ name: string; resource: string; typeId: string; value: number }[]> {
    const keys = new Map(resourceKeys(await allTypes(db)).map((k) => [k.name, k]));
    const bad = Object.keys(body).filter((k) => !keys.has(k) && !(what === 'quota set' && NON_QUOTA_KEYS.has(k)));
    if (bad.length > 0) throw invalidInput(`Bad key(s) in ${what}: ${bad.join(', ')}`);
    const out = [];
    for (const [name, v] of Object.entries(body)) {
      const k = keys.get(name);
      if (!k) continue;
      out.push({ ...k, value: quotaValue(name, v) });
    }
    return out;
  }

  return {
    async showQuotaSet(ctx: RequestContext, projectId: string, opts: { usage?: boolean } = {}): Promise<Record<string, number> | Record<string, QuotaUsageInfo>> {
      requireOwnerOrAdmin(ctx, projectId, 'volume_extension:quotas:show');
      return opts.usage ? usageView(projectId) : limitsView(projectId);
    },

    async defaultQuotaSet(ctx: RequestContext, projectId: string) {
      requireOwnerOrAdmin(ctx, projectId, 'volume_extension:quotas:show');
      return defaultsView();
    },

    async updateQuotaSet(ctx: RequestContext, projectId: string, body: Record<string, unknown>) {
      requireAdmin(ctx, 'volume_extension:quotas:update');
      if (projectId.length < 1 || projectId.length > 255) throw invalidInput('quota_set_name has a length outside 1 to 255.');
      const changes = await parseBody(body, 'quota set');
      await store.transaction(async (trx) => {
        for (const c of changes) {
          // Better than Cinder (which compares only against limits the project already had): a limit below
          // what the project uses now is refused whatever was set before.
          if (c.name !== 'per_volume_gigabytes' && c.value !== -1) {
            const used = await quotas.usageOf(trx, projectId, c);
            if (c.value < used) {
              throw new CinderFault(
                400,
                `Quota ${c.name} limit must be equal or greater than existing resources. Current usage is ${used} and the requested limit is ${c.value}.`,
              );
            }
          }
          await quotas.setLimit(trx, 'project', projectId, c, c.value);
        }
      });
      return limitsView(projectId);
    },

    async deleteQuotaSet(ctx: RequestContext, projectId: string): Promise<void> {
      requireAdmin(ctx, 'volume_extension:quotas:delete');
      await quotas.deleteProjectLimits(db, projectId);
    },

    async showQuotaClassSet(ctx: RequestContext, className: string) {
      requireAdmin(ctx, 'volume_extension:quota_classes');
      return classView(className);
    },

    async updateQuotaClassSet(ctx: RequestContext, className: string, body: Record<string, unknown>) {
      requireAdmin(ctx, 'volume_extension:quota_classes');
      if (className.length < 1 || className.length > 255) throw invalidInput('quota_class_name has a length outside 1 to 255.');
      const changes = await parseBody(body, 'quota class set');
      await store.transaction(async (trx) => {
        for (const c of changes) await quotas.setLimit(trx, 'class', className, c, c.value);
      });
      return classView(className);
    },

    /** The absolute limits of GET /limits (cinder/api/views/limits.py) with the project's usage. */
    async absoluteLimits(ctx: RequestContext, projectId?: string): Promise<Record<string, number>> {
      const target = projectId && ctx.isAdmin ? projectId : ctx.projectId;
      const limitOf = await limitsFor(db, target);
      const stored = (await quotas.storedUsage(db, target)).get(target) ?? [];
      const used = (r: string) => stored.find((u) => u.resource === r && u.typeId === quotas.TOTAL)?.inUse ?? 0;
      return {
        maxTotalVolumes: limitOf('volumes', quotas.TOTAL),
        maxTotalSnapshots: limitOf('snapshots', quotas.TOTAL),
        maxTotalVolumeGigabytes: limitOf('gigabytes', quotas.TOTAL),
        maxTotalBackups: limitOf('backups', quotas.TOTAL),
        maxTotalBackupGigabytes: limitOf('backup_gigabytes', quotas.TOTAL),
        totalVolumesUsed: used('volumes'),
        totalGigabytesUsed: used('gigabytes'),
        totalSnapshotsUsed: used('snapshots'),
        totalBackupsUsed: used('backups'),
        totalBackupGigabytesUsed: used('backup_gigabytes'),
      };
    },
  };

  /** A class's own limits over the built-in defaults (Cinder's get_class_quotas). */
  async function classView(className: string): Promise<Record<string, number>> {
    const cls = await quotas.getLimits(db, 'class', className);
    const out: Record<string, number> = {};
    for (const k of resourceKeys(await allTypes(db))) {
      out[k.name] = cls.find((l) => l.resource === k.resource && l.typeId === k.typeId)?.limit ?? (k.typeId === quotas.TOTAL ? DEFAULT_LIMITS[k.resource] : -1);
    }
    return out;
  }
}
