// The CVE-2023-2088 guard (docs/cinder-compatibility.md#volume-actions): a user may not pull a volume from under a running instance.
import { invalidInput } from '../errors.js';
import type { RequestContext } from './context.js';
import * as attachments from '../store/attachments.js';
import type { Deps } from './deps.js';
import { conflict } from './policy.js';

/**
 * We never ask Nova, so an attachment that has both an instance and connection_info (only the attachments
 * API writes connection_info) is treated as in use by Nova; only a service token may remove it.
 */
export async function deletionAllowed(deps: Deps, ctx: RequestContext, volumeId: string, attachmentId: string | null | undefined): Promise<void> {
  if (ctx.isService) return;
  const db = deps.store.db;
  let att: attachments.AttachmentRow | undefined;
  if (attachmentId) {
    att = await attachments.findLiveAttachment(db, attachmentId);
    if (att && att.volume_id !== volumeId) throw invalidInput('Mismatched volume and attachment');
  } else {
    const live = await attachments.liveAttachments(db, [volumeId]);
    if (live.length === 0) return;
    if (live.length === 1) att = live[0];
  }
  if (att && (!att.instance_uuid || !att.connection_info)) return;
  throw conflict(`ConflictNovaUsingAttachment: Detach volume from instance ${att?.instance_uuid ?? 'None'} using the Compute API`);
}
