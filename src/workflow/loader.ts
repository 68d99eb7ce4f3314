// Reads volumes with everything their views need (type name, metadata, attachments) in a few queries.
import type { Db } from '../store/schema.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as types from '../store/volume-types.js';
import { toBool } from '../store/schema.js';
import { volumeNotFound } from '../errors.js';
import type { RequestContext } from './context.js';
import { canSeeProject } from './policy.js';
import type { AttachmentInfo, VolumeInfo } from './model.js';
import type { VolumeRef } from '../host/types.js';

export function attachmentInfo(r: attachments.AttachmentRow): AttachmentInfo {
  return {
    id: r.id,
    volumeId: r.volume_id,
    instanceUuid: r.instance_uuid,
    attachedHost: r.attached_host,
    mountpoint: r.mountpoint,
    attachTime: r.attach_time,
    detachTime: r.detach_time,
    attachStatus: r.attach_status,
    attachMode: r.attach_mode,
  };
}

export async function hydrate(db: Db, rows: volumes.VolumeRow[]): Promise<VolumeInfo[]> {
  const ids = rows.map((r) => r.id);
  const typeIds = [...new Set(rows.map((r) => r.volume_type_id).filter((t): t is string => t !== null))];
  const [meta, adminMeta, atts, typeRows] = await Promise.all([
    volumes.getMetadata(db, 'volume_metadata', ids),
    volumes.getMetadata(db, 'volume_admin_metadata', ids),
    attachments.liveAttachments(db, ids),
    Promise.all(typeIds.map((t) => types.findType(db, t, { includeDeleted: true }))),
  ]);
  const typeNames = new Map(typeRows.filter((t) => t !== undefined).map((t) => [t!.id, t!.name]));
  return rows.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    userId: r.user_id,
    name: r.name,
    description: r.description,
    size: r.size,
    status: r.status,
    attachStatus: r.attach_status,
    multiattach: toBool(r.multiattach),
    bootable: toBool(r.bootable),
    volumeTypeId: r.volume_type_id,
    volumeTypeName: r.volume_type_id ? (typeNames.get(r.volume_type_id) ?? null) : null,
    availabilityZone: r.availability_zone,
    host: r.host,
    migrationStatus: r.migration_status,
    encryptionKeyId: r.encryption_key_id,
    snapshotId: r.snapshot_id ?? null,
    sourceVolid: r.source_volid ?? null,
    groupId: r.group_id ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    metadata: meta.get(r.id) ?? {},
    adminMetadata: adminMeta.get(r.id) ?? {},
    attachments: atts.filter((a) => a.volume_id === r.id).map(attachmentInfo),
  }));
}

/** The volume row if the caller may see it, else Cinder's 404 (docs/cinder-compatibility.md#volume-actions: loaded before policy and state). */
export async function loadRow(db: Db, ctx: RequestContext, id: string): Promise<volumes.VolumeRow> {
  const row = await volumes.findVolume(db, id);
  if (!row || !canSeeProject(ctx, row.project_id)) throw volumeNotFound(id);
  return row;
}

export async function loadInfo(db: Db, ctx: RequestContext, id: string): Promise<VolumeInfo> {
  const row = await loadRow(db, ctx, id);
  return (await hydrate(db, [row]))[0];
}

export function volumeRef(row: volumes.VolumeRow): VolumeRef {
  return { id: row.id, sizeGiB: row.size, providerLocation: row.provider_location, providerAuth: row.provider_auth };
}
