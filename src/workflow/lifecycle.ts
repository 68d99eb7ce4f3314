// Volume lifecycle: create, read, update, delete, extend, bootable, readonly, reset-status.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import { DEFAULT_TYPE_NAME } from '../store/migrations.js';
import { dbBool, nowTimestamp } from '../store/schema.js';
import type { Deps } from './deps.js';
import { DELETABLE_STATUSES, MIGRATION_AT_REST, orList } from './states.js';
import { loadInfo, loadRow } from './loader.js';
import { requireAdmin, requireMember } from './policy.js';
import { resolveType, isMultiattachType, provisionFilterOnSize } from './volume-types.js';
import { cleanupAfterDetach } from './exports.js';
import { hostTasks } from './host-tasks.js';
import * as snapshots from '../store/snapshots.js';
import { resolveCopySource } from './snapshots.js';
import { actorOf, tracked } from './events.js';
import { encryptionKeyFor } from './encryption-types.js';
import { servicesActions } from './services.js';
import { messageOrigin, recordMessage } from './message-record.js';
import { Action, Detail } from './message-fields.js';
import { chargeNewVolume, withVolumeCharge } from './quotas.js';
import { checkGroupForNewVolume } from './groups.js';
import type { CreateVolumeRequest, ResetStatusRequest, UpdateVolumeRequest, VolumeInfo } from './model.js';

