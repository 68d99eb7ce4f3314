// Attachment rows and Cinder's status derivation (docs/cinder-compatibility.md#status-derivation).
import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import { dbBool, nowTimestamp, type VolumeAttachmentTable, type Db } from './schema.js';
import { paged } from './paging.js';

export type AttachmentRow = Selectable<VolumeAttachmentTable>;
export type NewAttachment = Insertable<VolumeAttachmentTable>;

export async function insertAttachment(db: Db, row: NewAttachment): Promise<void> {
  await db.insertInto('volume_attachment').values(row).execute();
}

export async function updateAttachment(db: Db, id: string, values: Updateable<VolumeAttachmentTable>): Promise<void> {
  await db.updateTable('volume_attachment').set({ ...values, updated_at: nowTimestamp() }).where('id', '=', id).execute();
}

/** Live (not soft-deleted) attachment rows of the given volumes, oldest first. */
export async function liveAttachments(db: Db, volumeIds: string[]): Promise<AttachmentRow[]> {
  if (volumeIds.length === 0) return [];
  return db
    .selectFrom('volume_attachment')
    .selectAll()
    .where('volume_id', 'in', volumeIds)
    .where('deleted', '=', dbBool(false))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function findLiveAttachment(db: Db, id: string): Promise<AttachmentRow | undefined> {
  return db.selectFrom('volume_attachment').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

/** The row whatever its state: what a just-deleted attachment was connected through. */
export async function findAttachmentEvenDeleted(db: Db, id: string): Promise<AttachmentRow | undefined> {
  return db.selectFrom('volume_attachment').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The deadline of the attachment's interim attach_status (null: none). Written without touching updated_at. */
export async function setLease(db: Db, id: string, leaseExpiresAt: string | null): Promise<void> {
  await db.updateTable('volume_attachment').set({ lease_expires_at: leaseExpiresAt }).where('id', '=', id).execute();
}

/** Soft delete as Cinder's VolumeAttachment.delete_values: deleted, detached, detach_time. */
export async function softDeleteAttachment(db: Db, id: string): Promise<void> {
  const now = nowTimestamp();
  await db
    .updateTable('volume_attachment')
    .set({ deleted: dbBool(true), deleted_at: now, detach_time: now, updated_at: now, attach_status: 'detached' })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .execute();
}

const MIGRATION_AT_REST: readonly (string | null)[] = [null, 'success', 'error', 'deleting'];

/**
 * As Cinder does (docs/cinder-compatibility.md#status-derivation): the alphabetically first attach_status of the live, non-error attachments decides the
 * volume's status and attach_status. Must run in the transaction that changed the attachment rows.
 */
export async function recomputeVolumeStatus(db: Db, volumeId: string): Promise<{ status: string; attachStatus: string }> {
  // One UPDATE (the SET expressions see the row as it was): attach_status is the first live non-error
  // attach_status, or 'detached'; status follows it (attached: in-use, detached: available, else the same
  // word), except that a volume left with none keeps its status while uploading or migrating.
  const first = sql<string>`coalesce((select a.attach_status from volume_attachment a where a.volume_id = volumes.id and a.deleted = ${dbBool(false)} and a.attach_status not like 'error_%' order by a.attach_status asc limit 1), 'detached')`;
  const atRest = MIGRATION_AT_REST.filter((s): s is string => s !== null);
  const keepStatus = sql<boolean>`status = 'uploading' or not (migration_status is null or migration_status in (${sql.join(atRest)}))`;
  const r = await db
    .updateTable('volumes')
    .set({
      attach_status: first,
      status: sql<string>`case ${first} when 'attached' then 'in-use' when 'detached' then (case when ${keepStatus} then status else 'available' end) else ${first} end`,
      updated_at: nowTimestamp(),
    })
    .where('id', '=', volumeId)
    .returning(['status', 'attach_status'])
    .executeTakeFirst();
  // No such volume: no attachment can name it either (volume_id references it).
  return r ? { status: r.status, attachStatus: r.attach_status } : { status: 'available', attachStatus: 'detached' };
}

export type AttachmentSortKey = 'created_at' | 'updated_at' | 'id' | 'attach_status' | 'volume_id' | 'instance_uuid' | 'attach_time';

export interface ListAttachmentsQuery {
  /** null: every project (admin all_tenants). */
  projectId: string | null;
  volumeId?: string;
  attachStatus?: string;
  instanceUuid?: string;
  sort: { key: AttachmentSortKey; dir: 'asc' | 'desc' }[];
  /** Rows strictly after the marker attachment in the sort order. */
  markerRow?: AttachmentRow;
  limit?: number;
  offset?: number;
}

/** Live attachments, scoped to a project through their volume (attachments carry no project of their own). */
export async function listAttachments(db: Db, query: ListAttachmentsQuery): Promise<AttachmentRow[]> {
  let q = db
    .selectFrom('volume_attachment as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .selectAll('a')
    .where('a.deleted', '=', dbBool(false))
    .where('v.deleted', '=', dbBool(false));
  if (query.projectId !== null) q = q.where('v.project_id', '=', query.projectId);
  if (query.volumeId !== undefined) q = q.where('a.volume_id', '=', query.volumeId);
  if (query.attachStatus !== undefined) q = q.where('a.attach_status', '=', query.attachStatus);
  if (query.instanceUuid !== undefined) q = q.where('a.instance_uuid', '=', query.instanceUuid);
  return paged(q, query, 'a').execute();
}

/** Live attachments in an interim attach_status whose lease ran out, on volumes of this host. */
export async function expiredAttachments(db: Db, hostName: string, statuses: readonly string[], now: string): Promise<AttachmentRow[]> {
  return db
    .selectFrom('volume_attachment as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .selectAll('a')
    .where('a.deleted', '=', dbBool(false))
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .where('a.attach_status', 'in', [...statuses])
    .where('a.lease_expires_at', 'is not', null)
    .where('a.lease_expires_at', '<', now)
    .orderBy('a.created_at')
    .execute();
}
