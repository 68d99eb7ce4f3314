// The event history: one row per state transition of a volume or an attachment (who, what, from, to, when).
// Rows are written in the transaction that made the transition, so history and state never disagree.
import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { nowTimestamp, type VolumeEventsTable, type Db } from './schema.js';

export type EventRow = Selectable<VolumeEventsTable>;

export interface NewEvent {
  volumeId: string;
  resourceType: 'volume' | 'attachment';
  resourceId: string;
  action: string;
  from: string | null;
  to: string | null;
  userId: string | null;
  projectId: string | null;
  requestId: string | null;
  reason?: string | null;
}

/**
 * Numbers each volume's events from its last one onwards (seq is the position in the volume's history), in the
 * INSERT itself: the n-th row of a volume gets the highest number of that volume before the statement plus n
 * (volume_events_volume_seq). Correct because every writer of a volume's events holds the volume (a serializable
 * transaction, or Store.volumeTransaction). Each history is numbered on its own, so steps on different volumes
 * read nothing here that the other writes (a global max(seq)+1 made every two concurrent steps conflict on
 * PostgreSQL).
 */
export async function insertEvents(db: Db, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const now = nowTimestamp();
  const nth = new Map<string, number>();
  await db
    .insertInto('volume_events')
    .values(
      events.map((e) => {
        const n = (nth.get(e.volumeId) ?? 0) + 1;
        nth.set(e.volumeId, n);
        return {
          id: randomUUID(),
          seq: sql<number>`(select coalesce(max(seq), 0) + ${sql.lit(n)} from volume_events where volume_id = ${e.volumeId})`,
          volume_id: e.volumeId,
          resource_type: e.resourceType,
          resource_id: e.resourceId,
          action: e.action,
          from_status: e.from,
          to_status: e.to,
          user_id: e.userId,
          project_id: e.projectId,
          request_id: e.requestId,
          reason: e.reason ? e.reason.slice(0, 1024) : null,
          created_at: now,
        };
      }),
    )
    .execute();
}

/** A volume's history (its own transitions and its attachments'), oldest first. */
export async function eventsFor(db: Db, volumeId: string, opts: { limit?: number } = {}): Promise<EventRow[]> {
  let q = db.selectFrom('volume_events').selectAll().where('volume_id', '=', volumeId).orderBy('seq', 'asc');
  if (opts.limit !== undefined) q = q.limit(opts.limit);
  return q.execute();
}

/** The newest event of a volume (volume_events_volume_seq). */
export async function lastEvent(db: Db, volumeId: string): Promise<EventRow | undefined> {
  return db.selectFrom('volume_events').selectAll().where('volume_id', '=', volumeId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
}
