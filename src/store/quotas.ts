// Quota limits and usages. Usage is a stored counter per (project, resource, type) that the workflow changes
// in the transaction that creates, grows, moves or deletes the row it counts (DESIGN.md: "Quota usage changes
// in the transaction that creates or deletes the resource"). recountUsage() derives the same numbers from the
// rows themselves; tests hold the two equal.
import { sql } from 'kysely';
import { dbBool, type Db } from './schema.js';

/** '' stands for "no type": the project's totals. */
export const TOTAL = '';

export interface UsageKey {
  resource: string;
  /** Volume type id, or TOTAL. */
  typeId: string;
}

export interface LimitRow extends UsageKey {
  limit: number;
}

export interface UsageRow extends UsageKey {
  inUse: number;
}

export type LimitKind = 'project' | 'class';

export async function getLimits(db: Db, kind: LimitKind, owner: string): Promise<LimitRow[]> {
  const rows = await db
    .selectFrom('quota_limits')
    .select(['resource', 'volume_type_id', 'hard_limit'])
    .where('kind', '=', kind)
    .where('owner', '=', owner)
    .execute();
  return rows.map((r) => ({ resource: r.resource, typeId: r.volume_type_id, limit: Number(r.hard_limit) }));
}

export async function setLimit(db: Db, kind: LimitKind, owner: string, key: UsageKey, limit: number): Promise<void> {
  await db
    .insertInto('quota_limits')
    .values({ kind, owner, resource: key.resource, volume_type_id: key.typeId, hard_limit: limit })
    .onConflict((oc) => oc.columns(['kind', 'owner', 'resource', 'volume_type_id']).doUpdateSet({ hard_limit: limit }))
    .execute();
}

/** Drops every limit set for one project (os-quota-sets DELETE): the class defaults apply again. */
export async function deleteProjectLimits(db: Db, projectId: string): Promise<void> {
  await db.deleteFrom('quota_limits').where('kind', '=', 'project').where('owner', '=', projectId).execute();
}

/** The stored usage of one project (rows at 0 included), or of every project. */
export async function storedUsage(db: Db, projectId?: string): Promise<Map<string, UsageRow[]>> {
  let q = db.selectFrom('quota_usages').select(['project_id', 'resource', 'volume_type_id', 'in_use']);
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  const out = new Map<string, UsageRow[]>();
  for (const r of await q.execute()) {
    const list = out.get(r.project_id) ?? [];
    list.push({ resource: r.resource, typeId: r.volume_type_id, inUse: Number(r.in_use) });
    out.set(r.project_id, list);
  }
  return out;
}

/**
 * Adds `delta` to one usage counter. With `limit` (>= 0) the change is conditional: one
 * `UPDATE ... SET in_use = in_use + delta WHERE in_use + delta <= limit`, so two requests racing for the last
 * unit cannot both pass (a row lock on PostgreSQL, the single writer on SQLite). Returns false when refused.
 */
export async function addUsage(db: Db, projectId: string, key: UsageKey, delta: number, limit?: number): Promise<boolean> {
  if (delta === 0) return true;
  await db
    .insertInto('quota_usages')
    .values({ project_id: projectId, resource: key.resource, volume_type_id: key.typeId, in_use: 0 })
    .onConflict((oc) => oc.columns(['project_id', 'resource', 'volume_type_id']).doNothing())
    .execute();
  let q = db
    .updateTable('quota_usages')
    .set({ in_use: sql<number>`in_use + ${delta}` })
    .where('project_id', '=', projectId)
    .where('resource', '=', key.resource)
    .where('volume_type_id', '=', key.typeId);
  if (limit !== undefined && limit >= 0 && delta > 0) q = q.where(sql<boolean>`in_use + ${delta} <= ${limit}`);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Current stored value of one counter (0 when never charged). */
export async function usageOf(db: Db, projectId: string, key: UsageKey): Promise<number> {
  const r = await db
    .selectFrom('quota_usages')
    .select('in_use')
    .where('project_id', '=', projectId)
    .where('resource', '=', key.resource)
    .where('volume_type_id', '=', key.typeId)
    .executeTakeFirst();
  return r ? Number(r.in_use) : 0;
}

/** The gigabytes a volume row is charged for: an accepted extend is charged from the moment it is accepted. */
export function chargedSize(row: { size: number; pending_size?: number | null }): number {
  return Math.max(row.size, row.pending_size ?? 0);
}

/**
 * Usage derived from the rows (live volumes, live snapshots and live groups), keyed like
 * storedUsage(). Counters that are 0 are left out.
 */
export async function recountUsage(db: Db, projectId?: string): Promise<Map<string, UsageRow[]>> {
  let q = db.selectFrom('volumes').select(['project_id', 'volume_type_id', 'size', 'pending_size']).where('deleted', '=', dbBool(false));
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  const acc = new Map<string, Map<string, UsageRow>>();
  const add = (project: string, resource: string, typeId: string, n: number) => {
    const m = acc.get(project) ?? new Map<string, UsageRow>();
    acc.set(project, m);
    const k = `${resource}\u0000${typeId}`;
    const cur = m.get(k) ?? { resource, typeId, inUse: 0 };
    cur.inUse += n;
    m.set(k, cur);
  };
  for (const r of await q.execute()) {
    const gb = chargedSize(r);
    for (const t of r.volume_type_id ? [TOTAL, r.volume_type_id] : [TOTAL]) {
      add(r.project_id, 'volumes', t, 1);
      add(r.project_id, 'gigabytes', t, gb);
    }
  }
  let sq = db.selectFrom('snapshots').select(['project_id', 'volume_type_id', 'volume_size']).where('deleted', '=', dbBool(false));
  if (projectId !== undefined) sq = sq.where('project_id', '=', projectId);
  for (const r of await sq.execute()) {
    for (const t of r.volume_type_id ? [TOTAL, r.volume_type_id] : [TOTAL]) {
      add(r.project_id, 'snapshots', t, 1);
      add(r.project_id, 'gigabytes', t, r.volume_size);
    }
  }
  let gq = db.selectFrom('groups').select('project_id').where('deleted', '=', dbBool(false));
  if (projectId !== undefined) gq = gq.where('project_id', '=', projectId);
  for (const r of await gq.execute()) add(r.project_id, 'groups', TOTAL, 1);
  const out = new Map<string, UsageRow[]>();
  for (const [p, m] of acc) out.set(p, [...m.values()].filter((u) => u.inUse !== 0));
  return out;
}

/** Canonical text of a usage map with zero counters dropped, so stored and recounted usage compare with deepEqual. */
export function usageFingerprint(m: Map<string, UsageRow[]>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [p, rows] of [...m].sort(([a], [b]) => a.localeCompare(b))) {
    const e: Record<string, number> = {};
    for (const r of [...rows].sort((a, b) => `${a.resource}/${a.typeId}`.localeCompare(`${b.resource}/${b.typeId}`))) {
      if (r.inUse !== 0) e[`${r.resource}/${r.typeId}`] = r.inUse;
    }
    if (Object.keys(e).length > 0) out[p] = e;
  }
  return out;
}
