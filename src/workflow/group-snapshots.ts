// Group snapshots (cinder/api/v3/group_snapshots.py, cinder/group/api.py create_group_snapshot and friends):
// a snapshot of every volume of a group, taken together by one host call that quiesces all of them
// (group-tasks.ts), so the group is consistent as a whole. Each member is an ordinary snapshot row with
// group_snapshot_id set, charged `snapshots` and `gigabytes` like any snapshot.
import { randomUUID } from 'node:crypto';
import { CinderFault } from '../errors.js';
import * as groups from '../store/groups.js';
import * as snapshots from '../store/snapshots.js';
import * as volumes from '../store/volumes.js';
import { dbBool, nowTimestamp, type Db } from '../store/schema.js';
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import type { GroupListResult, GroupSnapshotInfo, GroupsWorkflow, ListGroupsRequest } from './group-model.js';
import { groupLease, groupTasks } from './group-tasks.js';
import { canSeeProject, requireAdmin, requireMember } from './policy.js';
import { snapshotLease } from './snapshot-tasks.js';
import { insertChargedSnapshot } from './snapshots.js';
import { groupNotFound, invalidGroup, listGroupPage } from './groups-common.js';
import { servicesActions } from './services.js';

const SORT_KEYS: Record<string, groups.GroupSnapshotSortKey> = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  id: 'id',
  name: 'name',
  status: 'status',
  project_id: 'project_id',
  group_id: 'group_id',
  group_type_id: 'group_type_id',
  description: 'description',
};

const FILTER_COLUMNS = new Set(['name', 'status', 'group_id', 'id', 'group_type_id', 'description', 'project_id', 'user_id']);
const LIKE_COLUMNS = new Set(['name', 'status', 'group_id']);

export const groupSnapshotNotFound = (id: string) => new CinderFault(404, `GroupSnapshot ${id} could not be found.`);
const invalidGroupSnapshot = (why: string) => new CinderFault(400, `Invalid GroupSnapshot: ${why}`);

export async function loadGroupSnapshotRow(db: Db, ctx: RequestContext, id: string): Promise<groups.GroupSnapshotRow> {
  const row = await groups.findGroupSnapshot(db, id);
  if (!row || !canSeeProject(ctx, row.project_id)) throw groupSnapshotNotFound(id);
  return row;
}

function info(r: groups.GroupSnapshotRow): GroupSnapshotInfo {
  return {
    id: r.id,
    groupId: r.group_id,
    groupTypeId: r.group_type_id,
    projectId: r.project_id,
    name: r.name,
    description: r.description,
    status: r.status,
    createdAt: r.created_at,
  };
}

type GroupSnapshotActions = Pick<GroupsWorkflow, 'createGroupSnapshot' | 'getGroupSnapshot' | 'listGroupSnapshots' | 'deleteGroupSnapshot' | 'resetGroupSnapshotStatus'>;

