// Cinder's volume JSON (docs/cinder-compatibility.md#volume-view), gated by microversion and role.
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { AttachmentInfo, VolumeInfo, VolumeSummaryInfo } from '../../workflow/model.js';

/** User-facing names for internal statuses (cinder/api/v2/views/volumes.py _get_volume_status). */
const STATUS_VIEW: Record<string, string> = { managing: 'creating', error_managing: 'error', error_managing_deleting: 'deleting' };

export interface LinkBase {
  /** "http://host:port" as the client addressed us. */
  origin: string;
}

export function volumeLinks(base: LinkBase, ctx: RequestContext, id: string) {
  return [
    { rel: 'self', href: `${base.origin}/v3/${ctx.projectId}/volumes/${id}` },
    { rel: 'bookmark', href: `${base.origin}/${ctx.projectId}/volumes/${id}` },
  ];
}

function attachmentView(ctx: RequestContext, a: AttachmentInfo) {
  return {
    id: a.volumeId, // the volume id, a legacy quirk clients rely on
    attachment_id: a.id,
    volume_id: a.volumeId,
    server_id: a.instanceUuid,
    host_name: ctx.isAdmin ? a.attachedHost : null,
    device: a.mountpoint,
    attached_at: a.attachTime,
  };
}

/** `readonly` and `attached_mode` from admin metadata are shown inside metadata (add_visible_admin_metadata). */
function visibleMetadata(v: VolumeInfo): Record<string, string> {
  const out = { ...v.metadata };
  for (const k of ['readonly', 'attached_mode']) if (k in v.adminMetadata) out[k] = v.adminMetadata[k];
  return out;
}

/**
 * The volume as Cinder's views builder makes it (cinder/api/v3/views/volumes.py detail): the body of create (202)
 * and update (200). The `os-vol-*` keys are not part of it: see volumeShown.
 */
export function volumeDetail(base: LinkBase, ctx: RequestContext, v: VolumeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: v.id,
    status: STATUS_VIEW[v.status] ?? v.status,
    size: v.size,
    availability_zone: v.availabilityZone,
    created_at: v.createdAt,
    updated_at: v.updatedAt,
    name: v.name,
    description: v.description,
    volume_type: v.volumeTypeName,
    snapshot_id: v.snapshotId,
    source_volid: v.sourceVolid,
    metadata: visibleMetadata(v),
    links: volumeLinks(base, ctx, v.id),
    user_id: v.userId,
    bootable: v.bootable ? 'true' : 'false',
    encrypted: v.encryptionKeyId !== null,
    replication_status: 'disabled',
    consistencygroup_id: null,
    multiattach: v.multiattach,
    attachments: v.attachments.filter((a) => a.attachStatus === 'attached').map((a) => attachmentView(ctx, a)),
  };
  if (ctx.isAdmin) out.migration_status = v.migrationStatus;
  const ver = ctx.version;
  if (atLeast(ver, 13)) out.group_id = v.groupId;
  if (atLeast(ver, 21) && ctx.isAdmin) out.provider_id = null;
  if (atLeast(ver, 48)) {
    // Each volume has its own target (tgt), so hosts never share one: false, as LVM reports.
    out.shared_targets = false;
    out.service_uuid = null;
  }
  if (atLeast(ver, 61) && ctx.isAdmin) out.cluster_name = null;
  if (atLeast(ver, 63)) out.volume_type_id = v.volumeTypeId;
  if (atLeast(ver, 64) && v.encryptionKeyId) out.encryption_key_id = v.encryptionKeyId;
  if (atLeast(ver, 65)) out.consumes_quota = true;
  return out;
}

/**
 * GET show and GET detail list: the detail plus what Cinder's controller extensions add to exactly those two
 * methods (cinder/api/contrib/volume_tenant_attribute.py, volume_host_attribute.py, volume_mig_status_attribute.py;
 * the tenant attribute is any project reader's, the other two admin-only).
 */
export function volumeShown(base: LinkBase, ctx: RequestContext, v: VolumeInfo): Record<string, unknown> {
  const out = volumeDetail(base, ctx, v);
  out['os-vol-tenant-attr:tenant_id'] = v.projectId;
  if (ctx.isAdmin) {
    out['os-vol-host-attr:host'] = v.host ? `${v.host}@file#file` : null;
    out['os-vol-mig-status-attr:migstat'] = v.migrationStatus;
    out['os-vol-mig-status-attr:name_id'] = null;
  }
  return out;
}

export function volumeSummary(base: LinkBase, ctx: RequestContext, v: VolumeInfo) {
  return { id: v.id, name: v.name, links: volumeLinks(base, ctx, v.id) };
}

/** cinder/api/v3/views/volumes.py quick_summary: metadata from 3.36 (VOLUME_SUMMARY_METADATA). */
export function volumeSummaryView(ctx: RequestContext, s: VolumeSummaryInfo) {
  const summary: Record<string, unknown> = { total_count: s.totalCount, total_size: s.totalSize };
  if (atLeast(ctx.version, 36)) summary.metadata = s.metadata;
  return { 'volume-summary': summary };
}
