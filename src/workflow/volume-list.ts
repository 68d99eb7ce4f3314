// Volume list, detail list and summary with Cinder's filter rules (cinder/api/v3/volumes.py _get_volumes and
// summary, cinder/api/common.py reject_invalid_filters, cinder/volume/api.py get_all and check_volume_filters,
// cinder/db/sqlalchemy/api.py _process_volume_filters).
import { CinderFault, invalidInput } from '../errors.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import * as volumes from '../store/volumes.js';
import { countFilteredVolumes, listFilteredVolumes, summarizeVolumes, type FilterColumn, type FilterValue, type VolumeFilter } from '../store/volume-list.js';
import type { Deps } from './deps.js';
import { hydrate } from './loader.js';
import { markerNotFound, pageLimit, resolveSort } from './paging.js';
import { literalEval, type PyValue } from './py-literal.js';
import { RESOURCE_FILTERS } from './resource-filters.js';
import type { ListVolumesRequest, ListVolumesResult, VolumeSummaryInfo } from './model.js';

const SORT_KEYS: Record<string, volumes.SortKey> = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  id: 'id',
  name: 'name',
  display_name: 'name',
  status: 'status',
  size: 'size',
  availability_zone: 'availability_zone',
  bootable: 'bootable',
};

/** Cinder's volume columns (display_* as the API's name/description), by the column that holds them here. */
const COLUMNS: Record<string, FilterColumn> = {
  id: 'id',
  project_id: 'project_id',
  user_id: 'user_id',
  display_name: 'name',
  display_description: 'description',
  size: 'size',
  status: 'status',
  attach_status: 'attach_status',
  multiattach: 'multiattach',
  bootable: 'bootable',
  volume_type_id: 'volume_type_id',
  availability_zone: 'availability_zone',
  host: 'host',
  migration_status: 'migration_status',
  created_at: 'created_at',
  updated_at: 'updated_at',
  group_id: 'group_id',
};

/** Columns Cinder's volumes have that are always NULL here (no consistency groups, replication, clusters). */
const NULL_COLUMNS = new Set([
  'snapshot_id', 'source_volid', 'consistencygroup_id', 'replication_status', 'replication_extended_status',
  'replication_driver_data', 'provider_id', 'provider_geometry', 'cluster_name', 'service_uuid', 'previous_status',
  'scheduled_at', 'launched_at', 'terminated_at', 'instance_uuid', 'mountpoint', 'attach_time', 'attached_host',
]);

/** Boolean columns: their filter values are read as booleans (check_volume_filters). */
const BOOLEAN_KEYS = new Set(['bootable', 'multiattach', 'deleted', 'use_quota', 'shared_targets']);

/** Filters that exist only from a microversion on (MV_ADDED_FILTERS): below it they are dropped. */
const ADDED_FILTERS: [minor: number, key: string][] = [
  [4, 'glance_metadata'],
  [10, 'group_id'],
  [60, 'created_at'],
  [60, 'updated_at'],
  [65, 'consumes_quota'],
];

const TIME_OPERATORS = { gt: '>', gte: '>=', eq: '=', neq: '<>', lt: '<', lte: '<=' } as const;

/** oslo's bool_from_string(strict=True). */
function strictBool(key: string, v: string): boolean {
  const l = v.trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(l)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(l)) return false;
  throw invalidInput(`'${key} = ${v}'`);
}

/** An ISO 8601 time as Cinder stores it (UTC, microseconds), or undefined when unreadable. */
function isoTime(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/.test(text)) return undefined;
  const d = new Date(/[zZ]|[+-]\d{2}:?\d{2}$/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().slice(0, 23) + '000';
}

function timeFilter(column: 'created_at' | 'updated_at', raw: string): VolumeFilter {
  const any: { op: (typeof TIME_OPERATORS)[keyof typeof TIME_OPERATORS]; value: string }[] = [];
  for (const unit of raw.split(',')) {
    const sep = unit.indexOf(':');
    if (sep < 0) throw new CinderFault(400, `Invalid ${column} value`);
    const op = unit.slice(0, sep);
    if (!(op in TIME_OPERATORS)) throw new CinderFault(400, `Invalid ${op} operator`);
    const value = isoTime(unit.slice(sep + 1));
    if (value === undefined) throw new CinderFault(400, `Invalid ${unit.slice(sep + 1)} value`);
    any.push({ op: TIME_OPERATORS[op as keyof typeof TIME_OPERATORS], value });
  }
  return { kind: 'time', column, any };
}

export interface ProcessedFilters {
  /** null: every project. */
  projectId: string | null;
  filters: VolumeFilter[];
  /** A filter no volume can match (an unknown column, as Cinder's query builder gives up on): list nothing. */
  nothing: boolean;
}

/**
 * The query's filters as Cinder applies them to a volume list at the caller's microversion and role.
 * `summary` follows the summary action, which only drops what a non-admin may not use.
 */
