// Generic volume groups (cinder/api/v3/groups.py, cinder/group/api.py): create, create from a source group or
// group snapshot, list, show, update (name, description, adding and removing volumes), delete, reset_status.
// Every precondition is one conditional UPDATE; the bytes of a group made from a source are copied by a host
// task (group-tasks.ts), and the `groups` quota is charged in the transaction that writes the row.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput } from '../errors.js';
import * as groups from '../store/groups.js';
import * as groupTypes from '../store/group-types.js';
import * as volumes from '../store/volumes.js';
import * as snapshots from '../store/snapshots.js';
import type { Transaction } from 'kysely';
import { dbBool, nowTimestamp, toBool, type Database, type Db } from '../store/schema.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import type { Deps } from './deps.js';
import { actorOf, tracked } from './events.js';
import type { GroupInfo, GroupListResult, GroupsWorkflow, ListGroupsRequest } from './group-model.js';
import { groupTasks, groupLease } from './group-tasks.js';
import { groupSnapshotActions, loadGroupSnapshotRow } from './group-snapshots.js';
import { groupNotFound, invalidGroup, listGroupPage, loadGroupRow, pyList } from './groups-common.js';
import { canSeeProject, requireAdmin, requireMember } from './policy.js';
import { chargeNewGroup, chargeNewVolume } from './quotas.js';
import { resolveType } from './volume-types.js';
import { servicesActions } from './services.js';
import { DELETABLE_STATUSES, orList } from './states.js';

/** fields.GroupStatus.ALL. */
export const GROUP_STATUSES = ['error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'in-use', 'error_deleting'] as const;
/** fields.GroupSnapshotStatus.ALL: what the group_status format checker really compares with (validators.py). */
export const GROUP_SNAPSHOT_STATUSES = ['error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'error_deleting'] as const;

/** group/api.py VALID_REMOVE_VOL_FROM_GROUP_STATUS and VALID_ADD_VOL_TO_GROUP_STATUS. */
const VALID_REMOVE_STATUS = ['available', 'in-use', 'error', 'error_deleting'];
const VALID_ADD_STATUS = ['available', 'in-use'];
/** create_volume.py GROUP_PROCEED_STATUS: a volume may join a group being created or available. */
const GROUP_PROCEED_STATUS = ['available', 'creating'];

const SORT_KEYS: Record<string, groups.GroupSortKey> = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  id: 'id',
  name: 'name',
  status: 'status',
  project_id: 'project_id',
  availability_zone: 'availability_zone',
  group_type_id: 'group_type_id',
  description: 'description',
};

/** Group columns a filter may name (is_valid_model_filters on models.Group); others match nothing. */
const FILTER_COLUMNS = new Set(['name', 'status', 'id', 'group_type_id', 'availability_zone', 'description', 'project_id', 'user_id']);
const LIKE_COLUMNS = new Set(['name']);

export async function hydrateGroups(db: Db, rows: groups.GroupRow[], opts: { withVolumes?: boolean } = {}): Promise<GroupInfo[]> {
  const typeIds = await groups.volumeTypesOf(db, rows.map((r) => r.id));
  const members = new Map<string, string[]>();
  if (opts.withVolumes) for (const r of rows) members.set(r.id, (await groups.volumesOfGroup(db, r.id)).map((v) => v.id));
  return rows.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    name: r.name,
    description: r.description,
    status: r.status,
    availabilityZone: r.availability_zone,
    groupTypeId: r.group_type_id,
    volumeTypeIds: typeIds.get(r.id) ?? [],
    groupSnapshotId: r.group_snapshot_id,
    sourceGroupId: r.source_group_id,
    createdAt: r.created_at,
    volumeIds: members.get(r.id) ?? [],
  }));
}

const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The group type named by id or name, as group/api.py create looks it up (id first, then name). */
async function resolveGroupType(db: Db, ctx: RequestContext, nameOrId: string): Promise<groupTypes.GroupTypeRow> {
  const visible = (r: groupTypes.GroupTypeRow | undefined) => (r && (toBool(r.is_public) || ctx.isAdmin) ? r : undefined);
  if (!UUID_LIKE.test(nameOrId)) {
    const byName = visible(await groupTypes.findGroupTypeByName(db, nameOrId));
    if (!byName) throw new CinderFault(404, `Group type with name ${nameOrId} could not be found.`);
    return byName;
  }
  const found = visible(await groupTypes.findGroupType(db, nameOrId)) ?? visible(await groupTypes.findGroupTypeByName(db, nameOrId));
  if (!found) throw new CinderFault(404, `Group type ${nameOrId} could not be found.`);
  return found;
}

