// Private volume types and the projects that may use them (cinder/api/contrib/volume_type_access.py,
// cinder/volume/volume_types.py add/remove_volume_type_access).
import { CinderFault } from '../errors.js';
import type { RequestContext } from './context.js';
import * as types from '../store/volume-types.js';
import * as typeAccess from '../store/type-access.js';
import { toBool } from '../store/schema.js';
import type { Deps } from './deps.js';
import type { TypeAccessWorkflow } from './types-services-model.js';
import { requireAdmin } from './policy.js';
import { typeNotFound } from './volume-types.js';

const notApplicable = () => new CinderFault(400, 'Invalid volume type: Type access modification is not applicable to public volume type.');

export function typeAccessActions(deps: Deps): TypeAccessWorkflow {
  const db = deps.store.db;

  async function liveType(typeId: string): Promise<types.TypeRow> {
    const row = await types.findType(db, typeId);
    if (!row) throw typeNotFound(typeId);
    return row;
  }

  return {
    async listTypeAccess(ctx, typeId) {
      requireAdmin(ctx, 'volume_extension:volume_type_access:get_all_for_type');
      const row = await liveType(typeId);
      if (toBool(row.is_public)) throw new CinderFault(404, 'Access list not available for public volume types.');
      return (await typeAccess.listProjects(db, row.id)).map((projectId) => ({ volumeTypeId: row.id, projectId }));
    },

    async addTypeAccess(ctx, typeId, projectId) {
      requireAdmin(ctx, 'volume_extension:volume_type_access:addProjectAccess');
      await deps.store.transaction(async (trx) => {
        const row = await types.findType(trx, typeId);
        if (!row) throw typeNotFound(typeId);
        if (toBool(row.is_public)) throw notApplicable();
        if (!(await typeAccess.addAccess(trx, row.id, projectId))) {
          throw new CinderFault(409, `Volume type access for ${typeId} / ${projectId} combination already exists.`);
        }
      });
    },

    async removeTypeAccess(ctx, typeId, projectId) {
      requireAdmin(ctx, 'volume_extension:volume_type_access:removeProjectAccess');
      const row = await liveType(typeId);
      if (toBool(row.is_public)) throw notApplicable();
      if (!(await typeAccess.removeAccess(db, row.id, projectId))) {
        throw new CinderFault(404, `Volume type access not found for ${typeId} / ${projectId} combination.`);
      }
    },
  };
}
