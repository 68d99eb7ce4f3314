// What the group and group snapshot workflows share: Cinder's faults for groups, loading a visible group, and
// their lists (the filter rules of api/common.py reject_invalid_filters, paging by marker).
import { CinderFault } from '../errors.js';
import * as groups from '../store/groups.js';
import type { Db } from '../store/schema.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import type { GroupListResult, ListGroupsRequest } from './group-model.js';
import { markerNotFound, pageLimit, resolveSort, splitPage } from './paging.js';
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

/** How one kind of group list reads its rows: the store's own query, sort keys and filterable columns. */
export interface GroupListSpec<Row extends { id: string; project_id: string }, SortKey, Info> {
  resource: 'group' | 'group_snapshot';
  sortKeys: Record<string, SortKey>;
  /** Columns an exact filter may name (is_valid_model_filters); any other key matches nothing. */
  filterColumns: ReadonlySet<string>;
  /** Columns a `key~` (3.34 LIKE) filter may name. */
  likeColumns: ReadonlySet<string>;
  find(db: Db, id: string): Promise<Row | undefined>;
  list: (
    db: Db,
    q: { projectId: string | null; eq: Record<string, string>; like: Record<string, string>; sort: { key: SortKey; dir: 'asc' | 'desc' }[]; markerRow?: Row; limit: number; offset?: number },
  ) => Promise<Row[]>;
  view(db: Db, rows: Row[]): Promise<Info[]> | Info[];
}

/**
 * One page of groups or group snapshots (group/api.py get_all, get_all_group_snapshots): the caller's project
 * unless an admin asks for all_tenants, a marker the caller may list, and the next page's marker.
 */
export async function listGroupPage<Row extends { id: string; project_id: string }, SortKey, Info>(
  db: Db,
  ctx: RequestContext,
  req: ListGroupsRequest,
  spec: GroupListSpec<Row, SortKey, Info>,
): Promise<GroupListResult<Info>> {
  const filters = checkListFilters(ctx, spec.resource, req.filters);
  const projectId = req.allTenants && ctx.isAdmin ? null : ctx.projectId;
  const sort = resolveSort(req.sort, spec.sortKeys);
  let markerRow: Row | undefined;
  if (req.marker) {
    markerRow = await spec.find(db, req.marker);
    if (!markerRow || (projectId !== null && markerRow.project_id !== projectId)) throw markerNotFound(req.marker);
  }
  const eq: Record<string, string> = {};
  const like: Record<string, string> = {};
  for (const [k, v] of Object.entries(filters)) {
    if (k.endsWith('~') && spec.likeColumns.has(k.slice(0, -1))) like[k.slice(0, -1)] = v;
    else if (spec.filterColumns.has(k)) eq[k] = v;
    // A key that is no column of the model matches nothing (db/sqlalchemy/api.py _process_groups_filters).
    else return { items: [] };
  }
  const limit = pageLimit(req.limit);
  const rows = await spec.list(db, { projectId, eq, like, sort, markerRow, limit: limit + 1, offset: req.offset });
  const { page, nextMarker } = splitPage(rows, limit);
  const result: GroupListResult<Info> = { items: await spec.view(db, page) };
  if (nextMarker !== undefined) result.nextMarker = nextMarker;
  return result;
}
