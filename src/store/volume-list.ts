// Volume listing with Cinder's general filters (cinder/db/sqlalchemy/api.py _process_volume_filters), the count
// that 3.45 `with_count` reports, and the 3.12 summary. The workflow decides which filters a caller may use;
// here each filter is one condition on a known column.
import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import { dbBool, type Database, type Db, type VolumesTable } from './schema.js';
import { paged } from './paging.js';
import { containsAnyCase } from './text-match.js';
import type { SortKey, VolumeRow } from './volumes.js';

/** Columns a filter may name, as the volumes table spells them. */
export type FilterColumn = keyof Pick<
  VolumesTable,
  | 'id' | 'project_id' | 'user_id' | 'name' | 'description' | 'size' | 'status' | 'attach_status' | 'multiattach' | 'bootable'
  | 'volume_type_id' | 'availability_zone' | 'host' | 'migration_status' | 'created_at' | 'updated_at' | 'group_id'
>;

export type FilterValue = string | number | boolean | null;

const LIKE_BOOLEAN_COLUMNS: ReadonlySet<FilterColumn> = new Set(['multiattach', 'bootable']);

export type VolumeFilter =
  /** column = value, or column IN (values); null matches NULL. */
  | { kind: 'eq'; column: FilterColumn; value: FilterValue | FilterValue[] }
  /** column LIKE %value% (3.34 `key~`). */
  | { kind: 'like'; column: FilterColumn; value: string }
  /** Any of the comparisons holds (3.60 created_at / updated_at). */
  | { kind: 'time'; column: 'created_at' | 'updated_at'; any: { op: '>' | '>=' | '=' | '<>' | '<' | '<='; value: string }[] }
  /** Every key/value is in volume_metadata. */
  | { kind: 'metadata'; items: Record<string, string> }
  /** Not the temporary target of a migration (what non-admins never see). */
  | { kind: 'noMigrationTargets' };

export interface FilteredVolumesQuery {
  /** null: every project (admin all_tenants). */
  projectId: string | null;
  filters: VolumeFilter[];
}

type Q = SelectQueryBuilder<Database, 'volumes', any>;

function condition(eb: ExpressionBuilder<Database, 'volumes'>, f: VolumeFilter) {
  switch (f.kind) {
    case 'eq': {
      const norm = (v: FilterValue) => (typeof v === 'boolean' ? dbBool(v) : v);
      if (Array.isArray(f.value)) {
        const values = f.value.filter((v) => v !== null).map(norm) as (string | number)[];
        const ors = [];
        if (values.length) ors.push(eb(f.column, 'in', values));
        if (f.value.includes(null)) ors.push(eb(f.column, 'is', null));
        return ors.length ? eb.or(ors) : sql<boolean>`1 = 0`;
      }
      if (f.value === null) return eb(f.column, 'is', null);
      return eb(f.column, '=', norm(f.value) as string | number);
    }
    case 'like': {
      // Compared as text, as MySQL compares Cinder's columns: integers as digits, booleans as 1/0 (PostgreSQL has no
      // LIKE on integers or booleans and would spell a boolean "true").
      const column = sql.ref(f.column);
      const text = LIKE_BOOLEAN_COLUMNS.has(f.column) ? sql`case when ${column} then '1' else '0' end` : sql`cast(${column} as text)`;
      return containsAnyCase(text, f.value);
    }
    case 'time':
      return eb.or(f.any.map((c) => eb(f.column, c.op, c.value)));
    case 'metadata':
      return eb.and(
        Object.entries(f.items).map(([k, v]) =>
          eb.exists(
            eb
              .selectFrom('volume_metadata as m')
              .select('m.key')
              .whereRef('m.volume_id', '=', 'volumes.id')
              .where('m.key', '=', k)
              .where('m.value', '=', v),
          ),
        ),
      );
    case 'noMigrationTargets':
      return eb.or([eb('migration_status', 'is', null), eb('migration_status', 'not like', 'target:%')]);
  }
}

function filtered<T extends Q>(q: T, query: FilteredVolumesQuery): T {
  let out: Q = q.where('deleted', '=', dbBool(false));
  if (query.projectId !== null) out = out.where('project_id', '=', query.projectId);
  for (const f of query.filters) out = out.where((eb) => condition(eb, f));
  return out as T;
}

export async function listFilteredVolumes(
  db: Db,
  query: FilteredVolumesQuery & { sort: { key: SortKey; dir: 'asc' | 'desc' }[]; markerRow?: VolumeRow; limit?: number; offset?: number },
): Promise<VolumeRow[]> {
  return paged(filtered(db.selectFrom('volumes').selectAll(), query), query).execute();
}

export async function countFilteredVolumes(db: Db, query: FilteredVolumesQuery): Promise<number> {
  const r = await filtered(db.selectFrom('volumes').select((eb) => eb.fn.countAll<number>().as('n')), query).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Count and total GiB of the matching volumes, and every metadata key with its distinct values among the live
 * volumes in scope: Cinder's get_volume_summary applies the filters to the totals only.
 */
export async function summarizeVolumes(db: Db, query: FilteredVolumesQuery): Promise<{ count: number; size: number; metadata: Record<string, string[]> }> {
  const totals = await filtered(
    db.selectFrom('volumes').select((eb) => [eb.fn.countAll<number>().as('n'), sql<number | null>`sum(size)`.as('total')]),
    query,
  ).executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('volume_metadata')
    .select(['key', 'value'])
    .distinct()
    .where('volume_id', 'in', (eb) => filtered(eb.selectFrom('volumes').select('id'), { projectId: query.projectId, filters: [] }))
    .orderBy('key')
    .orderBy('value')
    .execute();
  const metadata: Record<string, string[]> = {};
  for (const r of rows) (metadata[r.key] ??= []).push(r.value);
  return { count: Number(totals.n), size: Number(totals.total ?? 0), metadata };
}