export function groupSnapshotActions(deps: Deps): GroupSnapshotActions {
  const { store } = deps;
  const db = store.db;
  const tasks = groupTasks(deps);

  async function createGroupSnapshot(ctx: RequestContext, req: { groupId: string; name?: string | null; description?: string | null }): Promise<GroupSnapshotInfo> {
    const group = await groups.findGroup(db, req.groupId);
    if (!group || !canSeeProject(ctx, group.project_id)) throw groupNotFound(req.groupId);
    requireMember(ctx, 'group:create_group_snapshot');
    // group.assert_not_frozen()
    if (await servicesActions(deps).backendFrozen(group.host)) throw new CinderFault(400, 'Invalid input received: Modification operations are not allowed on frozen storage backends.');
    const id = randomUUID();
    const now = nowTimestamp();
    await store.transaction(async (trx) => {
      await groups.insertGroupSnapshot(trx, {
        id,
        group_id: group.id,
        project_id: ctx.projectId,
        user_id: ctx.userId,
        name: req.name ?? null,
        description: req.description ?? null,
        status: 'creating',
        group_type_id: group.group_type_id,
        lease_expires_at: groupLease(deps),
        created_at: now,
        updated_at: null,
        deleted_at: null,
        deleted: dbBool(false),
      });
      // volume/api.py create_snapshots_in_db: every member must be available or in-use (a group snapshot of an
      // attached volume needs no force), and each is claimed against a concurrent delete in this transaction.
      for (const v of await groups.volumesOfGroup(trx, group.id)) {
        if (!(await volumes.casVolume(trx, v.id, {}, { status: ['available', 'in-use'] }))) {
          throw new CinderFault(400, `Invalid volume: Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`);
        }
        // Each member is a snapshot like any other (charged snapshots 1, gigabytes its size); over quota leaves nothing.
        await insertChargedSnapshot(trx, deps, ctx, { id: randomUUID(), volume: v, name: req.name, description: req.description, groupSnapshotId: id, now });
      }
      // The group is claimed too: a delete of it (which requires no group snapshot) cannot start before this commits.
      if (!(await groups.casGroup(trx, group.id, {}, { status: ['available', 'in-use', 'error', 'updating', 'creating'] }))) {
        throw invalidGroup(`Group ${group.id} is being deleted.`);
      }
    });
    const row = (await groups.findGroupSnapshot(db, id))!;
    deps.background('group-snapshot', id, () => tasks.finishGroupSnapshotCreate({ id }, group.host));
    return info(row);
  }

  async function listGroupSnapshots(ctx: RequestContext, req: ListGroupsRequest): Promise<GroupListResult<GroupSnapshotInfo>> {
    requireMember(ctx, 'group:get_all_group_snapshots');
    return listGroupPage(db, ctx, req, {
      resource: 'group_snapshot',
      sortKeys: SORT_KEYS,
      filterColumns: FILTER_COLUMNS,
      likeColumns: LIKE_COLUMNS,
      find: groups.findGroupSnapshot,
      list: groups.listGroupSnapshots,
      view: (_db, rows) => rows.map(info),
    });
  }

  async function deleteGroupSnapshot(ctx: RequestContext, id: string): Promise<void> {
    const gs = await loadGroupSnapshotRow(db, ctx, id);
    requireMember(ctx, 'group:delete_group_snapshot');
    const group = await groups.findGroup(db, gs.group_id);
    const claimed = await store.transaction(async (trx) => {
      if (!(await groups.casGroupSnapshot(trx, id, { status: 'deleting', lease_expires_at: groupLease(deps) }, { status: ['available', 'error'], notSourceOfCreating: true }))) {
        return false;
      }
      for (const s of await groups.snapshotsOfGroupSnapshot(trx, id)) {
        await snapshots.casSnapshot(trx, s.id, { status: 'deleting', lease_expires_at: snapshotLease(deps) }, {});
      }
      return true;
    });
    if (!claimed) {
      throw invalidGroupSnapshot('GroupSnapshot status must be available or error, and no Group can be currently using it as source for its creation.');
    }
    deps.background('group-snapshot-delete', id, () => tasks.finishGroupSnapshotDelete({ id }, group?.host ?? null));
  }

  async function resetGroupSnapshotStatus(ctx: RequestContext, id: string, status: string): Promise<void> {
    await loadGroupSnapshotRow(db, ctx, id);
    requireAdmin(ctx, 'group:reset_group_snapshot_status');
    await groups.casGroupSnapshot(db, id, { status, lease_expires_at: null });
  }

  return {
    createGroupSnapshot,
    getGroupSnapshot: async (ctx, id) => {
      requireMember(ctx, 'group:get_group_snapshot');
      return info(await loadGroupSnapshotRow(db, ctx, id));
    },
    listGroupSnapshots,
    deleteGroupSnapshot,
    resetGroupSnapshotStatus,
  };
}
