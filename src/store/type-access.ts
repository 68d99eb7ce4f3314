// volume_type_projects: which projects may see and use a private volume type.
import type { Db } from './schema.js';
import { nowTimestamp } from './schema.js';

export async function listProjects(db: Db, typeId: string): Promise<string[]> {
  const rows = await db.selectFrom('volume_type_projects').select('project_id').where('volume_type_id', '=', typeId).orderBy('created_at').orderBy('project_id').execute();
  return rows.map((r) => r.project_id);
}

export async function hasAccess(db: Db, typeId: string, projectId: string): Promise<boolean> {
  const row = await db
    .selectFrom('volume_type_projects')
    .select('project_id')
    .where('volume_type_id', '=', typeId)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Type ids the project was given access to. */
export async function typesOfProject(db: Db, projectId: string): Promise<string[]> {
  const rows = await db.selectFrom('volume_type_projects').select('volume_type_id').where('project_id', '=', projectId).execute();
  return rows.map((r) => r.volume_type_id);
}

/** False when the pair already exists (the primary key decides, so two concurrent adds cannot both succeed). */
export async function addAccess(db: Db, typeId: string, projectId: string): Promise<boolean> {
  const r = await db
    .insertInto('volume_type_projects')
    .values({ volume_type_id: typeId, project_id: projectId, created_at: nowTimestamp() })
    .onConflict((oc) => oc.columns(['volume_type_id', 'project_id']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function removeAccess(db: Db, typeId: string, projectId: string): Promise<boolean> {
  const r = await db.deleteFrom('volume_type_projects').where('volume_type_id', '=', typeId).where('project_id', '=', projectId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function removeAllAccess(db: Db, typeId: string): Promise<void> {
  await db.deleteFrom('volume_type_projects').where('volume_type_id', '=', typeId).execute();
}
