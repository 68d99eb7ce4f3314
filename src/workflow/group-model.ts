// What the group types workflow hands back (plain data) and the operations it offers. A leaf like model.ts.
import type { RequestContext } from './context.js';

type Ctx = RequestContext;

export interface GroupTypeInfo {
  id: string;
  name: string;
  description: string | null;
  isPublic: boolean;
  groupSpecs: Record<string, string>;
}

export interface GroupTypesWorkflow {
  createGroupType(ctx: Ctx, req: { name: string; description?: string | null; isPublic?: boolean; groupSpecs?: Record<string, string> | null }): Promise<GroupTypeInfo>;
  listGroupTypes(ctx: Ctx, req: { isPublic?: boolean; sort?: { key: string; dir: 'asc' | 'desc' }[]; limit?: number; offset?: number; marker?: string }): Promise<GroupTypeInfo[]>;
  getGroupType(ctx: Ctx, id: string): Promise<GroupTypeInfo>;
  updateGroupType(ctx: Ctx, id: string, req: { name?: string | null; description?: string | null; isPublic?: boolean }): Promise<GroupTypeInfo>;
  deleteGroupType(ctx: Ctx, id: string): Promise<void>;
  getGroupSpecs(ctx: Ctx, id: string): Promise<Record<string, string>>;
  setGroupSpecs(ctx: Ctx, id: string, specs: Record<string, string>): Promise<void>;
  deleteGroupSpec(ctx: Ctx, id: string, key: string): Promise<void>;
}

export interface GroupInfo {
  id: string;
  projectId: string;
  name: string | null;
  description: string | null;
  status: string;
  availabilityZone: string;
  groupTypeId: string;
  volumeTypeIds: string[];
  groupSnapshotId: string | null;
  sourceGroupId: string | null;
  createdAt: string;
  /** Live member volume ids (the 3.25 `volumes` key with list_volume). */
  volumeIds: string[];
}

export interface GroupSnapshotInfo {
  id: string;
  groupId: string;
  groupTypeId: string;
  projectId: string;
  name: string | null;
  description: string | null;
  status: string;
  createdAt: string;
}

export interface ListGroupsRequest {
  allTenants?: boolean;
  /** Every other query parameter: the filters, checked by Cinder's rules. */
  filters: Record<string, string>;
  sort?: { key: string; dir: 'asc' | 'desc' }[];
  limit?: number;
  offset?: number;
  marker?: string;
}

export interface GroupListResult<T> {
  items: T[];
  nextMarker?: string;
}

export interface GroupsWorkflow {
  createGroup(ctx: Ctx, req: { name?: string | null; description?: string | null; groupType: string; volumeTypes: string[]; availabilityZone?: string | null }): Promise<GroupInfo>;
  createGroupFromSource(ctx: Ctx, req: { name?: string | null; description?: string | null; groupSnapshotId?: string | null; sourceGroupId?: string | null }): Promise<GroupInfo>;
  getGroup(ctx: Ctx, id: string): Promise<GroupInfo>;
  listGroups(ctx: Ctx, req: ListGroupsRequest): Promise<GroupListResult<GroupInfo>>;
  updateGroup(ctx: Ctx, id: string, req: { name?: string | null; description?: string | null; addVolumes?: string | null; removeVolumes?: string | null }): Promise<void>;
  deleteGroup(ctx: Ctx, id: string, deleteVolumes: boolean): Promise<void>;
  resetGroupStatus(ctx: Ctx, id: string, status: string): Promise<void>;
  createGroupSnapshot(ctx: Ctx, req: { groupId: string; name?: string | null; description?: string | null }): Promise<GroupSnapshotInfo>;
  getGroupSnapshot(ctx: Ctx, id: string): Promise<GroupSnapshotInfo>;
  listGroupSnapshots(ctx: Ctx, req: ListGroupsRequest): Promise<GroupListResult<GroupSnapshotInfo>>;
  deleteGroupSnapshot(ctx: Ctx, id: string): Promise<void>;
  resetGroupSnapshotStatus(ctx: Ctx, id: string, status: string): Promise<void>;
}
