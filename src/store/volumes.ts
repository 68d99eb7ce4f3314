// Volume rows: inserts, conditional updates (the lock), listing, key/value metadata.
import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import { dbBool, nowTimestamp, toBool, type DbBool, type VolumesTable, type Db } from './schema.js';
import type { AttachmentRow } from './attachments.js';

export type VolumeRow = Selectable<VolumesTable>;
export type NewVolume = Insertable<VolumesTable>;
export type VolumeChanges = Updateable<VolumesTable>;

/** The WHERE part of a compare-and-swap. Every given field must match for the row to change. */
export interface Expected {
  status?: readonly string[];
  statusNot?: readonly string[];
  attachStatus?: readonly string[];
  attachStatusNot?: readonly string[];
  multiattach?: boolean;
  /** Matches NULL when the list contains null. */
  migrationStatus?: readonly (string | null)[];
  /** The volume has no live snapshot (Cinder's volume_has_snapshots_filter). */
  noSnapshots?: boolean;
  /** Every live snapshot of the volume is in one of these statuses (volume_has_undeletable_snapshots_filter). */
  snapshotsIn?: readonly string[];
  /** No live snapshot of the volume belongs to a group snapshot (it goes only with its group snapshot). */
  noGroupSnapshotMembers?: boolean;
  /** The volume's group_id is this one (null: the volume is in no group). */
  groupId?: string | null;
}

export async function insertVolume(db: Db, row: NewVolume): Promise<void> {
  await db.insertInto('volumes').values(row).execute();
}

/** Volume row including soft-deleted ones: the history of a deleted volume stays readable. */
export async function findVolumeEvenDeleted(db: Db, id: string): Promise<Pick<VolumeRow, 'project_id' | 'deleted'> | undefined> {
  return db.selectFrom('volumes').select(['project_id', 'deleted']).where('id', '=', id).executeTakeFirst();
}

export async function findVolume(db: Db, id: string): Promise<VolumeRow | undefined> {
  return db.selectFrom('volumes').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false)).executeTakeFirst();
}

/**
 * One `UPDATE volumes SET ... WHERE id=? AND <expected>`: the only way the workflow claims a state.
 * Returns whether the row changed; callers turn false into the client's 400.
 */
