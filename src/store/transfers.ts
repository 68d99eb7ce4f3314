// Volume transfer offers. A row is soft-deleted when the offer is withdrawn or accepted (accepted = 1 then).
import type { Insertable, Selectable } from 'kysely';
import { dbBool, nowTimestamp, type Db, type TransfersTable } from './schema.js';
import { paged } from './paging.js';

export type TransferRow = Selectable<TransfersTable>;

export async function insertTransfer(db: Db, row: Insertable<TransfersTable>): Promise<void> {
  await db.insertInto('transfers').values(row).execute();
}

/** A live transfer: neither withdrawn nor accepted, and its volume not deleted (an admin may force-delete it). */
function live(db: Db) {
  return db
    .selectFrom('transfers')
    .selectAll('transfers')
    .where('transfers.deleted', '=', dbBool(false))
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('volumes as v').select('v.id').whereRef('v.id', '=', 'transfers.volume_id').where('v.deleted', '=', dbBool(false))),
    );
}

export async function findTransfer(db: Db, id: string): Promise<TransferRow | undefined> {
  return live(db).where('transfers.id', '=', id).executeTakeFirst();
}

export type TransferSortKey = 'created_at' | 'id' | 'display_name' | 'volume_id';

export interface ListTransfersQuery {
  /** null: every project (admin all_tenants). */
  projectId: string | null;
  name?: string;
  sort: { key: TransferSortKey; dir: 'asc' | 'desc' }[];
  /** Rows strictly after this transfer in the sort order. */
  markerRow?: TransferRow;
  limit?: number;
  offset?: number;
}

export async function listTransfers(db: Db, q: ListTransfersQuery): Promise<TransferRow[]> {
  let s = live(db);
  if (q.projectId !== null) s = s.where('transfers.source_project_id', '=', q.projectId);
  if (q.name !== undefined) s = s.where('transfers.display_name', '=', q.name);
  return paged(s, q, 'transfers').execute();
}

/** Ends a live transfer (withdrawn, or accepted into `destination`); false when it was already gone. */
export async function closeTransfer(db: Db, id: string, accepted: { destinationProjectId: string } | null): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('transfers')
    .set({
      deleted: dbBool(true),
      deleted_at: now,
      ...(accepted ? { accepted: dbBool(true), destination_project_id: accepted.destinationProjectId } : {}),
    })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Live transfers of one volume (at most one while it is awaiting-transfer). */
export async function transfersOfVolume(db: Db, volumeId: string): Promise<TransferRow[]> {
  return db.selectFrom('transfers').selectAll().where('volume_id', '=', volumeId).where('deleted', '=', dbBool(false)).execute();
}
