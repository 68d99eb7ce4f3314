// encryption: a volume type's encryption spec.
import type { Selectable } from 'kysely';
import type { Db } from './schema.js';
import type { EncryptionTable } from './schema.js';

export type EncryptionRow = Selectable<EncryptionTable>;

export async function findEncryption(db: Db, typeId: string): Promise<EncryptionRow | undefined> {
  return db.selectFrom('encryption').selectAll().where('volume_type_id', '=', typeId).executeTakeFirst();
}

/** False when the type already has a spec. */
export async function insertEncryption(db: Db, row: EncryptionRow): Promise<boolean> {
  const r = await db
    .insertInto('encryption')
    .values(row)
    .onConflict((oc) => oc.column('volume_type_id').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function updateEncryption(
  db: Db,
  typeId: string,
  values: Partial<Pick<EncryptionRow, 'provider' | 'cipher' | 'key_size' | 'control_location'>> & { updated_at: string },
): Promise<boolean> {
  const r = await db.updateTable('encryption').set(values).where('volume_type_id', '=', typeId).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteEncryption(db: Db, typeId: string): Promise<boolean> {
  const r = await db.deleteFrom('encryption').where('volume_type_id', '=', typeId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
