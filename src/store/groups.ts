// Generic volume group rows (Cinder's groups, group_volume_type_mapping, group_snapshots) and the volume and
// snapshot rows that belong to them: inserts, conditional updates (the lock), listing.
import type { Insertable, Selectable, Updateable } from 'kysely';
import { dbBool, nowTimestamp, type Db, type GroupSnapshotsTable, type GroupsTable } from './schema.js';
import { paged } from './paging.js';
import type { VolumeRow } from './volumes.js';
import type { SnapshotRow } from './snapshots.js';

export type GroupRow = Selectable<GroupsTable>;
export type NewGroup = Insertable<GroupsTable>;
export type GroupChanges = Updateable<GroupsTable>;
export type GroupSnapshotRow = Selectable<GroupSnapshotsTable>;
export type NewGroupSnapshot = Insertable<GroupSnapshotsTable>;
export type GroupSnapshotChanges = Updateable<GroupSnapshotsTable>;

export async function insertGroup(db: Db, row: NewGroup, volumeTypeIds: string[]): Promise<void> {
  await db.insertInto('groups').values(row).execute();
  for (const [position, volume_type_id] of volumeTypeIds.entries()) {
    await db.insertInto('group_volume_type_mapping').values({ group_id: row.id, volume_type_id, position }).execute();
  }
}

export async function findGroup(db: Db, id: string): Promise<GroupRow | undefined> {
  return db.selectFrom('groups').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

/** The volume type ids of each group, in the order they were given. */
export async function volumeTypesOf(db: Db, groupIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupIds.map((id) => [id, []]));
  for (let i = 0; i < groupIds.length; i += 500) {
    const rows = await db
      .selectFrom('group_volume_type_mapping')
      .selectAll()
      .where('group_id', 'in', groupIds.slice(i, i + 500))
      .orderBy('group_id')
      .orderBy('position')
      .execute();
    for (const r of rows) out.get(r.group_id)!.push(r.volume_type_id);
  }
  return out;
}

export interface GroupExpected {
  status?: readonly string[];
  /** No live group snapshot of the group (db.group_has_group_snapshot_filter). */
  noGroupSnapshots?: boolean;
  /** No live volume of the group is attached or has snapshots (group_has_volumes_filter(attached_or_with_snapshots)). */
  noBusyVolumes?: boolean;
  /** The group has no live volume at all (group_has_volumes_filter()). */
  noVolumes?: boolean;
  /** No live group is being created from this one (db.group_creating_from_src). */
  notSourceOfCreating?: boolean;
}

/** `UPDATE groups SET ... WHERE id=? AND <expected>`: returns whether the row changed. */
export async function casGroup(db: Db, id: string, values: GroupChanges, expected: GroupExpected = {}): Promise<boolean> {
  let q = db
    .updateTable('groups')
    .set({ ...values, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false));
  if (expected.status) q = q.where('status', 'in', [...expected.status]);
  if (expected.noGroupSnapshots) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('group_snapshots as gs').select('gs.id').whereRef('gs.group_id', '=', 'groups.id').where('gs.deleted', '=', dbBool(false)))),
    );
  }
  if (expected.noVolumes) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('volumes as v').select('v.id').whereRef('v.group_id', '=', 'groups.id').where('v.deleted', '=', dbBool(false)))),
    );
  }
  if (expected.noBusyVolumes) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('volumes as v')
            .select('v.id')
            .whereRef('v.group_id', '=', 'groups.id')
            .where('v.deleted', '=', dbBool(false))
            .where((w) =>
              w.or([
                w('v.attach_status', '=', 'attached'),
                w.exists(w.selectFrom('snapshots as s').select('s.id').whereRef('s.volume_id', '=', 'v.id').where('s.deleted', '=', dbBool(false))),
              ]),
            ),
        ),
      ),
    );
  }
  if (expected.notSourceOfCreating) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('groups as g2')
            .select('g2.id')
            .whereRef('g2.source_group_id', '=', 'groups.id')
            .where('g2.status', '=', 'creating')
            .where('g2.deleted', '=', dbBool(false)),
        ),
      ),
    );
  }
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function softDeleteGroup(db: Db, id: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('groups')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now, status: 'deleted', lease_expires_at: null })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export type GroupSortKey = 'created_at' | 'updated_at' | 'id' | 'name' | 'status' | 'project_id' | 'availability_zone' | 'group_type_id' | 'description';

export interface ListGroupsQuery {
  /** null: every project (admin all_tenants). */
  projectId: string | null;
  /** Exact-match filters on columns, already checked against the allowed keys. */
  eq: Partial<Record<'name' | 'status' | 'id' | 'group_type_id' | 'availability_zone' | 'description' | 'project_id' | 'user_id', string>>;
  /** name~ (3.34 LIKE filters). */
  like: Partial<Record<'name', string>>;
  sort: { key: GroupSortKey; dir: 'asc' | 'desc' }[];
  markerRow?: GroupRow;
  limit?: number;
  offset?: number;
}

export async function listGroups(db: Db, query: ListGroupsQuery): Promise<GroupRow[]> {
  let q = db.selectFrom('groups').selectAll().where('deleted', '=', dbBool(false));
  if (query.projectId !== null) q = q.where('project_id', '=', query.projectId);
  for (const [k, v] of Object.entries(query.eq)) if (v !== undefined) q = q.where(k as keyof GroupsTable, '=', v);
  for (const [k, v] of Object.entries(query.like)) if (v !== undefined) q = q.where(k as keyof GroupsTable, 'like', `%${v}%`);
  return paged(q, query).execute();
}

