// Pending connections: opened by os-initialize_connection, claimed by the next os-attach.
import type { Selectable } from 'kysely';
import { dbBool, nowTimestamp, type VolumeConnectionsTable, type Db } from './schema.js';

export type ConnectionRow = Selectable<VolumeConnectionsTable>;

/** Volume statuses in which no attach can follow, so a pending connection would be an orphan row. */
const NO_PENDING_STATUSES = ['creating', 'deleting', 'error_deleting', 'deleted'];

/**
 * Re-initialising from the same initiator refreshes its row instead of adding a second one. One statement:
 * the row is written only while the volume is live and not being created or deleted (a delete that raced
 * the initialize must not be left with a connection nothing will claim). Returns whether it was recorded.
 */
export async function recordPending(db: Db, volumeId: string, initiator: string, connectorJson: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .insertInto('volume_connections')
    .columns(['volume_id', 'initiator', 'connector', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('volumes')
        .select([eb.val(volumeId).as('volume_id'), eb.val(initiator).as('initiator'), eb.val(connectorJson).as('connector'), eb.val(now).as('created_at')])
        .where('id', '=', volumeId)
        .where('deleted', '=', dbBool(false))
        .where('status', 'not in', NO_PENDING_STATUSES),
    )
    .onConflict((oc) => oc.columns(['volume_id', 'initiator']).doUpdateSet({ connector: connectorJson, created_at: now }))
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Pending connections older than `before` (their attach never came): the reconciler drops them. */
export async function stalePending(db: Db, before: string): Promise<ConnectionRow[]> {
  return db.selectFrom('volume_connections').selectAll().where('created_at', '<', before).execute();
}

/** Removes and returns the most recent pending connection of the volume (the one os-attach belongs to), in one statement. */
export async function claimNewest(db: Db, volumeId: string): Promise<ConnectionRow | undefined> {
  return db
    .deleteFrom('volume_connections')
    .where('volume_id', '=', volumeId)
    .where('initiator', '=', (eb) =>
      eb.selectFrom('volume_connections').select('initiator').where('volume_id', '=', volumeId).orderBy('created_at', 'desc').limit(1),
    )
    .returningAll()
    .executeTakeFirst();
}

export async function dropPending(db: Db, volumeId: string, initiator?: string): Promise<void> {
  let q = db.deleteFrom('volume_connections').where('volume_id', '=', volumeId);
  if (initiator !== undefined) q = q.where('initiator', '=', initiator);
  await q.execute();
}

export async function pendingFor(db: Db, volumeId: string): Promise<ConnectionRow[]> {
  return db.selectFrom('volume_connections').selectAll().where('volume_id', '=', volumeId).execute();
}