export function lifecycle(deps: Deps) {
  const { store } = deps;
  const db = store.db;
  const tasks = hostTasks(deps);

  async function createVolume(ctx: RequestContext, req: CreateVolumeRequest): Promise<VolumeInfo> {
    requireMember(ctx, 'volume:create');
    if (req.backupId) throw new CinderFault(404, `Backup ${req.backupId} could not be found.`);
    const source = await resolveCopySource(db, ctx, { snapshotId: req.snapshotId, sourceVolid: req.sourceVolid, size: Number.isFinite(req.size) ? req.size : null });
    if (source && !Number.isFinite(req.size)) req = { ...req, size: source.size };
    if (req.imageRef) throw invalidInput('Creating a volume from an image needs the Image service, which this service does not have.');
    if (!Number.isInteger(req.size) || req.size <= 0) {
      throw invalidInput(
        `Invalid volume size provided for create request: ${req.size} (size argument must be an integer (or string representation of an integer) and greater than zero).`,
      );
    }
    // flows/api/create_volume.py _extract_availability_zone: a zone no volume service is in is refused; none named
    // means this process's default zone (storage_availability_zone).
    const zone = req.availabilityZone || deps.availabilityZone;
    if (req.availabilityZone && !(await servicesActions(deps).zones()).some((z) => z.name === req.availabilityZone)) {
      throw new CinderFault(400, `Availability zone '${req.availabilityZone}' is invalid.`);
    }
    // A copy keeps its source's type unless the request names one (flows/api/create_volume.py _extract_volume_type).
    // A private type outside the caller's projects is "not found", as in Cinder's type query.
    const type = await resolveType(db, req.volumeType ?? (source?.volumeTypeId ? source.volumeTypeId : DEFAULT_TYPE_NAME), ctx);
    provisionFilterOnSize(type, req.size);
    // A volume created in a group lives where the group's volumes do (create_volume.py: the group's zone and backend).
    const group = req.groupId ? await checkGroupForNewVolume(db, ctx, req.groupId, req.volumeType ? type : null) : null;
    const id = randomUUID();
    const now = nowTimestamp();
    const actor = actorOf(ctx);
    // Cinder accepts the request and its scheduler then puts the volume in error when no backend can take it
    // (a disabled, frozen or down volume service; a type asking for another backend): same here, without a host.
    // A copy is made where its source's bytes are, a group's volume where the group's are: only that host may take it.
    const placed = await servicesActions(deps).placeVolume({
      extraSpecs: type.extraSpecs,
      zone,
      sizeGiB: req.size,
      ...(group?.host ? { host: group.host } : source ? { host: source.host } : {}),
    });
    const noBackend = 'problem' in placed ? placed.problem : null;
    const host = 'host' in placed ? placed.host : null;
    const encryptionKeyId = await encryptionKeyFor(db, type.id);
    // cinder/volume/flows/api/create_volume.py: an encrypted multiattach volume would share one key between hosts.
    if (encryptionKeyId && isMultiattachType(type.extraSpecs)) throw invalidVolume('Multiattach cannot be used with encrypted volumes.');
    await tracked(deps, actor, 'create', id, async (trx) => {
      await volumes.insertVolume(trx, {
        id,
        project_id: ctx.projectId,
        user_id: ctx.userId,
        name: req.name ?? null,
        description: req.description ?? null,
        size: req.size,
        status: noBackend ? 'error' : 'creating',
        attach_status: 'detached',
        multiattach: dbBool(isMultiattachType(type.extraSpecs)),
        bootable: dbBool(false),
        volume_type_id: type.id,
        availability_zone: zone,
        host,
        snapshot_id: source?.snapshotId ?? null,
        source_volid: source?.sourceVolid ?? null,
        group_id: group?.id ?? null,
        provider_location: null,
        provider_auth: null,
        migration_status: null,
        encryption_key_id: encryptionKeyId,
        created_at: now,
        updated_at: null,
        deleted_at: null,
        deleted: dbBool(false),
      });
      if (req.metadata) await volumes.setMetadataItems(trx, 'volume_metadata', id, req.metadata);
      // The row and its quota charge commit together; an over-quota create leaves neither (413).
      await chargeNewVolume(trx, id);
    }, noBackend ? { reason: `No valid backend was found. ${noBackend}` } : {});
    // The scheduler's user message (cinder/scheduler/flows/create_volume.py), there before the client can see the error.
    if (noBackend) {
      await recordMessage(deps, messageOrigin(ctx), { action: Action.SCHEDULE_ALLOCATE_VOLUME, detail: Detail.NO_BACKEND_AVAILABLE, resourceUuid: id });
    }
    const info = await loadInfo(db, ctx, id);
    const size = req.size;
    if (host !== null) {
      deps.background('create', id, () =>
        tasks.finishCreate(actor, { id, host, snapshot_id: source?.snapshotId ?? null, source_volid: source?.sourceVolid ?? null }, size),
      );
    }
    return info;
  }

  async function updateVolume(ctx: RequestContext, id: string, req: UpdateVolumeRequest): Promise<VolumeInfo> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume:update');
    await store.transaction(async (trx) => {
      const changes: volumes.VolumeChanges = {};
      if (req.name !== undefined) changes.name = req.name;
      if (req.description !== undefined) changes.description = req.description;
      if (!(await volumes.casVolume(trx, id, changes, { statusNot: ['maintenance'] }))) {
        throw invalidVolume('The volume cannot be updated during maintenance.');
      }
      if (req.metadata !== undefined) await volumes.replaceMetadata(trx, 'volume_metadata', id, req.metadata);
    });
    return loadInfo(db, ctx, id);
  }

  async function startDelete(ctx: RequestContext, row: volumes.VolumeRow, force: boolean, cascade = false): Promise<void> {
    const id = row.id;
    // volume/api.py delete: volume.assert_not_frozen() (a frozen backend takes no modifications).
    if (await servicesActions(deps).backendFrozen(row.host)) {
      throw invalidInput('Modification operations are not allowed on frozen storage backends.');
    }
    // volume/api.py delete: a volume in a group goes only with its group (or after leaving it).
    const expected: volumes.Expected = { attachStatusNot: ['attached'], migrationStatus: MIGRATION_AT_REST, groupId: null };
    if (!force) expected.status = DELETABLE_STATUSES;
    // volume/api.py delete: without cascade no snapshot may exist; with it (not forced) every one must be deletable.
    if (!cascade) expected.noSnapshots = true;
    else if (!force) expected.snapshotsIn = ['available', 'error', 'deleting'];
    // A snapshot that belongs to a group snapshot goes only with it (Cinder's cascade refuses such a snapshot
    // after marking the volume error_deleting; here the volume is left as it was).
    if (cascade) expected.noGroupSnapshotMembers = true;
    const actor = actorOf(ctx);
    const action = force ? 'force_delete' : 'delete';
    const claimed = await tracked(deps, actor, action, id, async (trx) => {
      if (!(await volumes.casVolume(trx, id, { status: 'deleting' }, expected))) return false;
      // The snapshots go with the volume, in the same transaction (finishDelete removes their files first).
      if (cascade) await snapshots.markVolumeSnapshotsDeleting(trx, id, nowTimestamp(new Date(Date.now() + deps.leases.taskMs)));
      return true;
    });
    if (!claimed) {
      const statusPart = force ? '' : `status must be ${orList(DELETABLE_STATUSES)} and`;
      throw invalidVolume(
        `Volume ${statusPart} must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.`,
      );
    }
    deps.background('delete', id, () => tasks.finishDelete(actor, row));
  }

  async function deleteVolume(ctx: RequestContext, id: string, opts: { force?: boolean; cascade?: boolean } = {}): Promise<void> {
    const row = await loadRow(db, ctx, id);
    if (opts.force) requireAdmin(ctx, 'volume_extension:volume_admin_actions:force_delete');
    else requireMember(ctx, 'volume:delete');
    await startDelete(ctx, row, opts.force === true, opts.cascade === true);
  }

  async function forceDeleteVolume(ctx: RequestContext, id: string): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireAdmin(ctx, 'volume_extension:volume_admin_actions:force_delete');
    await startDelete(ctx, row, true);
  }

  async function extend(ctx: RequestContext, id: string, newSize: number): Promise<void> {
    const row = await loadRow(db, ctx, id);
    // In-use extend arrived with 3.42; below it only available volumes grow (docs/cinder-compatibility.md#extend / Cinder _extend).
    const attached = atLeast(ctx.version, 42) && row.status === 'in-use';
    requireMember(ctx, attached ? 'volume:extend_attached_volume' : 'volume:extend');
    if (newSize - row.size <= 0) {
      throw invalidInput(`New size for extend must be greater than current size. (current: ${row.size}, extended: ${newSize}).`);
    }
    if (row.volume_type_id) provisionFilterOnSize(await resolveType(db, row.volume_type_id, null), newSize);
    const from = attached ? 'in-use' : 'available';
    const actor = actorOf(ctx);
    // The new size is charged when the extend is accepted (an over-quota extend leaves the status as it was);
    // finishExtend gives back the difference if the host fails.
    const claimed = await tracked(deps, actor, 'extend', id, (trx) =>
      withVolumeCharge(trx, id, () => volumes.casVolume(trx, id, { status: 'extending', pending_size: newSize }, { status: [from] })),
    );
    if (!claimed) {
      const now = await volumes.findVolume(db, id);
      throw invalidVolume(`Volume ${id} status must be '{'status': '${from}'}' to extend, currently ${now?.status ?? 'deleted'}.`);
    }
    deps.background('extend', id, () => tasks.finishExtend(actor, row, newSize, from));
  }

  async function setBootable(ctx: RequestContext, id: string, bootable: boolean): Promise<void> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume:update');
    if (!(await volumes.casVolume(db, id, { bootable: dbBool(bootable) }, { statusNot: ['maintenance'] }))) {
      throw invalidVolume('The volume cannot be updated during maintenance.');
    }
  }

  async function updateReadonlyFlag(ctx: RequestContext, id: string, readonly: boolean): Promise<void> {
    await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:update_readonly_flag');
    await store.transaction(async (trx) => {
      // The status check and the flag write commit together: no attach can slip in between.
      if (!(await volumes.casVolume(trx, id, {}, { status: ['available'] }))) {
        const now = await volumes.findVolume(trx, id);
        throw invalidVolume(`Volume ${id} status must be available to update readonly flag, but current status is: ${now?.status}.`);
      }
      await volumes.setMetadataItems(trx, 'volume_admin_metadata', id, { readonly: readonly ? 'True' : 'False' });
    });
  }

  async function resetStatus(ctx: RequestContext, id: string, req: ResetStatusRequest): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireAdmin(ctx, 'volume_extension:volume_admin_actions:reset_status');
    if (req.status === 'deleting') throw new CinderFault(400, 'Cannot reset-state to deleting');
    const detachAll = req.attachStatus === 'detached';
    const detached = await tracked(deps, actorOf(ctx), 'reset_status', id, async (trx) => {
      const live = await attachments.liveAttachments(trx, [id]);
      if (req.status === 'in-use' && live.length === 0) {
        throw new CinderFault(400, 'Cannot reset-state to in-use because volume does not have any attachments.');
      }
      const changes: volumes.VolumeChanges = {};
      if (req.status !== undefined) changes.status = req.status;
      if (req.attachStatus !== undefined) changes.attach_status = req.attachStatus;
      if (req.migrationStatus !== undefined) changes.migration_status = req.migrationStatus;
      await volumes.updateVolume(trx, id, changes);
      if (!detachAll) return [];
      for (const a of live) await attachments.softDeleteAttachment(trx, a.id);
      await volumes.deleteMetadataKey(trx, 'volume_admin_metadata', id, 'attached_mode');
      // Cinder's quirk, kept: recomputing after the last row goes overrides the requested status.
      if (live.length > 0) await attachments.recomputeVolumeStatus(trx, id);
      return live;
    });
    // Better than Cinder (docs/cinder-compatibility.md#known-weak-points): a reset that drops attachments also drops their access on the target,
    // so a "detached" volume is not still reachable by the hosts it was attached to.
    if (detached.length > 0) {
      const fresh = (await volumes.findVolume(db, id)) ?? row;
      for (const a of detached) await cleanupAfterDetach(deps, fresh, a);
    }
  }

  return {
    createVolume,
    getVolume: (ctx: RequestContext, id: string) => loadInfo(db, ctx, id),
    updateVolume,
    deleteVolume,
    forceDeleteVolume,
    extend,
    setBootable,
    updateReadonlyFlag,
    resetStatus,
  };
}
