// Snapshots (cinder/api/v3/snapshots.py, volume/api.py create_snapshot / delete_snapshot / revert_to_snapshot,
// api/contrib/snapshot_actions.py, admin_actions.py) and the copy source of a new volume.
// Every precondition is one conditional UPDATE; the bytes are made by host tasks (snapshot-tasks.ts).
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import * as volumes from '../store/volumes.js';
import * as snapshots from '../store/snapshots.js';
import type { Transaction } from 'kysely';
import { dbBool, nowTimestamp, type Database, type Db } from '../store/schema.js';
import type { Deps } from './deps.js';
import { MIGRATION_AT_REST } from './states.js';
import { loadRow } from './loader.js';
import { canSeeProject, requireAdmin, requireMember } from './policy.js';
import { actorOf, tracked } from './events.js';
import { markerNotFound, pageLimit, resolveSort, splitPage } from './paging.js';
import { snapshotLease, snapshotTasks } from './snapshot-tasks.js';
import type { CreateSnapshotRequest, ListSnapshotsRequest, ListSnapshotsResult, SnapshotInfo, SnapshotsWorkflow } from './snapshot-model.js';
import { chargeNewSnapshot } from './quotas.js';

/** fields.SnapshotStatus.ALL: what os-reset_status accepts. */
export const SNAPSHOT_STATUSES = [
  'error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'error_deleting', 'unmanaging', 'backing-up', 'restoring',
] as const;

const SORT_KEYS: Record<string, snapshots.SnapshotSortKey> = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  id: 'id',
  name: 'name',
  display_name: 'name',
  status: 'status',
  size: 'volume_size',
  volume_size: 'volume_size',
  volume_id: 'volume_id',
  project_id: 'project_id',
};

/**
 * Writes a new snapshot row in `creating`, of the volume's size and type as they are now, and charges it
 * (snapshots 1, gigabytes its size) in the same transaction: over quota (413) leaves neither. Used for a lone
 * snapshot and for each member of a group snapshot.
 */
export async function insertChargedSnapshot(
  trx: Transaction<Database>,
  deps: Pick<Deps, 'leases'>,
  ctx: RequestContext,
  req: {
    id: string;
    volume: Pick<volumes.VolumeRow, 'id' | 'size' | 'volume_type_id'>;
    name?: string | null;
    description?: string | null;
    groupSnapshotId: string | null;
    now: string;
  },
): Promise<void> {
  await snapshots.insertSnapshot(trx, {
    id: req.id,
    volume_id: req.volume.id,
    project_id: ctx.projectId,
    user_id: ctx.userId,
    name: req.name ?? null,
    description: req.description ?? null,
    status: 'creating',
    progress: '0%',
    volume_size: req.volume.size,
    volume_type_id: req.volume.volume_type_id,
    group_snapshot_id: req.groupSnapshotId,
    lease_expires_at: snapshotLease(deps),
    created_at: req.now,
    updated_at: null,
    deleted_at: null,
    deleted: dbBool(false),
  });
  await chargeNewSnapshot(trx, req.id);
}

export const snapshotNotFound = (id: string) => new CinderFault(404, `Snapshot ${id} could not be found.`);
const invalidSnapshot = (why: string) => new CinderFault(400, `Invalid snapshot: ${why}`);

/** The snapshot row if the caller may see it, else Cinder's 404. */
export async function loadSnapshotRow(db: Db, ctx: RequestContext, id: string): Promise<snapshots.SnapshotRow> {
  const row = await snapshots.findSnapshot(db, id);
  if (!row || !canSeeProject(ctx, row.project_id)) throw snapshotNotFound(id);
  return row;
}

function info(r: snapshots.SnapshotRow, metadata: Record<string, string>): SnapshotInfo {
  return {
    id: r.id,
    volumeId: r.volume_id,
    projectId: r.project_id,
    userId: r.user_id,
    name: r.name,
    description: r.description,
    status: r.status,
    progress: r.progress,
    size: r.volume_size,
    groupSnapshotId: r.group_snapshot_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    metadata,
  };
}

async function hydrate(db: Db, rows: snapshots.SnapshotRow[]): Promise<SnapshotInfo[]> {
  const meta = await snapshots.getMetadata(db, rows.map((r) => r.id));
  return rows.map((r) => info(r, meta.get(r.id) ?? {}));
}