/** Live volumes of a group (Cinder's volume_get_all_by_generic_group), oldest first. */
export async function volumesOfGroup(db: Db, groupId: string): Promise<VolumeRow[]> {
  return db
    .selectFrom('volumes')
    .selectAll()
    .where('group_id', '=', groupId)
    .where('deleted', '=', dbBool(false))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Live groups of this host in one of `statuses`; with `expiredBefore`, only those whose lease ran out. */
export async function groupsInStatus(db: Db, hostName: string, statuses: readonly string[], expiredBefore?: string): Promise<GroupRow[]> {
  let q = db.selectFrom('groups').selectAll().where('deleted', '=', dbBool(false)).where('host', '=', hostName).where('status', 'in', [...statuses]);
  if (expiredBefore !== undefined) {
    q = q.where((eb) => eb.or([eb('lease_expires_at', '<', expiredBefore), eb.and([eb('lease_expires_at', 'is', null), eb('updated_at', '<', expiredBefore)])]));
  }
  return q.orderBy('created_at').execute();
}

// ---- group snapshots ----

export async function insertGroupSnapshot(db: Db, row: NewGroupSnapshot): Promise<void> {
  await db.insertInto('group_snapshots').values(row).execute();
}

export async function findGroupSnapshot(db: Db, id: string): Promise<GroupSnapshotRow | undefined> {
  return db.selectFrom('group_snapshots').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

export interface GroupSnapshotExpected {
  status?: readonly string[];
  /** No live group is being created from this group snapshot (db.group_creating_from_src). */
  notSourceOfCreating?: boolean;
}

export async function casGroupSnapshot(db: Db, id: string, values: GroupSnapshotChanges, expected: GroupSnapshotExpected = {}): Promise<boolean> {
  let q = db
    .updateTable('group_snapshots')
    .set({ ...values, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false));
  if (expected.status) q = q.where('status', 'in', [...expected.status]);
  if (expected.notSourceOfCreating) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('groups as g')
            .select('g.id')
            .whereRef('g.group_snapshot_id', '=', 'group_snapshots.id')
            .where('g.status', '=', 'creating')
            .where('g.deleted', '=', dbBool(false)),
        ),
      ),
    );
  }
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function softDeleteGroupSnapshot(db: Db, id: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('group_snapshots')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now, status: 'deleted', lease_expires_at: null })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export type GroupSnapshotSortKey = 'created_at' | 'updated_at' | 'id' | 'name' | 'status' | 'project_id' | 'group_id' | 'group_type_id' | 'description';

export interface ListGroupSnapshotsQuery {
  projectId: string | null;
  eq: Partial<Record<'name' | 'status' | 'group_id' | 'id' | 'group_type_id' | 'description' | 'project_id' | 'user_id', string>>;
  like: Partial<Record<'name' | 'status' | 'group_id', string>>;
  sort: { key: GroupSnapshotSortKey; dir: 'asc' | 'desc' }[];
  markerRow?: GroupSnapshotRow;
  limit?: number;
  offset?: number;
}

export async function listGroupSnapshots(db: Db, query: ListGroupSnapshotsQuery): Promise<GroupSnapshotRow[]> {
  let q = db.selectFrom('group_snapshots').selectAll().where('deleted', '=', dbBool(false));
  if (query.projectId !== null) q = q.where('project_id', '=', query.projectId);
  for (const [k, v] of Object.entries(query.eq)) if (v !== undefined) q = q.where(k as keyof GroupSnapshotsTable, '=', v);
  for (const [k, v] of Object.entries(query.like)) if (v !== undefined) q = q.where(k as keyof GroupSnapshotsTable, 'like', `%${v}%`);
  return paged(q, query).execute();
}

/** Live member snapshots of a group snapshot (Cinder's SnapshotList.get_all_for_group_snapshot). */
export async function snapshotsOfGroupSnapshot(db: Db, groupSnapshotId: string): Promise<SnapshotRow[]> {
  return db
    .selectFrom('snapshots')
    .selectAll()
    .where('group_snapshot_id', '=', groupSnapshotId)
    .where('deleted', '=', dbBool(false))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Live group snapshots of this host's groups in one of `statuses`; with `expiredBefore`, only expired leases. */
export async function groupSnapshotsInStatus(
  db: Db,
  hostName: string,
  statuses: readonly string[],
  expiredBefore?: string,
): Promise<(GroupSnapshotRow & { host: string | null })[]> {
  let q = db
    .selectFrom('group_snapshots as gs')
    .innerJoin('groups as g', 'g.id', 'gs.group_id')
    .selectAll('gs')
    .select('g.host as host')
    .where('gs.deleted', '=', dbBool(false))
    .where('g.host', '=', hostName)
    .where('gs.status', 'in', [...statuses]);
  if (expiredBefore !== undefined) {
    q = q.where((eb) =>
      eb.or([eb('gs.lease_expires_at', '<', expiredBefore), eb.and([eb('gs.lease_expires_at', 'is', null), eb('gs.updated_at', '<', expiredBefore)])]),
    );
  }
  return q.orderBy('gs.created_at').execute();
}
