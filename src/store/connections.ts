// Pending connections: opened by os-initialize_connection, claimed by the next os-attach.
import type { Selectable } from 'kysely';
import type { Db } from './index.js';
import { nowTimestamp, type VolumeConnectionsTable } from './schema.js';

export type ConnectionRow = Selectable<VolumeConnectionsTable>;

/** Re-initialising from the same initiator refreshes its row instead of adding a second one. */
export async function recordPending(db: Db, volumeId: string, initiator: string, connectorJson: string): Promise<void> {
  const now = nowTimestamp();
  await db
    .insertInto('volume_connections')
    .values({ volume_id: volumeId, initiator, connector: connectorJson, created_at: now })
    .onConflict((oc) => oc.columns(['volume_id', 'initiator']).doUpdateSet({ connector: connectorJson, created_at: now }))
    .execute();
}

/** Removes and returns the most recent pending connection of the volume (the one os-attach belongs to). */
export async function claimNewest(db: Db, volumeId: string): Promise<ConnectionRow | undefined> {
  const row = await db
    .selectFrom('volume_connections')
    .selectAll()
    .where('volume_id', '=', volumeId)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (row) await dropPending(db, volumeId, row.initiator);
  return row;
}

export async function dropPending(db: Db, volumeId: string, initiator?: string): Promise<void> {
  let q = db.deleteFrom('volume_connections').where('volume_id', '=', volumeId);
  if (initiator !== undefined) q = q.where('initiator', '=', initiator);
  await q.execute();
}

export async function pendingFor(db: Db, volumeId: string): Promise<ConnectionRow[]> {
  return db.selectFrom('volume_connections').selectAll().where('volume_id', '=', volumeId).execute();
}
