// Snapshot rows: inserts, conditional updates (the lock), listing, key/value metadata.
import type { Insertable, Selectable, Updateable } from 'kysely';
import { dbBool, nowTimestamp, toBool, type Db, type SnapshotsTable } from './schema.js';
import { paged } from './paging.js';

export type SnapshotRow = Selectable<SnapshotsTable>;
export type NewSnapshot = Insertable<SnapshotsTable>;
export type SnapshotChanges = Updateable<SnapshotsTable>;

export async function insertSnapshot(db: Db, row: NewSnapshot): Promise<void> {
  await db.insertInto('snapshots').values(row).execute();
}

export async function findSnapshot(db: Db, id: string): Promise<SnapshotRow | undefined> {
  return db.selectFrom('snapshots').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

/** `UPDATE snapshots SET ... WHERE id=? AND status IN (...)`: returns whether the row changed. */
export async function casSnapshot(db: Db, id: string, values: SnapshotChanges, expected: { status?: readonly string[]; groupSnapshotId?: null }): Promise<boolean> {
  let q = db
    .updateTable('snapshots')
    .set({ ...values, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false));
  if (expected.status) q = q.where('status', 'in', [...expected.status]);
  if (expected.groupSnapshotId === null) q = q.where('group_snapshot_id', 'is', null);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function softDeleteSnapshot(db: Db, id: string): Promise<void> {
  const now = nowTimestamp();
  await db
    .updateTable('snapshots')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now, status: 'deleted', lease_expires_at: null })
    .where('id', '=', id)
    .execute();
}

/** Live snapshots of a volume, newest first (Cinder's get_latest_snapshot orders by created_at). */
export async function snapshotsOfVolume(db: Db, volumeId: string): Promise<SnapshotRow[]> {
  return db
    .selectFrom('snapshots')
    .selectAll()
    .where('volume_id', '=', volumeId)
    .where('deleted', '=', dbBool(false))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

export type SnapshotSortKey = 'created_at' | 'updated_at' | 'id' | 'name' | 'status' | 'volume_size' | 'volume_id' | 'project_id';

export interface ListSnapshotsQuery {
  /** null: every project (admin all_tenants). */
  projectId: string | null;
  name?: string;
  status?: string;
  volumeId?: string;
  metadata?: Record<string, string>;
  sort: { key: SnapshotSortKey; dir: 'asc' | 'desc' }[];
  markerRow?: SnapshotRow;
  limit?: number;
  offset?: number;
}

function filtered(db: Db, query: Omit<ListSnapshotsQuery, 'sort'>) {
  let q = db.selectFrom('snapshots').where('deleted', '=', dbBool(false));
  if (query.projectId !== null) q = q.where('project_id', '=', query.projectId);
  if (query.name !== undefined) q = q.where('name', '=', query.name);
  if (query.status !== undefined) q = q.where('status', '=', query.status);
  if (query.volumeId !== undefined) q = q.where('volume_id', '=', query.volumeId);
  for (const [k, v] of Object.entries(query.metadata ?? {})) {
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('snapshot_metadata as m')
          .select('m.key')
          .whereRef('m.snapshot_id', '=', 'snapshots.id')
          .where('m.key', '=', k)
          .where('m.value', '=', v),
      ),
    );
  }
  return q;
}

export async function listSnapshots(db: Db, query: ListSnapshotsQuery): Promise<SnapshotRow[]> {
  return paged(filtered(db, query).selectAll(), query).execute();
}

export async function countSnapshots(db: Db, query: Omit<ListSnapshotsQuery, 'sort' | 'markerRow' | 'limit' | 'offset'>): Promise<number> {
  const r = await filtered(db, query)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function getMetadata(db: Db, ids: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const id of ids) out.set(id, {});
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db.selectFrom('snapshot_metadata').selectAll().where('snapshot_id', 'in', ids.slice(i, i + 500)).orderBy('key').execute();
    for (const r of rows) out.get(r.snapshot_id)![r.key] = r.value;
  }
  return out;
}

export async function setMetadataItems(db: Db, snapshotId: string, items: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(items)) {
    await db
      .insertInto('snapshot_metadata')
      .values({ snapshot_id: snapshotId, key, value })
      .onConflict((oc) => oc.columns(['snapshot_id', 'key']).doUpdateSet({ value }))
      .execute();
  }
}

export async function replaceMetadata(db: Db, snapshotId: string, items: Record<string, string>): Promise<void> {
  await db.deleteFrom('snapshot_metadata').where('snapshot_id', '=', snapshotId).execute();
  await setMetadataItems(db, snapshotId, items);
}

/** Returns whether the key was there. */
export async function deleteMetadataKey(db: Db, snapshotId: string, key: string): Promise<boolean> {
  const r = await db.deleteFrom('snapshot_metadata').where('snapshot_id', '=', snapshotId).where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Live snapshots of this host's volumes in one of `statuses`; with `expiredBefore`, only those whose lease ran out. */
export async function snapshotsInStatus(db: Db, hostName: string, statuses: readonly string[], expiredBefore?: string): Promise<(SnapshotRow & { host: string | null })[]> {
  let q = db
    .selectFrom('snapshots as s')
    .innerJoin('volumes as v', 'v.id', 's.volume_id')
    .selectAll('s')
    .select('v.host as host')
    .where('s.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .where('s.status', 'in', [...statuses]);
  if (expiredBefore !== undefined) {
    q = q.where((eb) =>
      eb.or([
        eb('s.lease_expires_at', '<', expiredBefore),
        eb.and([eb('s.lease_expires_at', 'is', null), eb('s.updated_at', '<', expiredBefore)]),
      ]),
    );
  }
  return q.orderBy('s.created_at').execute();
}

/** Which of `ids` have a live snapshot row. */
export async function liveSnapshotIds(db: Db, ids: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db.selectFrom('snapshots').select(['id', 'deleted']).where('id', 'in', ids.slice(i, i + 500)).execute();
    for (const r of rows) if (!toBool(r.deleted)) out.add(r.id);
  }
  return out;
}

/** A cascade delete: every live snapshot of the volume becomes deleting, with the task lease. */
export async function markVolumeSnapshotsDeleting(db: Db, volumeId: string, leaseExpiresAt: string): Promise<void> {
  await db
    .updateTable('snapshots')
    .set({ status: 'deleting', lease_expires_at: leaseExpiresAt, updated_at: nowTimestamp() })
    .where('volume_id', '=', volumeId)
    .where('deleted', '=', dbBool(false))
    .execute();
}