export async function casVolume(db: Db, id: string, values: VolumeChanges, expected: Expected): Promise<boolean> {
  let q = db
    .updateTable('volumes')
    .set({ ...values, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false));
  if (expected.status) q = q.where('status', 'in', [...expected.status]);
  if (expected.statusNot) q = q.where('status', 'not in', [...expected.statusNot]);
  if (expected.attachStatus) q = q.where('attach_status', 'in', [...expected.attachStatus]);
  if (expected.attachStatusNot) q = q.where('attach_status', 'not in', [...expected.attachStatusNot]);
  if (expected.multiattach !== undefined) q = q.where('multiattach', '=', dbBool(expected.multiattach));
  if (expected.migrationStatus) {
    const values = expected.migrationStatus.filter((s): s is string => s !== null);
    const allowNull = expected.migrationStatus.includes(null);
    q = q.where((eb) => {
      const ors = [];
      if (values.length) ors.push(eb('migration_status', 'in', values));
      if (allowNull) ors.push(eb('migration_status', 'is', null));
      return eb.or(ors);
    });
  }
  if (expected.noGroupSnapshotMembers) {
    q = q.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('snapshots as gm')
            .select('gm.id')
            .whereRef('gm.volume_id', '=', 'volumes.id')
            .where('gm.deleted', '=', dbBool(false))
            .where('gm.group_snapshot_id', 'is not', null),
        ),
      ),
    );
  }
  if (expected.groupId === null) q = q.where('group_id', 'is', null);
  else if (expected.groupId !== undefined) q = q.where('group_id', '=', expected.groupId);
  if (expected.noSnapshots || expected.snapshotsIn) {
    const allowed = expected.noSnapshots ? [] : [...(expected.snapshotsIn ?? [])];
    q = q.where(({ not, exists, selectFrom }) => {
      let sub = selectFrom('snapshots as s').select('s.id').whereRef('s.volume_id', '=', 'volumes.id').where('s.deleted', '=', dbBool(false));
      if (allowed.length > 0) sub = sub.where('s.status', 'not in', allowed);
      return not(exists(sub));
    });
  }
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** os-unreserve's write: attaching -> in-use when a live attachment exists, else available; one statement. */
export async function unreserve(db: Db, id: string): Promise<boolean> {
  const r = await db
    .updateTable('volumes')
    .set({
      status: sql<string>`CASE WHEN EXISTS (SELECT 1 FROM volume_attachment a WHERE a.volume_id = volumes.id AND a.deleted = ${dbBool(false)} AND a.attach_status <> 'detached') THEN 'in-use' ELSE 'available' END`,
      updated_at: nowTimestamp(),
    })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .where('status', '=', 'attaching')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * os-attach's precondition as one swap to in-use/attached: not in a `refused` status, and a volume that is
 * not multiattach must not be in use already unless it is migrating (migration_status outside `migrationAtRest`).
 */
export async function claimForAttach(
  db: Db,
  id: string,
  opts: { refused: readonly string[]; migrationAtRest: readonly (string | null)[] },
): Promise<boolean> {
  const atRest = opts.migrationAtRest.filter((s): s is string => s !== null);
  const r = await db
    .updateTable('volumes')
    .set({ status: 'in-use', attach_status: 'attached', updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .where('status', 'not in', [...opts.refused])
    .where((eb) =>
      eb.or([
        eb('multiattach', '=', dbBool(true)),
        eb('status', '<>', 'in-use'),
        eb.and([eb('migration_status', 'is not', null), eb('migration_status', 'not in', atRest)]),
      ]),
    )
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * What tracked() (workflow/events.ts) compares before and after a step: the volume's state and its live attachments'.
 * Also what the export bookkeeping asks first (is there an export, does a live attachment still use it).
 */
export interface TransitionState {
  volume: { status: string; attachStatus: string; deleted: boolean; leaseExpiresAt: string | null; providerLocation: string | null } | undefined;
  /** The live attachment rows by id, oldest first (as attachments.liveAttachments orders them). */
  attachments: Map<string, AttachmentRow>;
}

/**
 * The volume and its live attachments in one statement (a volume row that is gone has no live attachments:
 * volume_id references it). Written as kysely's sql template, not with the query builder: it runs two to four
 * times per attach or detach call, and building this join with the builder cost more than running it.
 */
export async function transitionState(db: Db, volumeId: string): Promise<TransitionState> {
  const { rows } = await sql<TransitionRow>`select v.status as v_status, v.attach_status as v_attach_status, v.deleted as v_deleted,
    v.lease_expires_at as v_lease, v.provider_location as v_location, a.*
    from volumes v left join volume_attachment a on a.volume_id = v.id and a.deleted = ${dbBool(false)}
    where v.id = ${volumeId} order by a.created_at, a.id`.execute(db);
  const attachments = new Map<string, AttachmentRow>();
  for (const { v_status, v_attach_status, v_deleted, v_lease, v_location, ...a } of rows) if (a.id !== null) attachments.set(a.id, a as AttachmentRow);
  const v = rows[0];
  return {
    volume: v
      ? { status: v.v_status, attachStatus: v.v_attach_status, deleted: toBool(v.v_deleted), leaseExpiresAt: v.v_lease, providerLocation: v.v_location }
      : undefined,
    attachments,
  };
}

/** The volume's columns under v_ names, then the attachment's own (all null when the volume has none). */
type TransitionRow = { v_status: string; v_attach_status: string; v_deleted: DbBool; v_lease: string | null; v_location: string | null } & (
  | AttachmentRow
  | { id: null }
);

/** The deadline of the volume's interim state (null: none). Written without touching updated_at. */
export async function setLease(db: Db, id: string, leaseExpiresAt: string | null): Promise<void> {
  await db.updateTable('volumes').set({ lease_expires_at: leaseExpiresAt }).where('id', '=', id).execute();
}

/** Moves the deadline of the volume's interim state on while the volume is still in `status` (a client made progress). */
export async function renewLease(db: Db, id: string, status: string, leaseExpiresAt: string): Promise<boolean> {
  const r = await db
    .updateTable('volumes')
    .set({ lease_expires_at: leaseExpiresAt })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .where('status', '=', status)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A deleted volume keeps no lease and no pending extend. */
export async function clearInterimState(db: Db, id: string): Promise<void> {
  await db.updateTable('volumes').set({ lease_expires_at: null, pending_size: null }).where('id', '=', id).execute();
}

/** Unconditional update of fields the caller already owns (after a successful CAS, or admin reset). */
export async function updateVolume(db: Db, id: string, values: VolumeChanges): Promise<void> {
  await db
    .updateTable('volumes')
    .set({ ...values, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .execute();
}

export async function softDeleteVolume(db: Db, id: string): Promise<void> {
  const now = nowTimestamp();
  await db
    .updateTable('volumes')
    .set({ deleted: dbBool(true), deleted_at: now, updated_at: now, status: 'deleted', attach_status: 'detached' })
    .where('id', '=', id)
    .execute();
}

export type SortKey = 'created_at' | 'updated_at' | 'id' | 'name' | 'status' | 'size' | 'availability_zone' | 'bootable';

export async function volumesUsingType(db: Db, typeId: string): Promise<number> {
  const r = await db
    .selectFrom('volumes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('deleted', '=', dbBool(false))
    .where('volume_type_id', '=', typeId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Volumes that may need their export back after a restart (docs/cinder-compatibility.md#export-restore, improved: not only in-use). */
export async function exportedVolumes(db: Db, hostName: string): Promise<VolumeRow[]> {
  return db
    .selectFrom('volumes')
    .selectAll()
    .where('deleted', '=', dbBool(false))
    .where('host', '=', hostName)
    .where('provider_location', 'is not', null)
    .execute();
}

export type MetadataTable = 'volume_metadata' | 'volume_admin_metadata';

export async function getMetadata(db: Db, table: MetadataTable, volumeIds: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const id of volumeIds) out.set(id, {});
  if (volumeIds.length === 0) return out;
  const rows = await db.selectFrom(table).selectAll().where('volume_id', 'in', volumeIds).orderBy('key').execute();
  for (const r of rows) out.get(r.volume_id)![r.key] = r.value;
  return out;
}

export async function setMetadataItems(db: Db, table: MetadataTable, volumeId: string, items: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(items)) {
    await db
      .insertInto(table)
      .values({ volume_id: volumeId, key, value })
      .onConflict((oc) => oc.columns(['volume_id', 'key']).doUpdateSet({ value }))
      .execute();
  }
}

/** Inserts the key only when absent; returns the value now stored (Cinder's update=False admin metadata write). */
export async function setMetadataDefault(db: Db, table: MetadataTable, volumeId: string, key: string, value: string): Promise<string> {
  await db
    .insertInto(table)
    .values({ volume_id: volumeId, key, value })
    .onConflict((oc) => oc.columns(['volume_id', 'key']).doNothing())
    .execute();
  const r = await db.selectFrom(table).select('value').where('volume_id', '=', volumeId).where('key', '=', key).executeTakeFirstOrThrow();
  return r.value;
}

export async function replaceMetadata(db: Db, table: MetadataTable, volumeId: string, items: Record<string, string>): Promise<void> {
  await db.deleteFrom(table).where('volume_id', '=', volumeId).execute();
  await setMetadataItems(db, table, volumeId, items);
}

export async function deleteMetadataKey(db: Db, table: MetadataTable, volumeId: string, key: string): Promise<void> {
  await db.deleteFrom(table).where('volume_id', '=', volumeId).where('key', '=', key).execute();
}

/**
 * Stores provider_auth only if the volume has none yet, and returns what is stored now. Concurrent first
 * connections of a multiattach volume thereby agree on one set of CHAP credentials.
 */
export async function claimProviderAuth(db: Db, id: string, providerAuth: string): Promise<string | null> {
  await db
    .updateTable('volumes')
    .set({ provider_auth: providerAuth, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .where('provider_auth', 'is', null)
    .execute();
  const r = await db.selectFrom('volumes').select('provider_auth').where('id', '=', id).executeTakeFirst();
  return r?.provider_auth ?? null;
}

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

/** Which part of the volumes volumesNeedingExport looks at: all, those after `afterId` (at most `limit`), or `ids`. */
export interface ExportNeedsWindow {
  afterId?: string;
  limit?: number;
  ids?: readonly string[];
}

/**
 * Live volumes of this host that need their export: a live non-error attachment or a pending connection.
 * (A new-style attachment that is only reserved has no connector yet and needs no export.) Ids in ascending
 * order, each with whether its row names an export (provider_location), limited to `window`: the reconciler's
 * periodic pass walks them a window at a time instead of reading every attached volume each pass.
 */
export async function volumesNeedingExport(db: Db, hostName: string, window: ExportNeedsWindow = {}): Promise<Map<string, { exported: boolean }>> {
  if (window.ids && window.ids.length === 0) return new Map();
  let withAttachments = db
    .selectFrom('volume_attachment as a')
    .innerJoin('volumes as v', 'v.id', 'a.volume_id')
    .select(['a.volume_id', 'v.provider_location'])
    .distinct()
    .where('a.deleted', '=', dbBool(false))
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName)
    .where('a.attach_status', 'not like', 'error_%')
    .where('a.attach_status', '<>', 'reserved');
  let withPending = db
    .selectFrom('volume_connections as c')
    .innerJoin('volumes as v', 'v.id', 'c.volume_id')
    .select(['c.volume_id', 'v.provider_location'])
    .distinct()
    .where('v.deleted', '=', dbBool(false))
    .where('v.host', '=', hostName);
  if (window.ids) {
    withAttachments = withAttachments.where('a.volume_id', 'in', [...window.ids]);
    withPending = withPending.where('c.volume_id', 'in', [...window.ids]);
  }
  if (window.afterId !== undefined) {
    withAttachments = withAttachments.where('a.volume_id', '>', window.afterId);
    withPending = withPending.where('c.volume_id', '>', window.afterId);
  }
  if (window.limit !== undefined) {
    withAttachments = withAttachments.orderBy('a.volume_id').limit(window.limit);
    withPending = withPending.orderBy('c.volume_id').limit(window.limit);
  }
  const rows = [...(await withAttachments.execute()), ...(await withPending.execute())].sort((x, y) => (x.volume_id < y.volume_id ? -1 : x.volume_id > y.volume_id ? 1 : 0));
  const out = new Map<string, { exported: boolean }>();
  for (const r of rows) {
    if (window.limit !== undefined && out.size >= window.limit && !out.has(r.volume_id)) break;
    out.set(r.volume_id, { exported: r.provider_location !== null });
  }
  return out;
}