/**
 * Checks a volume create's `group_id` (volume/api.py create, create_volume.py _extract_group): the group is
 * visible, available or creating, and the volume's type is one of the group's. Returns the group's host.
 */
export async function checkGroupForNewVolume(db: Db, ctx: RequestContext, groupId: string, volumeType: { id: string } | null): Promise<groups.GroupRow> {
  const group = await loadGroupRow(db, ctx, groupId);
  if (!volumeType) throw invalidInput('volume_type must be provided when creating a volume in a group.');
  const allowed = (await groups.volumeTypesOf(db, [group.id])).get(group.id) ?? [];
  if (!allowed.includes(volumeType.id)) {
    throw invalidInput(`Invalid volume_type provided: ${volumeType.id} (requested type must be supported by this group).`);
  }
  if (!GROUP_PROCEED_STATUS.includes(group.status)) {
    throw invalidGroup(`Originating group status must be one of '${GROUP_PROCEED_STATUS.join(', ')}' values`);
  }
  return group;
}

/** Writes a new group row of the caller's project with its volume types, and charges `groups` in the same transaction: over quota (413) leaves neither. */
async function insertChargedGroup(
  trx: Transaction<Database>,
  ctx: RequestContext,
  req: { name?: string | null; description?: string | null },
  typeIds: string[],
  row: Omit<groups.NewGroup, 'project_id' | 'user_id' | 'name' | 'description' | 'updated_at' | 'deleted_at' | 'deleted'>,
): Promise<void> {
  await groups.insertGroup(
    trx,
    { ...row, project_id: ctx.projectId, user_id: ctx.userId, name: req.name ?? null, description: req.description ?? null, updated_at: null, deleted_at: null, deleted: dbBool(false) },
    typeIds,
  );
  await chargeNewGroup(trx, ctx.projectId);
}

