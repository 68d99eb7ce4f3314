// Volume types and extra specs (docs/cinder-compatibility.md#volume-types). multiattach="<is> True" on a type is the only source of volume multiattach.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput } from '../errors.js';
import type { RequestContext } from './context.js';
import type { Db } from '../store/schema.js';
import * as types from '../store/volume-types.js';
import * as volumes from '../store/volumes.js';
import * as typeAccess from '../store/type-access.js';
import * as encryption from '../store/encryption.js';
import { toBool } from '../store/schema.js';
import { DEFAULT_TYPE_NAME } from '../store/migrations.js';
import type { Deps } from './deps.js';
import { requireAdmin } from './policy.js';
import type { CreateTypeRequest, ListTypesRequest, ListTypesResult, UpdateTypeRequest, VolumeTypeInfo } from './model.js';
import { markerNotFound, pageLimit, resolveSort, splitPage } from './paging.js';

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isMultiattachType(specs: Record<string, string>): boolean {
  return specs.multiattach === '<is> True';
}

/** Extra specs a non-admin may see (Cinder's types view). */
const USER_VISIBLE_SPECS = ['RESKEY:availability_zones', 'multiattach', 'replication_enabled'];

/**
 * volume_types.provision_filter_on_size: a type may bound the size of its volumes (create, extend, retype).
 * A bound that is not an integer bounds nothing (Cinder would fail with a 500 on it).
 */
export function provisionFilterOnSize(type: VolumeTypeInfo, size: number): void {
  const bound = (key: string) => (/^\s*\d+\s*$/.test(type.extraSpecs[key] ?? '') ? Number(type.extraSpecs[key]) : null);
  const min = bound('provisioning:min_vol_size');
  if (min !== null && size < min) {
    throw invalidInput(`Specified volume size of '${size}' is less than the minimum required size of '${type.extraSpecs['provisioning:min_vol_size']}' for volume type '${type.name}'.`);
  }
  const max = bound('provisioning:max_vol_size');
  if (max !== null && size > max) {
    throw invalidInput(`Specified volume size of '${size}' is greater than the maximum allowable size of '${type.extraSpecs['provisioning:max_vol_size']}' for volume type '${type.name}'.`);
  }
}

/** Sort keys of the type list (the volume_types columns Cinder sorts by). */
const TYPE_SORT_KEYS = {
  id: 'id',
  name: 'name',
  description: 'description',
  is_public: 'is_public',
  created_at: 'created_at',
  updated_at: 'updated_at',
} as const satisfies Record<string, keyof types.TypeRow>;

export const typeNotFound = (id: string) => new CinderFault(404, `Volume type ${id} could not be found.`);

async function info(db: Db, row: types.TypeRow): Promise<VolumeTypeInfo> {
  const specs = (await types.getExtraSpecs(db, [row.id])).get(row.id) ?? {};
  return { id: row.id, name: row.name, description: row.description, isPublic: toBool(row.is_public), extraSpecs: specs, qosSpecsId: row.qos_specs_id ?? null };
}

/**
 * Whether the caller may see and use the type: admins every type, others the public ones and the private ones
 * their project was given (cinder/db/sqlalchemy/api.py _volume_type_get_query).
 */
export async function typeVisible(db: Db, ctx: RequestContext | null, row: types.TypeRow): Promise<boolean> {
  if (ctx === null || ctx.isAdmin || toBool(row.is_public)) return true;
  return typeAccess.hasAccess(db, row.id, ctx.projectId);
}

/**
 * Cinder's get_by_name_or_id: a UUID-looking value is an id, anything else a name. With a caller, a private type
 * outside the caller's projects is reported missing, as Cinder's query does; without one (an elevated context) any.
 */
export async function resolveType(db: Db, nameOrId: string, ctx: RequestContext | null = null): Promise<VolumeTypeInfo> {
  const key = nameOrId.trim();
  if (UUID_RE.test(key)) {
    const row = await types.findType(db, key);
    if (!row || !(await typeVisible(db, ctx, row))) throw typeNotFound(key);
    return info(db, row);
  }
  const row = await types.findTypeByName(db, key);
  if (!row || !(await typeVisible(db, ctx, row))) throw new CinderFault(404, `Volume type with name ${key} could not be found.`);
  return info(db, row);
}

