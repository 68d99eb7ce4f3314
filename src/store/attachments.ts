// Attachment rows and Cinder's status derivation (docs/cinder-compatibility.md#status-derivation).
import type { Insertable, Selectable, Updateable } from 'kysely';
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

/** Volume status that a given attach_status stands for (docs/cinder-compatibility.md#status-derivation). */
export function statusFromAttachStatus(attachStatus: string): string {
  if (attachStatus === 'attached') return 'in-use';
  if (attachStatus === 'detached') return 'available';
  return attachStatus;
}

const MIGRATION_AT_REST: readonly (string | null)[] = [null, 'success', 'error', 'deleting'];

/**
 * As Cinder does (docs/cinder-compatibility.md#status-derivation): the alphabetically first attach_status of the live, non-error attachments decides the
 * volume's status and attach_status. Must run in the transaction that changed the attachment rows.
 */
export async function recomputeVolumeStatus(db: Db, volumeId: string): Promise<{ status: string; attachStatus: string }> {
  const rows = await db
    .selectFrom('volume_attachment')
    .select('attach_status')
    .where('volume_id', '=', volumeId)
    .where('deleted', '=', dbBool(false))
    .where('attach_status', 'not like', 'error_%')
    .orderBy('attach_status', 'asc')
    .limit(1)
    .execute();
  const attachStatus = rows[0]?.attach_status ?? 'detached';
  const status = statusFromAttachStatus(attachStatus);
  const vol = await db.selectFrom('volumes').select(['status', 'migration_status']).where('id', '=', volumeId).executeTakeFirst();
  const keepStatus =
    attachStatus === 'detached' && vol !== undefined && (vol.status === 'uploading' || !MIGRATION_AT_REST.includes(vol.migration_status));
  await db
    .updateTable('volumes')
    .set(keepStatus ? { attach_status: attachStatus, updated_at: nowTimestamp() } : { status, attach_status: attachStatus, updated_at: nowTimestamp() })
    .where('id', '=', volumeId)
    .execute();
  return { status: keepStatus ? vol!.status : status, attachStatus };
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