export function processFilters(ctx: RequestContext, raw: Record<string, string>, opts: { summary?: boolean } = {}): ProcessedFilters {
  const params = { ...raw };
  const ver = ctx.version;
  const allowed = RESOURCE_FILTERS.volume;
  if (!opts.summary) {
    for (const [minor, key] of ADDED_FILTERS) if (!atLeast(ver, minor)) delete params[key];
  }
  if (!opts.summary && atLeast(ver, 33)) {
    for (const key of Object.keys(params)) {
      if (!/^[\x00-\x7f]*$/.test(key)) throw new CinderFault(400, 'Filter keys can only contain ASCII characters.');
    }
    if (!ctx.isAdmin) {
      const like = atLeast(ver, 34);
      const invalid = Object.keys(params).filter((k) => !(allowed.includes(k) || (like && allowed.includes(`${k}~`))));
      // cinderclient always sends all_tenants: a non-admin's is ignored, not refused (Cinder bug 1917574).
      const refused = invalid.filter((k) => k !== 'all_tenants');
      if (refused.length) throw new CinderFault(400, `Invalid filters ${refused.join(',')} are found in query options.`);
      delete params.all_tenants;
    }
  } else if (!ctx.isAdmin) {
    // Before 3.33 a non-admin's unknown filters are dropped silently (remove_invalid_filter_options).
    for (const k of Object.keys(params)) if (!allowed.includes(k)) delete params[k];
  }

  let allTenants = false;
  if ('all_tenants' in params) {
    allTenants = params.all_tenants === '' ? true : strictBoolParam('all_tenants', params.all_tenants);
    delete params.all_tenants;
  }
  const out: ProcessedFilters = { projectId: ctx.isAdmin && allTenants ? null : ctx.projectId, filters: [], nothing: false };
  if (!ctx.isAdmin) out.filters.push({ kind: 'noMigrationTargets' });

  const strict = atLeast(ver, 2);
  for (const [apiKey, value] of Object.entries(params)) {
    // The API says name, description; the database display_name, display_description (convert_filter_attributes).
    let key = apiKey === 'name' ? 'display_name' : apiKey === 'name~' ? 'display_name~' : apiKey === 'description~' ? 'display_description~' : apiKey;
    if (key === 'consumes_quota') key = 'use_quota';
    if ((key === 'created_at' || key === 'updated_at') && atLeast(ver, 60)) {
      out.filters.push(timeFilter(key, value));
      continue;
    }
    if (key.endsWith('~')) {
      const column = COLUMNS[key.slice(0, -1)];
      if (column) out.filters.push({ kind: 'like', column, value });
      else out.nothing = true;
      continue;
    }
    let v: PyValue;
    if (BOOLEAN_KEYS.has(key)) {
      // Before 3.2 anything but a spelling of false is true (_check_boolean_filter_value).
      v = strict ? strictBool(key, value) : !['False', 'false', 'FALSE', ''].includes(value);
    } else if (key === 'display_name') {
      v = value;
    } else {
      const evaluated = literalEval(value);
      v = evaluated === undefined ? value : evaluated;
    }
    if (key === 'metadata' || key === 'glance_metadata') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        out.nothing = true;
      } else if (key === 'metadata') {
        out.filters.push({ kind: 'metadata', items: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) });
      } else if (Object.keys(v).length > 0) {
        // No volume here comes from an image, so none has image metadata to match.
        out.nothing = true;
      }
      continue;
    }
    if (key === 'deleted') {
      // Deleted volumes are never listed (read_deleted "no").
      if (v === true) out.nothing = true;
      continue;
    }
    if (key === 'use_quota') {
      // Every volume here counts against quota.
      if (v === false) out.nothing = true;
      continue;
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out.nothing = true;
      continue;
    }
    const column = COLUMNS[key];
    if (!column) {
      if (!NULL_COLUMNS.has(key) || !(v === null || (Array.isArray(v) && v.includes(null)))) out.nothing = true;
      continue;
    }
    const flat = (x: PyValue): FilterValue => (x !== null && typeof x === 'object' ? JSON.stringify(x) : x);
    out.filters.push({ kind: 'eq', column, value: Array.isArray(v) ? v.map(flat) : flat(v) });
  }
  return out;
}

/** cinder/utils.py get_bool_param: strict booleans, anything else is 400 (InvalidParameterValue). */
function strictBoolParam(key: string, v: string): boolean {
  const l = v.trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(l)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(l)) return false;
  throw new CinderFault(400, `Value '${v}' for '${key}' is not a boolean.`);
}

export function volumeListing(deps: Deps) {
  const db = deps.store.db;

  async function listVolumes(ctx: RequestContext, req: ListVolumesRequest): Promise<ListVolumesResult> {
    const sort = resolveSort(req.sort, SORT_KEYS);
    const f = processFilters(ctx, req.filters ?? {});
    let markerRow: volumes.VolumeRow | undefined;
    if (req.marker) {
      markerRow = await volumes.findVolume(db, req.marker);
      if (!markerRow || (f.projectId !== null && markerRow.project_id !== f.projectId)) throw markerNotFound(req.marker);
    }
    const limit = pageLimit(req.limit);
    const rows = f.nothing
      ? []
      : await listFilteredVolumes(db, { projectId: f.projectId, filters: f.filters, sort, markerRow, limit, offset: req.offset });
    const result: ListVolumesResult = { volumes: await hydrate(db, rows) };
    if (req.withCount) result.count = f.nothing ? 0 : await countFilteredVolumes(db, { projectId: f.projectId, filters: f.filters });
    // Cinder's _get_collection_links: a next link whenever the page holds `limit` items (or with_count's total
    // reaches the limit), even when nothing follows; the page after it is then empty and has none.
    const reach = result.count || rows.length;
    if (rows.length > 0 && limit <= reach) result.nextMarker = rows[rows.length - 1].id;
    return result;
  }

  async function volumeSummary(ctx: RequestContext, filters: Record<string, string>): Promise<VolumeSummaryInfo> {
    const f = processFilters(ctx, filters, { summary: true });
    if (f.nothing) return { totalCount: 0, totalSize: 0, metadata: {} };
    const s = await summarizeVolumes(db, { projectId: f.projectId, filters: f.filters });
    return { totalCount: s.count, totalSize: s.size, metadata: s.metadata };
  }

  return { listVolumes, volumeSummary };
}