/** utils.check_metadata_properties: keys 1..255 characters, values up to 255, both strings. */
export function checkMetadata(md: unknown): Record<string, string> {
  if (md === null || typeof md !== 'object' || Array.isArray(md)) throw new CinderFault(400, 'Malformed request body');
  for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalidInput(`Invalid metadata value for key ${k}: must be a string`);
    if (k.length === 0) throw new CinderFault(400, 'Metadata property key blank.');
    if (k.length > 255) throw new CinderFault(413, 'Metadata property key greater than 255 characters.');
    if (v.length > 255) throw new CinderFault(413, 'Metadata property value greater than 255 characters.');
  }
  return md as Record<string, string>;
}

export function snapshotActions(deps: Deps): SnapshotsWorkflow {
  const { store } = deps;
  const db = store.db;
  const tasks = snapshotTasks(deps);

  async function load(ctx: RequestContext, id: string): Promise<SnapshotInfo> {
    const row = await loadSnapshotRow(db, ctx, id);
    return (await hydrate(db, [row]))[0];
  }

  async function createSnapshot(ctx: RequestContext, req: CreateSnapshotRequest): Promise<SnapshotInfo> {
    const volume = await loadRow(db, ctx, req.volumeId);
    requireMember(ctx, 'volume:create_snapshot');
    // Since 3.66 a snapshot of an in-use volume needs no force (api/v3/snapshots.py create).
    const inUseOk = req.force === true || atLeast(ctx.version, 66);
    if (!volume.host) throw invalidVolume('The snapshot cannot be created because volume has not been scheduled to any host.');
    if (volume.status === 'maintenance') throw invalidVolume('The snapshot cannot be created when the volume is in maintenance mode.');
    if (!MIGRATION_AT_REST.includes(volume.migration_status)) throw invalidVolume('Snapshot cannot be created while volume is migrating.');
    if (volume.status === 'error') throw invalidVolume('The snapshot cannot be created when the volume is in error status.');
    const valid = inUseOk ? ['available', 'in-use'] : ['available'];
    const metadata = req.metadata ? checkMetadata(req.metadata) : {};
    const id = randomUUID();
    const now = nowTimestamp();
    const made = await store.transaction(async (trx) => {
      // The volume's status is the precondition: touching the row claims it against a concurrent delete.
      if (!(await volumes.casVolume(trx, volume.id, {}, { status: valid, migrationStatus: MIGRATION_AT_REST }))) return false;
      // Size and type as they are now, under the claim: an extend or retype that finished since the volume was
      // read must not leave the snapshot with a stale size or charged to the old type.
      const current = (await volumes.findVolume(trx, volume.id))!;
      await insertChargedSnapshot(trx, deps, ctx, { id, volume: current, name: req.name, description: req.description, groupSnapshotId: null, now });
      await snapshots.setMetadataItems(trx, id, metadata);
      return true;
    });
    if (!made) {
      const cur = await volumes.findVolume(db, volume.id);
      throw invalidVolume(`Volume ${volume.id} status must be ${valid.join(', ')}, but current status is: ${cur?.status ?? 'deleted'}.`);
    }
    const result = await load(ctx, id);
    deps.background('snapshot', id, () => tasks.finishSnapshotCreate({ id, volume_id: volume.id }, volume.host));
    return result;
  }

  async function listSnapshots(ctx: RequestContext, req: ListSnapshotsRequest): Promise<ListSnapshotsResult> {
    requireMember(ctx, 'volume:get_all_snapshots');
    const projectId = req.allTenants && ctx.isAdmin ? null : ctx.projectId;
    const sort = resolveSort(req.sort, SORT_KEYS);
    let markerRow: snapshots.SnapshotRow | undefined;
    if (req.marker) {
      markerRow = await snapshots.findSnapshot(db, req.marker);
      if (!markerRow || (projectId !== null && markerRow.project_id !== projectId)) throw markerNotFound(req.marker);
    }
    const limit = pageLimit(req.limit);
    const filters = { projectId, name: req.name, status: req.status, volumeId: req.volumeId, metadata: req.metadata };
    const rows = await snapshots.listSnapshots(db, { ...filters, sort, markerRow, limit: limit + 1, offset: req.offset });
    const { page, nextMarker } = splitPage(rows, limit);
    const result: ListSnapshotsResult = { snapshots: await hydrate(db, page) };
    if (nextMarker !== undefined) result.nextMarker = nextMarker;
    if (req.withCount) result.count = await snapshots.countSnapshots(db, filters);
    return result;
  }

  async function updateSnapshot(ctx: RequestContext, id: string, req: { name?: string | null; description?: string | null }): Promise<SnapshotInfo> {
    await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'volume:update_snapshot');
    const changes: snapshots.SnapshotChanges = {};
    if (req.name !== undefined) changes.name = req.name;
    if (req.description !== undefined) changes.description = req.description;
    await snapshots.casSnapshot(db, id, changes, {});
    return load(ctx, id);
  }

  async function startDelete(ctx: RequestContext, row: snapshots.SnapshotRow, force: boolean): Promise<void> {
    const expected = force ? { groupSnapshotId: null } : { status: ['available', 'error'], groupSnapshotId: null };
    if (!(await snapshots.casSnapshot(db, row.id, { status: 'deleting', lease_expires_at: snapshotLease(deps) }, expected))) {
      throw invalidSnapshot(`Snapshot ${force ? '' : 'status must be available or error and '}must not be part of a group.`);
    }
    const volume = await volumes.findVolume(db, row.volume_id);
    deps.background('snapshot-delete', row.id, () => tasks.finishSnapshotDelete(row, volume?.host ?? null));
  }

  async function deleteSnapshot(ctx: RequestContext, id: string): Promise<void> {
    const row = await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'volume:delete_snapshot');
    await startDelete(ctx, row, false);
  }

  async function forceDeleteSnapshot(ctx: RequestContext, id: string): Promise<void> {
    const row = await loadSnapshotRow(db, ctx, id);
    requireAdmin(ctx, 'volume_extension:snapshot_admin_actions:force_delete');
    await startDelete(ctx, row, true);
  }

  async function resetSnapshotStatus(ctx: RequestContext, id: string, status: string): Promise<void> {
    await loadSnapshotRow(db, ctx, id);
    requireAdmin(ctx, 'volume_extension:snapshot_admin_actions:reset_status');
    // A reset ends any host task on the row: no lease keeps a status the admin chose.
    await snapshots.casSnapshot(db, id, { status, lease_expires_at: null }, {});
  }

  async function updateSnapshotStatus(ctx: RequestContext, id: string, status: string, progress?: string): Promise<void> {
    const row = await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'snapshot_extension:snapshot_actions:update_snapshot_status');
    const allowed: Record<string, string[]> = { creating: ['creating', 'available', 'error'], deleting: ['deleting', 'error_deleting'] };
    const next = allowed[row.status];
    if (!next) throw new CinderFault(400, `Snapshot status ${row.status} not allowed for update_snapshot_status`);
    if (!next.includes(status)) throw new CinderFault(400, `Provided snapshot status ${status} not allowed for snapshot with status ${row.status}.`);
    const changes: snapshots.SnapshotChanges = { status };
    if (progress) changes.progress = progress;
    if (!(await snapshots.casSnapshot(db, id, changes, { status: [row.status] }))) {
      throw new CinderFault(409, `Snapshot ${id} changed status while it was being updated; retry.`);
    }
  }

  async function getSnapshotMetadata(ctx: RequestContext, id: string): Promise<Record<string, string>> {
    await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'volume:get_snapshot_metadata');
    return (await snapshots.getMetadata(db, [id])).get(id) ?? {};
  }

  async function updateSnapshotMetadata(ctx: RequestContext, id: string, items: Record<string, string>, replace: boolean): Promise<Record<string, string>> {
    await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'volume:update_snapshot_metadata');
    const md = checkMetadata(items);
    await store.transaction(async (trx) => {
      if (replace) await snapshots.replaceMetadata(trx, id, md);
      else await snapshots.setMetadataItems(trx, id, md);
    });
    return (await snapshots.getMetadata(db, [id])).get(id) ?? {};
  }

  async function deleteSnapshotMetadataKey(ctx: RequestContext, id: string, key: string): Promise<void> {
    await loadSnapshotRow(db, ctx, id);
    requireMember(ctx, 'volume:delete_snapshot_metadata');
    if (!(await snapshots.deleteMetadataKey(db, id, key))) {
      throw new CinderFault(404, `Snapshot ${id} has no metadata with key ${key}.`);
    }
  }

  async function revertToSnapshot(ctx: RequestContext, volumeId: string, snapshotId: string | null): Promise<void> {
    const volume = await loadRow(db, ctx, volumeId);
    const latest = (await snapshots.snapshotsOfVolume(db, volumeId))[0];
    if (!latest) throw new CinderFault(400, `Volume ${volumeId} doesn't have any snapshots.`);
    if (snapshotId === null || snapshotId !== latest.id) {
      throw new CinderFault(400, `Specified snapshot ${snapshotId ?? 'None'} is None or not the latest one of volume ${volumeId}.`);
    }
    if (volume.size !== latest.volume_size) {
      throw new CinderFault(400, `Can't revert volume ${volumeId} to its latest snapshot ${snapshotId}. The volume size must be equal to the snapshot size.`);
    }
    requireMember(ctx, 'volume:revert_to_snapshot');
    const actor = actorOf(ctx);
    // Both claims in one transaction: a volume left reverting without its snapshot restoring cannot happen.
    await tracked(deps, actor, 'revert', volumeId, async (trx) => {
      if (!(await volumes.casVolume(trx, volumeId, { status: 'reverting' }, { status: ['available'] }))) {
        throw new CinderFault(409, `Invalid volume: Can't revert volume ${volumeId} to its latest snapshot ${snapshotId}. Volume's status must be 'available'.`);
      }
      if (!(await snapshots.casSnapshot(trx, snapshotId, { status: 'restoring', lease_expires_at: snapshotLease(deps) }, { status: ['available'] }))) {
        throw new CinderFault(409, `Invalid snapshot: Can't revert volume ${volumeId} to its latest snapshot ${snapshotId}. Snapshot's status must be 'available'.`);
      }
    });
    deps.background('revert', volumeId, () => tasks.finishRevert(actor, volume, snapshotId));
  }

  return {
    createSnapshot,
    getSnapshot: async (ctx, id) => {
      requireMember(ctx, 'volume:get_snapshot');
      return load(ctx, id);
    },
    listSnapshots,
    updateSnapshot,
    deleteSnapshot,
    forceDeleteSnapshot,
    resetSnapshotStatus,
    updateSnapshotStatus,
    getSnapshotMetadata,
    updateSnapshotMetadata,
    deleteSnapshotMetadataKey,
    revertToSnapshot,
  };
}

