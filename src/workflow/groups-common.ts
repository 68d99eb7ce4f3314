// What the group and group snapshot workflows share: Cinder's faults for groups, loading a visible group, and
// the list filter rules (api/common.py reject_invalid_filters).
import { CinderFault } from '../errors.js';
import * as groups from '../store/groups.js';
import type { Db } from '../store/schema.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import { canSeeProject } from './policy.js';
import { RESOURCE_FILTERS } from './resource-filters.js';

export const groupNotFound = (id: string) => new CinderFault(404, `Group ${id} could not be found.`);
export const invalidGroup = (why: string) => new CinderFault(400, `Invalid Group: ${why}`);

/** A Python list of strings as Cinder's messages print one. */
export function pyList(items: readonly string[]): string {
  return `[${items.map((s) => `'${s}'`).join(', ')}]`;
}

export async function loadGroupRow(db: Db, ctx: RequestContext, id: string): Promise<groups.GroupRow> {
  const row = await groups.findGroup(db, id);
  if (!row || !canSeeProject(ctx, row.project_id)) throw groupNotFound(id);
  return row;
}

/** Filters of a group or group snapshot list: Cinder's reject_invalid_filters, then only model columns. */
export function checkListFilters(ctx: RequestContext, resource: 'group' | 'group_snapshot', raw: Record<string, string>): Record<string, string> {
  const filters = { ...raw };
  delete filters.all_tenants;
  if (atLeast(ctx.version, 33) && !ctx.isAdmin) {
    const allowed = RESOURCE_FILTERS[resource];
    const like = atLeast(ctx.version, 34);
    const bad = Object.keys(filters).filter((k) => !(allowed.includes(k) || (like && k.endsWith('~') && allowed.includes(k.slice(0, -1)))));
    if (bad.length) throw new CinderFault(400, `Invalid filters ${bad.join(',')} are found in query options.`);
  }
  return filters;
}
