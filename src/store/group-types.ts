// Group type rows and their specs (Cinder's group_types, group_type_specs).
import type { Selectable } from 'kysely';
import { dbBool, nowTimestamp, type Db, type GroupTypesTable } from './schema.js';
import { paged } from './paging.js';

export type GroupTypeRow = Selectable<GroupTypesTable>;

export async function insertGroupType(db: Db, row: { id: string; name: string; description: string | null; isPublic: boolean }): Promise<void> {
  await db
    .insertInto('group_types')
    .values({ id: row.id, name: row.name, description: row.description, is_public: dbBool(row.isPublic), created_at: nowTimestamp(), updated_at: null, deleted_at: null, deleted: dbBool(false) })
    .execute();
}

export async function findGroupType(db: Db, id: string): Promise<GroupTypeRow | undefined> {
  return db.selectFrom('group_types').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

export async function findGroupTypeByName(db: Db, name: string): Promise<GroupTypeRow | undefined> {
  return db.selectFrom('group_types').selectAll().where('name', '=', name).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

export async function listGroupTypes(
  db: Db,
  q: { isPublic?: boolean; sort: { key: 'created_at' | 'id' | 'name'; dir: 'asc' | 'desc' }[]; markerRow?: GroupTypeRow; limit?: number; offset?: number },
): Promise<GroupTypeRow[]> {
  let query = db.selectFrom('group_types').selectAll().where('deleted', '=', dbBool(false));
  if (q.isPublic !== undefined) query = query.where('is_public', '=', dbBool(q.isPublic));
  return paged(query, q).execute();
}

export async function updateGroupType(db: Db, id: string, values: { name?: string; description?: string | null; isPublic?: boolean }): Promise<boolean> {
  const set: Record<string, unknown> = { updated_at: nowTimestamp() };
  if (values.name !== undefined) set.name = values.name;
  if (values.description !== undefined) set.description = values.description;
  if (values.isPublic !== undefined) set.is_public = dbBool(values.isPublic);
  const r = await db.updateTable('group_types').set(set).where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function softDeleteGroupType(db: Db, id: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('group_types')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function getSpecs(db: Db, ids: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const id of ids) out.set(id, {});
  if (ids.length === 0) return out;
  const rows = await db.selectFrom('group_type_specs').selectAll().where('group_type_id', 'in', ids).orderBy('key').execute();
  for (const r of rows) out.get(r.group_type_id)![r.key] = r.value;
  return out;
}

export async function setSpecs(db: Db, id: string, specs: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(specs)) {
    await db
      .insertInto('group_type_specs')
      .values({ group_type_id: id, key, value })
      .onConflict((oc) => oc.columns(['group_type_id', 'key']).doUpdateSet({ value }))
      .execute();
  }
}

export async function deleteSpec(db: Db, id: string, key: string): Promise<boolean> {
  const r = await db.deleteFrom('group_type_specs').where('group_type_id', '=', id).where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
