// Cinder's snapshot JSON: cinder/api/views/snapshots.py (summary), api/v3/views/snapshots.py (detail, by
// microversion) and api/contrib/extended_snapshot_attributes.py (progress and project on show and detail list).
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { SnapshotInfo } from '../../workflow/snapshot-model.js';

export function snapshotSummary(s: SnapshotInfo): Record<string, unknown> {
  return {
    id: s.id,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    name: s.name,
    description: s.description,
    volume_id: s.volumeId,
    status: s.status,
    size: s.size,
    metadata: s.metadata,
  };
}

/** The v3 detail view (create, update); `extended` adds the extension's keys (show, detail list). */
export function snapshotDetail(ctx: RequestContext, s: SnapshotInfo, extended: boolean): Record<string, unknown> {
  const out = snapshotSummary(s);
  if (atLeast(ctx.version, 14)) out.group_snapshot_id = s.groupSnapshotId;
  if (atLeast(ctx.version, 41)) out.user_id = s.userId;
  if (atLeast(ctx.version, 65)) out.consumes_quota = true;
  if (extended) {
    out['os-extended-snapshot-attributes:progress'] = s.progress;
    out['os-extended-snapshot-attributes:project_id'] = s.projectId;
  }
  return out;
}