export function groupActions(deps: Deps): GroupsWorkflow {
  const { store } = deps;
  const db = store.db;
  const tasks = groupTasks(deps);

  async function load(ctx: RequestContext, id: string): Promise<GroupInfo> {
    const row = await loadGroupRow(db, ctx, id);
    return (await hydrateGroups(db, [row], { withVolumes: true }))[0];
  }

  async function createGroup(ctx: RequestContext, req: Parameters<GroupsWorkflow['createGroup']>[1]): Promise<GroupInfo> {
    requireMember(ctx, 'group:create');
    const typeIds: string[] = [];
    for (const t of req.volumeTypes) typeIds.push((await resolveType(db, t, ctx)).id);
    const groupType = await resolveGroupType(db, ctx, req.groupType);
    const zone = req.availabilityZone ?? deps.availabilityZone;
    if (!(await servicesActions(deps).zones()).some((z) => z.name === zone)) throw invalidInput(`Availability zone '${zone}' is invalid.`);
    // Cinder's scheduler puts a group on a backend that serves all its types; here every type is served by every
    // host, and a group needs nothing on the host until it has volumes, so it is available at once.
    const placed = await servicesActions(deps).placeVolume({ extraSpecs: {}, zone, sizeGiB: 0 });
    const noBackend = 'problem' in placed ? placed.problem : null;
    const id = randomUUID();
    await store.transaction(async (trx) => {
      await insertChargedGroup(trx, ctx, req, typeIds, {
        id,
        status: noBackend ? 'error' : 'available',
        availability_zone: zone,
        group_type_id: groupType.id,
        host: 'host' in placed ? placed.host : null,
        group_snapshot_id: null,
        source_group_id: null,
        lease_expires_at: null,
        created_at: nowTimestamp(),
      });
    });
    return load(ctx, id);
  }

  async function createGroupFromSource(ctx: RequestContext, req: Parameters<GroupsWorkflow['createGroupFromSource']>[1]): Promise<GroupInfo> {
    requireMember(ctx, 'group:create');
    // What each new volume copies: the members of the group snapshot, or the volumes of the source group.
    let groupTypeId: string;
    let typeIds: string[];
    let sourceHost: string | null;
    let zone: string;
    let copies: { source: { snapshotId: string | null; sourceVolid: string | null }; size: number; typeId: string | null }[];
    if (req.groupSnapshotId) {
      const gs = await loadGroupSnapshotRow(db, ctx, req.groupSnapshotId);
      const src = await loadGroupRow(db, ctx, gs.group_id);
      groupTypeId = gs.group_type_id;
      typeIds = (await groups.volumeTypesOf(db, [src.id])).get(src.id) ?? [];
      sourceHost = src.host;
      zone = src.availability_zone;
      const members = await groups.snapshotsOfGroupSnapshot(db, gs.id);
      if (members.length === 0) throw invalidGroup('Group snapshot is empty. No group will be created.');
      if (gs.status !== 'available' || members.some((s) => s.status !== 'available')) {
        throw invalidGroup("Originating group snapshot status must be one of 'available' values");
      }
      copies = members.map((s) => ({ source: { snapshotId: s.id, sourceVolid: null }, size: s.volume_size, typeId: s.volume_type_id }));
    } else {
      const src = await loadGroupRow(db, ctx, req.sourceGroupId!);
      groupTypeId = src.group_type_id;
      typeIds = (await groups.volumeTypesOf(db, [src.id])).get(src.id) ?? [];
      sourceHost = src.host;
      zone = src.availability_zone;
      const members = await groups.volumesOfGroup(db, src.id);
      if (members.length === 0) throw invalidGroup('Source Group is empty. No group will be created.');
      if (src.status !== 'available' || members.some((v) => v.status !== 'available' && v.status !== 'in-use')) {
        throw invalidGroup("Originating source group status must be one of 'available' values");
      }
      copies = members.map((v) => ({ source: { snapshotId: null, sourceVolid: v.id }, size: v.size, typeId: v.volume_type_id }));
    }
    if (!sourceHost) throw invalidGroup(`No valid host to create group ${req.groupSnapshotId ?? req.sourceGroupId}.`);
    const id = randomUUID();
    const actor = actorOf(ctx);
    const now = nowTimestamp();
    await store.transaction(async (trx) => {
      await insertChargedGroup(trx, ctx, req, typeIds, {
        id,
        status: 'creating',
        availability_zone: zone,
        group_type_id: groupTypeId,
        host: sourceHost,
        group_snapshot_id: req.groupSnapshotId ?? null,
        source_group_id: req.sourceGroupId ?? null,
        lease_expires_at: groupLease(deps),
        created_at: now,
      });
      // The sources are claimed in this transaction: a source group or snapshot that changed since it was read refuses.
      if (req.groupSnapshotId && !(await groups.casGroupSnapshot(trx, req.groupSnapshotId, {}, { status: ['available'] }))) {
        throw invalidGroup("Originating group snapshot status must be one of 'available' values");
      }
      if (req.sourceGroupId && !(await groups.casGroup(trx, req.sourceGroupId, {}, { status: ['available'] }))) {
        throw invalidGroup("Originating source group status must be one of 'available' values");
      }
      for (const c of copies) {
        const volumeId = randomUUID();
        await tracked(
          deps,
          actor,
          'create',
          volumeId,
          async (t) => {
            await volumes.insertVolume(t, {
              id: volumeId,
              project_id: ctx.projectId,
              user_id: ctx.userId,
              name: null,
              description: null,
              size: c.size,
              status: 'creating',
              attach_status: 'detached',
              multiattach: dbBool(false),
              bootable: dbBool(false),
              volume_type_id: c.typeId,
              availability_zone: zone,
              host: sourceHost,
              snapshot_id: c.source.snapshotId,
              source_volid: c.source.sourceVolid,
              group_id: id,
              provider_location: null,
              provider_auth: null,
              migration_status: null,
              encryption_key_id: null,
              created_at: now,
              updated_at: null,
              deleted_at: null,
              deleted: dbBool(false),
            });
            await chargeNewVolume(t, volumeId);
          },
          { trx },
        );
      }
    });
    const info = await load(ctx, id);
    deps.background('group-create', id, () => tasks.finishGroupFromSource(actor, { id, host: sourceHost }));
    return info;
  }

  async function listGroups(ctx: RequestContext, req: ListGroupsRequest): Promise<GroupListResult<GroupInfo>> {
    requireMember(ctx, 'group:get_all');
    return listGroupPage(db, ctx, req, {
      resource: 'group',
      sortKeys: SORT_KEYS,
      filterColumns: FILTER_COLUMNS,
      likeColumns: LIKE_COLUMNS,
      find: groups.findGroup,
      list: groups.listGroups,
      view: (d, rows) => hydrateGroups(d, rows, { withVolumes: true }),
    });
  }

  async function updateGroup(ctx: RequestContext, id: string, req: Parameters<GroupsWorkflow['updateGroup']>[2]): Promise<void> {
    const group = await loadGroupRow(db, ctx, id);
    requireMember(ctx, 'group:update');
    const name = req.name !== undefined && req.name !== null && req.name !== group.name ? req.name : undefined;
    const description = req.description !== undefined && req.description !== null && req.description !== group.description ? req.description : undefined;
    const split = (s: string | null | undefined) => (s ? s.replace(/^,+|,+$/g, '').split(',') : []);
    const addList = split(req.addVolumes);
    const removeList = split(req.removeVolumes);
    const both = addList.filter((u) => removeList.includes(u));
    if (both.length) throw new CinderFault(400, `Invalid volume: UUIDs ${pyList(both)} are in both add and remove volume list.`);
    const members = await groups.volumesOfGroup(db, id);
    const memberIds = new Set(members.map((v) => v.id));
    const typeIds = (await groups.volumeTypesOf(db, [id])).get(id) ?? [];
    // group/api.py _validate_remove_volumes
    const toRemove: string[] = [];
    for (const v of members) {
      if (!removeList.includes(v.id)) continue;
      if (!VALID_REMOVE_STATUS.includes(v.status)) {
        throw new CinderFault(
          400,
          `Invalid volume: Cannot remove volume ${v.id} from group ${id} because volume is in an invalid state: ${v.status}. Valid states are: ('available', 'in-use', 'error', 'error_deleting').`,
        );
      }
      toRemove.push(v.id);
    }
    for (const r of removeList) {
      if (!toRemove.includes(r)) throw new CinderFault(400, `Invalid volume: Cannot remove volume ${r} from group ${id} because it is not in the group.`);
    }
    // group/api.py _validate_add_volumes
    const toAdd: string[] = [];
    for (const a of addList.filter((x) => !memberIds.has(x))) {
      const v = await volumes.findVolume(db, a);
      if (!v) throw new CinderFault(400, `Invalid volume: Cannot add volume ${a} to group ${id} because volume cannot be found.`);
      if (v.group_id) throw new CinderFault(400, `Invalid volume: Cannot add volume ${v.id} to group ${id} because it is already in group ${v.group_id}.`);
      if (v.project_id !== group.project_id) throw new CinderFault(400, `Invalid volume: Cannot add volume ${v.id} to group ${id} as they belong to different projects.`);
      if (!v.volume_type_id) throw new CinderFault(400, `Invalid volume: Cannot add volume ${v.id} to group ${id} because it has no volume type.`);
      if (!typeIds.includes(v.volume_type_id)) {
        throw new CinderFault(400, `Invalid volume: Cannot add volume ${v.id} to group ${id} because volume type ${v.volume_type_id} is not supported by the group.`);
      }
      if (!VALID_ADD_STATUS.includes(v.status)) {
        throw new CinderFault(
          400,
          `Invalid volume: Cannot add volume ${v.id} to group ${id} because volume is in an invalid state: ${v.status}. Valid states are: ('available', 'in-use').`,
        );
      }
      if (v.host !== group.host) throw new CinderFault(400, 'Invalid volume: Volume is not local to this node.');
      toAdd.push(v.id);
    }
    if (name === undefined && description === undefined && toAdd.length === 0 && toRemove.length === 0) {
      throw invalidGroup(`Cannot update group ${id} because no valid name, description, add_volumes, or remove_volumes were provided.`);
    }
    const changes: groups.GroupChanges = {};
    if (name !== undefined) changes.name = name;
    if (description !== undefined) changes.description = description;
    const membership = toAdd.length > 0 || toRemove.length > 0;
    // Cinder passes through `updating` while its manager moves the volumes; here the move is the same transaction.
    if (!membership) changes.status = 'available';
    await store.transaction(async (trx) => {
      if (!(await groups.casGroup(trx, id, changes, membership ? { status: ['available'] } : {}))) {
        throw invalidGroup('Group status must be available.');
      }
      for (const v of toRemove) {
        if (!(await volumes.casVolume(trx, v, { group_id: null }, { status: VALID_REMOVE_STATUS, groupId: id }))) {
          throw new CinderFault(409, `Volume ${v} changed while group ${id} was being updated; retry.`);
        }
      }
      for (const v of toAdd) {
        if (!(await volumes.casVolume(trx, v, { group_id: id }, { status: VALID_ADD_STATUS, groupId: null }))) {
          throw new CinderFault(409, `Volume ${v} changed while group ${id} was being updated; retry.`);
        }
      }
    });
  }

  async function deleteGroup(ctx: RequestContext, id: string, deleteVolumes: boolean): Promise<void> {
    const group = await loadGroupRow(db, ctx, id);
    requireMember(ctx, 'group:delete');
    if (!deleteVolumes && !['available', 'error'].includes(group.status)) {
      throw invalidGroup(`Group status must be available or error, but current status is: ${group.status}`);
    }
    if ((await groups.listGroupSnapshots(db, { projectId: null, eq: { group_id: id }, like: {}, sort: [], limit: 1 })).length > 0) {
      throw invalidGroup('Group has existing snapshots.');
    }
    const members = await groups.volumesOfGroup(db, id);
    if (members.length > 0 && !deleteVolumes) throw invalidGroup(`Group ${id} still contains volumes. The delete-volumes flag is required to delete it.`);
    for (const v of members) {
      if (v.attach_status === 'attached') throw invalidGroup(`Volume in group ${id} is attached. Need to detach first.`);
      if ((await snapshots.snapshotsOfVolume(db, v.id)).length > 0) throw invalidGroup('Volume in group still has dependent snapshots.');
    }
    const actor = actorOf(ctx);
    const claimed = await store.transaction(async (trx) => {
      const expected: groups.GroupExpected = { noGroupSnapshots: true, noBusyVolumes: deleteVolumes, notSourceOfCreating: true };
      if (deleteVolumes) expected.status = ['available', 'error'];
      else expected.noVolumes = true;
      if (!(await groups.casGroup(trx, id, { status: 'deleting', lease_expires_at: groupLease(deps) }, expected))) return false;
      // The member volumes go deleting with the group, in the same transaction (finishGroupDelete deletes them).
      for (const v of await groups.volumesOfGroup(trx, id)) {
        // Better than Cinder, which marks them deleting whatever they are doing: a member that a host task owns
        // (creating, extending, reverting) or an attach holds is refused, so no task writes a file after its delete.
        const ok = await tracked(
          deps,
          actor,
          'delete',
          v.id,
          (t) => volumes.casVolume(t, v.id, { status: 'deleting' }, { status: DELETABLE_STATUSES, attachStatusNot: ['attached'], noSnapshots: true }),
          { trx },
        );
        if (!ok) throw invalidGroup(`Volume ${v.id} in group ${id} must be ${orList(DELETABLE_STATUSES)}, detached and without snapshots to be deleted with it.`);
      }
      return true;
    });
    if (!claimed) {
      const reason = deleteVolumes
        ? 'Group status must be available or error and must not have dependent group snapshots'
        : 'Group must not have attached volumes, volumes with snapshots, or dependent group snapshots';
      throw invalidGroup(`Cannot delete group ${id}. ${reason}, and it cannot be the source for an ongoing group or group snapshot creation.`);
    }
    deps.background('group-delete', id, () => tasks.finishGroupDelete(actor, group));
  }

  async function resetGroupStatus(ctx: RequestContext, id: string, status: string): Promise<void> {
    await loadGroupRow(db, ctx, id);
    requireAdmin(ctx, 'group:reset_status');
    // A reset ends any host task on the row: no lease keeps a status the admin chose.
    await groups.casGroup(db, id, { status, lease_expires_at: null });
  }

  return {
    createGroup,
    createGroupFromSource,
    getGroup: async (ctx, id) => {
      requireMember(ctx, 'group:get');
      return load(ctx, id);
    },
    listGroups,
    updateGroup,
    deleteGroup,
    resetGroupStatus,
    ...groupSnapshotActions(deps),
  };
}