/** What a new volume is copied from, checked as Cinder's create flow does (flows/api/create_volume.py). */
export interface VolumeCopySource {
  snapshotId: string | null;
  sourceVolid: string | null;
  /** The source's size: the default size and the minimum. */
  size: number;
  volumeTypeId: string | null;
  host: string | null;
}

export async function resolveCopySource(db: Db, ctx: RequestContext, req: { snapshotId?: string | null; sourceVolid?: string | null; size: number | null }): Promise<VolumeCopySource | null> {
  if (req.snapshotId) {
    const snap = await loadSnapshotRow(db, ctx, req.snapshotId);
    if (snap.status !== 'available') throw invalidSnapshot("Originating snapshot status must be one of 'available' values");
    if (req.size !== null && req.size < snap.volume_size) {
      throw invalidInput(`Volume size '${req.size}'GB cannot be smaller than the snapshot size ${snap.volume_size}GB. They must be >= original snapshot size.`);
    }
    const vol = await volumes.findVolume(db, snap.volume_id);
    return { snapshotId: snap.id, sourceVolid: null, size: snap.volume_size, volumeTypeId: snap.volume_type_id, host: vol?.host ?? null };
  }
  if (req.sourceVolid) {
    const src = await loadRow(db, ctx, req.sourceVolid);
    if (src.status !== 'available' && src.status !== 'in-use') {
      throw invalidVolume("Originating source volume status must be one of 'available, in-use' values");
    }
    if (req.size !== null && req.size < src.size) {
      throw invalidInput(`Volume size '${req.size}'GB cannot be smaller than original volume size  ${src.size}GB. They must be >= original volume size.`);
    }
    return { snapshotId: null, sourceVolid: src.id, size: src.size, volumeTypeId: src.volume_type_id, host: src.host };
  }
  return null;
}