function forCaller(ctx: RequestContext, t: VolumeTypeInfo): VolumeTypeInfo {
  if (ctx.isAdmin) return t;
  const specs = Object.fromEntries(Object.entries(t.extraSpecs).filter(([k]) => USER_VISIBLE_SPECS.includes(k)));
  return { ...t, extraSpecs: specs };
}

export function volumeTypes(deps: Deps) {
  const db = deps.store.db;

  async function loadType(ctx: RequestContext, id: string): Promise<types.TypeRow> {
    const row = id === 'default' ? await types.findTypeByName(db, DEFAULT_TYPE_NAME) : await types.findType(db, id);
    if (!row || !(await typeVisible(db, ctx, row))) throw typeNotFound(id);
    return row;
  }

  async function getExtraSpecs(ctx: RequestContext, typeId: string): Promise<Record<string, string>> {
    const row = await loadType(ctx, typeId);
    return forCaller(ctx, await info(db, row)).extraSpecs;
  }

  return {
    getExtraSpecs,

    /**
     * Cinder's type list: public types plus the private ones the caller's project was given; an admin may ask for
     * private only (isPublic false) or all (null). Non-admins always get the public view (v3/types.py).
     */
    async listTypes(ctx: RequestContext, opts: ListTypesRequest = {}): Promise<ListTypesResult> {
      const isPublic = ctx.isAdmin ? (opts.isPublic === undefined ? true : opts.isPublic) : true;
      const sort = resolveSort(opts.sort, TYPE_SORT_KEYS);
      const rows = await types.listTypes(db, { publicOnly: false });
      const granted = new Set(await typeAccess.typesOfProject(db, ctx.projectId));
      const chosen = rows.filter((r) => {
        if (isPublic === null) return true;
        if (isPublic === false) return !toBool(r.is_public);
        return toBool(r.is_public) || granted.has(r.id);
      });
      // Types are few: sorted and paged here, with the id as the last key as Cinder's paginate_query adds it.
      const keys = [...sort, { key: 'id' as const, dir: sort[sort.length - 1].dir }];
      chosen.sort((a, b) => {
        for (const k of keys) {
          const x = String(a[k.key] ?? '');
          const y = String(b[k.key] ?? '');
          if (x !== y) return (x < y ? -1 : 1) * (k.dir === 'asc' ? 1 : -1);
        }
        return 0;
      });
      let start = 0;
      if (opts.marker !== undefined) {
        const at = chosen.findIndex((r) => r.id === opts.marker);
        if (at < 0) throw markerNotFound(opts.marker);
        start = at + 1;
      }
      start += opts.offset ?? 0;
      const limit = pageLimit(opts.limit);
      const { page, nextMarker } = splitPage(chosen.slice(start, start + limit + 1), limit);
      const out: ListTypesResult = { types: await Promise.all(page.map(async (r) => forCaller(ctx, await info(db, r)))) };
      if (nextMarker !== undefined) out.nextMarker = nextMarker;
      return out;
    },

    async getType(ctx: RequestContext, id: string): Promise<VolumeTypeInfo> {
      return forCaller(ctx, await info(db, await loadType(ctx, id)));
    },

    async createType(ctx: RequestContext, req: CreateTypeRequest): Promise<VolumeTypeInfo> {
      requireAdmin(ctx, 'volume_extension:types_manage');
      const name = req.name.trim();
      if (name.length === 0) throw new CinderFault(400, 'Volume type name can not be empty.');
      const id = randomUUID();
      await deps.store.transaction(async (trx) => {
        // The partial unique index is the real guard; this check only gives the friendly 409 first.
        if (await types.findTypeByName(trx, name)) throw new CinderFault(409, `Volume Type ${name} already exists.`);
        await types.insertType(trx, { id, name, description: req.description ?? null, isPublic: req.isPublic ?? true });
        if (req.extraSpecs) await types.setExtraSpecs(trx, id, req.extraSpecs);
      });
      return info(db, (await types.findType(db, id))!);
    },

    async updateType(ctx: RequestContext, id: string, req: UpdateTypeRequest): Promise<VolumeTypeInfo> {
      requireAdmin(ctx, 'volume_extension:types_manage');
      const row = await loadType(ctx, id);
      const name = req.name?.trim() ?? undefined;
      if (req.name !== undefined && req.name !== null && name!.length === 0) throw new CinderFault(400, 'Volume type name can not be empty.');
      // A null description, like a null name, means "not given" (types_manage.py passes None on, and None changes nothing).
      const description = req.description ?? undefined;
      if (name === undefined && description === undefined && req.isPublic === undefined) {
        throw new CinderFault(400, 'Specify volume type name, description, is_public or a combination thereof.');
      }
      if (row.name === DEFAULT_TYPE_NAME && name !== undefined && name !== row.name) {
        throw new CinderFault(400, `The volume type ${DEFAULT_TYPE_NAME} cannot be renamed.`);
      }
      await deps.store.transaction(async (trx) => {
        if (name !== undefined && name !== row.name && (await types.findTypeByName(trx, name))) {
          throw new CinderFault(409, `Volume Type ${name} already exists.`);
        }
        await types.updateType(trx, row.id, { name, description, isPublic: req.isPublic });
      });
      return info(db, (await types.findType(db, row.id))!);
    },

    async deleteType(ctx: RequestContext, id: string): Promise<void> {
      requireAdmin(ctx, 'volume_extension:types_manage');
      const row = await loadType(ctx, id);
      if (row.name === DEFAULT_TYPE_NAME) throw new CinderFault(400, 'Default volume type can not be deleted.');
      await deps.store.transaction(async (trx) => {
        if ((await volumes.volumesUsingType(trx, row.id)) > 0) throw new CinderFault(400, 'Target volume type is still in use.');
        await typeAccess.removeAllAccess(trx, row.id);
        await encryption.deleteEncryption(trx, row.id);
        await types.softDeleteType(trx, row.id);
      });
    },

    async setExtraSpecs(
      ctx: RequestContext,
      typeId: string,
      specs: Record<string, string>,
      opts: { uriKey?: string } = {},
    ): Promise<Record<string, string>> {
      requireAdmin(ctx, opts.uriKey === undefined ? 'volume_extension:types_extra_specs:create' : 'volume_extension:types_extra_specs:update');
      const row = await loadType(ctx, typeId);
      return deps.store.transaction(async (trx) => {
        // types_extra_specs.py _allow_update: a type that volumes use keeps its specs (they decided where the volumes went).
        if ((await volumes.volumesUsingType(trx, row.id)) > 0) throw new CinderFault(400, 'Volume Type is currently in use.');
        if (opts.uriKey !== undefined && !(opts.uriKey in specs)) throw new CinderFault(400, 'Request body and URI mismatch');
        const current = (await info(trx, row)).extraSpecs;
        const on = (k: string) => specs[k] === '<is> True' || (!(k in specs) && current[k] === '<is> True');
        if (on('multiattach') && on('cacheable') && ('multiattach' in specs || 'cacheable' in specs)) {
          throw new CinderFault(400, 'cacheable cannot be set with multiattach.');
        }
        await types.setExtraSpecs(trx, row.id, specs);
        return specs;
      });
    },

    async getExtraSpec(ctx: RequestContext, typeId: string, key: string): Promise<Record<string, string>> {
      const specs = await getExtraSpecs(ctx, typeId);
      if (!(key in specs)) throw new CinderFault(404, `Volume Type ${typeId} has no extra specs with key ${key}.`);
      return { [key]: specs[key] };
    },

    async deleteExtraSpec(ctx: RequestContext, typeId: string, key: string): Promise<void> {
      const row = await loadType(ctx, typeId);
      requireAdmin(ctx, 'volume_extension:types_extra_specs:delete');
      await deps.store.transaction(async (trx) => {
        if ((await volumes.volumesUsingType(trx, row.id)) > 0) throw new CinderFault(400, 'Volume Type is currently in use.');
        if (!(await types.deleteExtraSpec(trx, row.id, key))) {
          throw new CinderFault(404, `Volume Type ${typeId} has no extra specs with key ${key}.`);
        }
      });
    },
  };
}
