// Cinder's group and group snapshot JSON: cinder/api/v3/views/groups.py and views/group_snapshots.py, by microversion.
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { GroupInfo, GroupSnapshotInfo } from '../../workflow/group-model.js';

export function groupSummary(g: GroupInfo): Record<string, unknown> {
  return { id: g.id, name: g.name };
}

/** `withVolumes`: the 3.25 list_volume parameter was given and true. */
export function groupDetail(ctx: RequestContext, g: GroupInfo, withVolumes: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: g.id,
    status: g.status,
    availability_zone: g.availabilityZone,
    created_at: g.createdAt,
    name: g.name,
    description: g.description,
    group_type: g.groupTypeId,
    volume_types: g.volumeTypeIds,
  };
  if (atLeast(ctx.version, 14)) {
    out.group_snapshot_id = g.groupSnapshotId;
    out.source_group_id = g.sourceGroupId;
  }
  if (withVolumes) out.volumes = g.volumeIds;
  // No group here replicates (no group type can enable it).
  if (atLeast(ctx.version, 38)) out.replication_status = 'disabled';
  // GROUP_ATTRIBUTES_POLICY: admins only.
  if (atLeast(ctx.version, 58) && ctx.isAdmin) out.project_id = g.projectId;
  return out;
}

/** The create response keeps group_type_id; the summary list drops it (group_snapshots.py _get_group_snapshots). */
export function groupSnapshotSummary(s: GroupSnapshotInfo, withType: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { id: s.id, name: s.name };
  if (withType) out.group_type_id = s.groupTypeId;
  return out;
}

export function groupSnapshotDetail(ctx: RequestContext, s: GroupSnapshotInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: s.id,
    group_id: s.groupId,
    group_type_id: s.groupTypeId,
    status: s.status,
    created_at: s.createdAt,
    name: s.name,
    description: s.description,
  };
  if (atLeast(ctx.version, 58) && ctx.isAdmin) out.project_id = s.projectId;
  return out;
}
