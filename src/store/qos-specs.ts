// QoS specs, their keys, and their association with volume types (volume_types.qos_specs_id).
import type { Selectable } from 'kysely';
import { dbBool, nowTimestamp, type Db, type QosSpecsTable } from './schema.js';

export type QosSpecsRow = Selectable<QosSpecsTable>;

export interface QosSpecsRecord extends QosSpecsRow {
  specs: Record<string, string>;
}

async function withKeys(db: Db, rows: QosSpecsRow[]): Promise<QosSpecsRecord[]> {
  if (rows.length === 0) return [];
  const keys = await db
    .selectFrom('qos_specs_keys')
    .selectAll()
    .where(
      'qos_specs_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('key')
    .execute();
  const byId = new Map(rows.map((r) => [r.id, { ...r, specs: {} as Record<string, string> }]));
  for (const k of keys) byId.get(k.qos_specs_id)!.specs[k.key] = k.value;
  return [...byId.values()];
}

export async function findQosSpecs(db: Db, id: string): Promise<QosSpecsRecord | undefined> {
  const row = await db.selectFrom('qos_specs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await withKeys(db, [row]))[0] : undefined;
}

export async function findQosSpecsByName(db: Db, name: string): Promise<QosSpecsRow | undefined> {
  return db.selectFrom('qos_specs').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function listQosSpecs(db: Db, filters: { id?: string; name?: string; consumer?: string } = {}): Promise<QosSpecsRecord[]> {
  let q = db.selectFrom('qos_specs').selectAll();
  if (filters.id !== undefined) q = q.where('id', '=', filters.id);
  if (filters.name !== undefined) q = q.where('name', '=', filters.name);
  if (filters.consumer !== undefined) q = q.where('consumer', '=', filters.consumer);
  return withKeys(db, await q.orderBy('created_at').orderBy('id').execute());
}

export async function insertQosSpecs(db: Db, row: { id: string; name: string; consumer: string; specs: Record<string, string> }): Promise<void> {
  await db.insertInto('qos_specs').values({ id: row.id, name: row.name, consumer: row.consumer, created_at: nowTimestamp(), updated_at: null }).execute();
  await setQosKeys(db, row.id, row.specs);
}

export async function setQosKeys(db: Db, id: string, specs: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(specs)) {
    await db
      .insertInto('qos_specs_keys')
      .values({ qos_specs_id: id, key, value })
      .onConflict((oc) => oc.columns(['qos_specs_id', 'key']).doUpdateSet({ value }))
      .execute();
  }
}

export async function touchQosSpecs(db: Db, id: string, values: { consumer?: string } = {}): Promise<void> {
  await db
    .updateTable('qos_specs')
    .set({ ...(values.consumer !== undefined ? { consumer: values.consumer } : {}), updated_at: nowTimestamp() })
    .where('id', '=', id)
    .execute();
}

export async function deleteQosKey(db: Db, id: string, key: string): Promise<boolean> {
  const r = await db.deleteFrom('qos_specs_keys').where('qos_specs_id', '=', id).where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function deleteQosSpecs(db: Db, id: string): Promise<boolean> {
  await db.deleteFrom('qos_specs_keys').where('qos_specs_id', '=', id).execute();
  const r = await db.deleteFrom('qos_specs').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Live types associated with the spec. */
export async function typesOfQosSpecs(db: Db, id: string): Promise<{ id: string; name: string }[]> {
  return db
    .selectFrom('volume_types')
    .select(['id', 'name'])
    .where('qos_specs_id', '=', id)
    .where('deleted', '=', dbBool(false))
    .orderBy('name')
    .execute();
}

/** Sets (or with null clears) a type's association. */
export async function setTypeQosSpecs(db: Db, typeId: string, qosId: string | null): Promise<void> {
  await db.updateTable('volume_types').set({ qos_specs_id: qosId, updated_at: nowTimestamp() }).where('id', '=', typeId).execute();
}

export async function clearQosAssociations(db: Db, qosId: string, typeId?: string): Promise<string[]> {
  let q = db.selectFrom('volume_types').select('id').where('qos_specs_id', '=', qosId);
  if (typeId !== undefined) q = q.where('id', '=', typeId);
  const ids = (await q.execute()).map((r) => r.id);
  if (ids.length > 0) await db.updateTable('volume_types').set({ qos_specs_id: null }).where('id', 'in', ids).execute();
  return ids;
}

/** The QoS spec of a volume type, or undefined. */
export async function qosSpecsOfType(db: Db, typeId: string | null): Promise<QosSpecsRecord | undefined> {
  if (typeId === null) return undefined;
  const t = await db.selectFrom('volume_types').select('qos_specs_id').where('id', '=', typeId).executeTakeFirst();
  if (!t?.qos_specs_id) return undefined;
  return findQosSpecs(db, t.qos_specs_id);
}

/** Live volumes of these types that have an export (a QoS change must reach them). */
export async function exportedVolumesOfTypes(db: Db, typeIds: string[]) {
  if (typeIds.length === 0) return [];
  return db
    .selectFrom('volumes')
    .selectAll()
    .where('deleted', '=', dbBool(false))
    .where('volume_type_id', 'in', typeIds)
    .where('provider_location', 'is not', null)
    .execute();
}
