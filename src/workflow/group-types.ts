// Group types and group specs (cinder/api/v3/group_types.py, group_specs.py, volume/group_types.py).
import { randomUUID } from 'node:crypto';
import { CinderFault } from '../errors.js';
import * as groupTypes from '../store/group-types.js';
import type { Db } from '../store/schema.js';
import { toBool } from '../store/schema.js';
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import type { GroupTypeInfo, GroupTypesWorkflow } from './group-model.js';
import { markerNotFound, pageLimit, resolveSort } from './paging.js';
import { requireAdmin, requireMember } from './policy.js';

const SORT_KEYS: Record<string, 'created_at' | 'id' | 'name'> = { created_at: 'created_at', id: 'id', name: 'name' };

export const groupTypeNotFound = (id: string) => new CinderFault(404, `Group type ${id} could not be found.`);

async function hydrate(db: Db, rows: groupTypes.GroupTypeRow[]): Promise<GroupTypeInfo[]> {
  const specs = await groupTypes.getSpecs(db, rows.map((r) => r.id));
  return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, isPublic: toBool(r.is_public), groupSpecs: specs.get(r.id) ?? {} }));
}

export function groupTypeActions(deps: Deps): GroupTypesWorkflow {
  const { store } = deps;
  const db = store.db;

  /** Private group types are visible to admins only (no group type access API here). */
  async function load(ctx: RequestContext, id: string): Promise<GroupTypeInfo> {
    const row = await groupTypes.findGroupType(db, id);
    if (!row || (!toBool(row.is_public) && !ctx.isAdmin)) throw groupTypeNotFound(id);
    return (await hydrate(db, [row]))[0];
  }

  return {
    async createGroupType(ctx, req) {
      requireAdmin(ctx, 'group:group_types:create');
      const id = randomUUID();
      await store.transaction(async (trx) => {
        if (await groupTypes.findGroupTypeByName(trx, req.name)) throw new CinderFault(409, `Group Type ${req.name} already exists.`);
        await groupTypes.insertGroupType(trx, { id, name: req.name, description: req.description ?? null, isPublic: req.isPublic ?? true });
        if (req.groupSpecs) await groupTypes.setSpecs(trx, id, req.groupSpecs);
      });
      return load(ctx, id);
    },

    async listGroupTypes(ctx, req) {
      requireMember(ctx, 'group:group_types:get_all');
      const sort = resolveSort(req.sort, SORT_KEYS);
      let markerRow: groupTypes.GroupTypeRow | undefined;
      if (req.marker) {
        markerRow = await groupTypes.findGroupType(db, req.marker);
        if (!markerRow) throw markerNotFound(req.marker);
      }
      // volume/api_utils _parse_is_public: admins may ask for public, private or all; others see public ones.
      const isPublic = ctx.isAdmin ? req.isPublic : true;
      const rows = await groupTypes.listGroupTypes(db, { isPublic, sort, markerRow, limit: pageLimit(req.limit), offset: req.offset });
      return hydrate(db, rows);
    },

    getGroupType: (ctx, id) => {
      if (id === 'default') return Promise.reject(new CinderFault(404, 'Default group type can not be found.'));
      return load(ctx, id);
    },

    async updateGroupType(ctx, id, req) {
      requireAdmin(ctx, 'group:group_types:update');
      if (req.name !== undefined && req.name !== null && req.name.trim().length === 0) throw new CinderFault(400, 'Group type name can not be empty.');
      const name = req.name ?? undefined;
      if (name === undefined && (req.description === undefined || req.description === null) && req.isPublic === undefined) {
        throw new CinderFault(400, 'Specify group type name, description or a combination thereof.');
      }
      await store.transaction(async (trx) => {
        if (!(await groupTypes.findGroupType(trx, id))) throw groupTypeNotFound(id);
        if (name !== undefined) {
          const other = await groupTypes.findGroupTypeByName(trx, name);
          if (other && other.id !== id) throw new CinderFault(409, `Group Type ${name} already exists.`);
        }
        await groupTypes.updateGroupType(trx, id, { name, description: req.description ?? undefined, isPublic: req.isPublic });
      });
      return load(ctx, id);
    },

    async deleteGroupType(ctx, id) {
      requireAdmin(ctx, 'group:group_types:delete');
      if (!(await groupTypes.softDeleteGroupType(db, id))) throw groupTypeNotFound(id);
    },

    async getGroupSpecs(ctx, id) {
      requireAdmin(ctx, 'group:group_types_specs:get_all');
      return (await load(ctx, id)).groupSpecs;
    },

    async setGroupSpecs(ctx, id, specs) {
      requireAdmin(ctx, 'group:group_types_specs:create');
      await load(ctx, id);
      await store.transaction((trx) => groupTypes.setSpecs(trx, id, specs));
    },

    async deleteGroupSpec(ctx, id, key) {
      requireAdmin(ctx, 'group:group_types_specs:delete');
      await load(ctx, id);
      if (!(await groupTypes.deleteSpec(db, id, key))) throw new CinderFault(404, `Group Type ${id} has no specs with key ${key}.`);
    },
  };
}
