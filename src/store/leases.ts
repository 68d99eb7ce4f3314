// Queries of the reconciler: rows whose lease ran out, rows of host tasks, what still needs an export.
import type { Db } from './index.js';
import { dbBool, toBool } from './schema.js';
import type { VolumeRow } from './volumes.js';
import type { AttachmentRow } from './attachments.js';

/** Live volumes of this host in one of `statuses`; with `expiredBefore`, only those whose lease ran out by then. */
export async function volumesInStatus(db: Db, hostName: string, statuses: readonly string[], expiredBefore?: string): Promise<VolumeRow[]> {
  let q = db
    .selectFrom('volumes')
    .selectAll()
    .where('deleted', '=', dbBool(false))
    .where('host', '=', hostName)
    .where('status', 'in', [...statuses]);
  if (expiredBefore !== undefined) {
    // A row from before leases existed has no deadline: its updated_at stands in for when it entered the state.
    q = q.where((eb) =>
      eb.or([
        eb('lease_expires_at', '<', expiredBefore),
        eb.and([eb('lease_expires_at', 'is', null), eb('updated_at', '<', expiredBefore)]),
      ]),
    );
  }
  return q.orderBy('created_at').execute();
}

/** Live attachments in an interim attach_status whose lease ran out, on volumes of this host. */
export async function expiredAttachments(db: Db, hostName: string, statuses: readonly string[], now: string): Promise<AttachmentRow[]> {
  return db
    .selectFrom('volume_attachment as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .selectAll('a')
    .where('a.deleted', '=', dbBool(false))
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .where('a.attach_status', 'in', [...statuses])
    .where('a.lease_expires_at', 'is not', null)
    .where('a.lease_expires_at', '<', now)
    .orderBy('a.created_at')
    .execute();
}

/** Ids of every volume row this database has ever had (soft-deleted ones included), among `ids`. */
export async function knownVolumeIds(db: Db, ids: string[]): Promise<Map<string, { deleted: boolean; status: string; updatedAt: string | null }>> {
  const out = new Map<string, { deleted: boolean; status: string; updatedAt: string | null }>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('volumes')
      .select(['id', 'deleted', 'status', 'updated_at'])
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(r.id, { deleted: toBool(r.deleted), status: r.status, updatedAt: r.updated_at });
  }
  return out;
}

/**
 * Live volumes of this host that need their export: a live non-error attachment or a pending connection.
 * (A new-style attachment that is only reserved has no connector yet and needs no export.)
 */
export async function volumesNeedingExport(db: Db, hostName: string): Promise<Set<string>> {
  const withAttachments = await db
    .selectFrom('volume_attachment as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .select('a.volume_id')
    .distinct()
    .where('a.deleted', '=', dbBool(false))
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .where('a.attach_status', 'not like', 'error_%')
    .where('a.attach_status', '<>', 'reserved')
    .execute();
  const withPending = await db
    .selectFrom('volume_connections as c')
    .innerJoin('volumes as v', 'v.id', 'c.volume_id')
    .select('c.volume_id')
    .distinct()
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .execute();
  return new Set([...withAttachments, ...withPending].map((r) => r.volume_id));
}
