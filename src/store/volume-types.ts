// Volume types and their extra specs.
import type { Selectable } from 'kysely';
import { dbBool, nowTimestamp, type VolumeTypesTable, type Db } from './schema.js';

export type TypeRow = Selectable<VolumeTypesTable>;

export async function findType(db: Db, id: string, opts: { includeDeleted?: boolean } = {}): Promise<TypeRow | undefined> {
  let q = db.selectFrom('volume_types').selectAll().where('id', '=', id);
  if (!opts.includeDeleted) q = q.where('deleted', '=', dbBool(false));
  return q.executeTakeFirst();
}

export async function findTypeByName(db: Db, name: string): Promise<TypeRow | undefined> {
  return db.selectFrom('volume_types').selectAll().where('name', '=', name).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

export async function listTypes(db: Db, opts: { publicOnly: boolean }): Promise<TypeRow[]> {
  let q = db.selectFrom('volume_types').selectAll().where('deleted', '=', dbBool(false));
  if (opts.publicOnly) q = q.where('is_public', '=', dbBool(true));
  return q.orderBy('created_at').orderBy('name').execute();
}

export async function insertType(db: Db, row: { id: string; name: string; description: string | null; isPublic: boolean }): Promise<void> {
  await db
    .insertInto('volume_types')
    .values({
      id: row.id,
      name: row.name,
      description: row.description,
      is_public: dbBool(row.isPublic),
      created_at: nowTimestamp(),
      updated_at: null,
      deleted_at: null,
      deleted: dbBool(false),
    })
    .execute();
}

export async function updateType(db: Db, id: string, values: { name?: string; description?: string | null; isPublic?: boolean }): Promise<void> {
  await db
    .updateTable('volume_types')
    .set({
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.description !== undefined ? { description: values.description } : {}),
      ...(values.isPublic !== undefined ? { is_public: dbBool(values.isPublic) } : {}),
      updated_at: nowTimestamp(),
    })
    .where('id', '=', id)
    .execute();
}

export async function softDeleteType(db: Db, id: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('volume_types')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  await db.deleteFrom('volume_type_extra_specs').where('volume_type_id', '=', id).execute();
  return Number(r.numUpdatedRows) > 0;
}

export async function getExtraSpecs(db: Db, typeIds: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const id of typeIds) out.set(id, {});
  if (typeIds.length === 0) return out;
  const rows = await db.selectFrom('volume_type_extra_specs').selectAll().where('volume_type_id', 'in', typeIds).orderBy('key').execute();
  for (const r of rows) out.get(r.volume_type_id)![r.key] = r.value;
  return out;
}

export async function setExtraSpecs(db: Db, typeId: string, specs: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(specs)) {
    await db
      .insertInto('volume_type_extra_specs')
      .values({ volume_type_id: typeId, key, value })
      .onConflict((oc) => oc.columns(['volume_type_id', 'key']).doUpdateSet({ value }))
      .execute();
  }
}

export async function deleteExtraSpec(db: Db, typeId: string, key: string): Promise<boolean> {
  const r = await db.deleteFrom('volume_type_extra_specs').where('volume_type_id', '=', typeId).where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
