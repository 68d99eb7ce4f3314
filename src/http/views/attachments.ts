// Attachment JSON (cinder/api/v3/views/attachments.py; docs/cinder-compatibility.md#attachments-api).
import type { AttachmentRecord } from '../../workflow/model.js';

/** {id, status, instance, volume_id}: what GET /attachments lists. */
export function attachmentSummary(a: AttachmentRecord): Record<string, unknown> {
  return { id: a.id, status: a.attachStatus, instance: a.instanceUuid, volume_id: a.volumeId };
}

/** Summary plus times, mode and the flattened connection_info. Cinder shows a missing time as "". */
export function attachmentDetail(a: AttachmentRecord): Record<string, unknown> {
  return {
    ...attachmentSummary(a),
    attached_at: a.attachTime ?? '',
    detached_at: a.detachTime ?? '',
    attach_mode: a.attachMode,
    connection_info: a.connectionInfo,
  };
}
