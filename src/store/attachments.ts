// Attachment rows and the status derivation of reference 1.4.
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './index.js';
import { dbBool, nowTimestamp, type VolumeAttachmentTable } from './schema.js';

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

/** Live attachments other than `exceptId` that came through `initiator` (they keep its ACL entry alive). */
export async function countLiveUsingInitiator(db: Db, volumeId: string, initiator: string, exceptId?: string): Promise<number> {
  let q = db
    .selectFrom('volume_attachment')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('volume_id', '=', volumeId)
    .where('deleted', '=', dbBool(false))
    .where('initiator', '=', initiator)
    .where('attach_status', 'not like', 'error_%');
  if (exceptId) q = q.where('id', '<>', exceptId);
  const r = await q.executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Volume status that a given attach_status stands for (reference 1.4 step 3). */
export function statusFromAttachStatus(attachStatus: string): string {
  if (attachStatus === 'attached') return 'in-use';
  if (attachStatus === 'detached') return 'available';
  return attachStatus;
}

const MIGRATION_AT_REST: readonly (string | null)[] = [null, 'success', 'error', 'deleting'];

/**
 * Reference 1.4: the alphabetically first attach_status of the live, non-error attachments decides the
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
