// The attachments API (docs/cinder-compatibility.md#attachments-api): create (reserve, optionally connect), update (connect), complete,
// delete, list, show. Nova uses it from 3.44 on.
//
// Where this differs from Cinder 21, on purpose:
// - Every precondition is checked before anything is written: a connector without an initiator is a 400
//   and leaves no reserved row behind (Cinder answers 500 and keeps the volume reserved).
// - A failed connect is rolled back: the row returns to what it was (create removes it again).
// - A multiattach volume accepts a new attachment while another is still reserved or attaching (each
//   attachment is its own row; Cinder's status lock refuses the second with 400 until the first completes).
// - The volume's status is derived from its attachment rows (docs/cinder-compatibility.md#status-derivation) after every change, so an
//   in-use multiattach volume stays in-use while another host attaches (Cinder shows it reserved/attaching,
//   which then makes os-begin_detaching of the attached host fail).
// - access_mode follows the attachment's mode (3.54 `mode`, connector `mode`, the readonly flag); Cinder
//   drops the 3.54 mode. The target gets a read-only ACL entry unless another live attachment from the same
//   initiator is rw (one initiator has one ACL entry).
// - A connection is claimed in the database before the host is called: a second connector on a
//   non-multiattach volume gets 409 even when both updates race.
import { randomUUID } from 'node:crypto';
import { CinderFault, invalidInput, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import type { AccessMode, Connector } from '../host/types.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import { dbBool, nowTimestamp, toBool } from '../store/schema.js';
import type { Deps } from './deps.js';
import { orList } from './states.js';
import { attachmentInfo, loadRow } from './loader.js';
import { canSeeProject, conflict, requireMember } from './policy.js';
import { validateConnector } from './connector.js';
import { deletionAllowed } from './deletion-guard.js';
import type { attachActions } from './attach.js';
import { allowedInitiatorsOf, cleanupAfterDetach, openConnection, refreshInitiatorAcl, releaseInitiator } from './exports.js';
import { hostFault, isClientFault } from './host-faults.js';
import { actorOf, tracked, type Actor } from './events.js';
import { markerNotFound, pageLimit, resolveSort, splitPage } from './paging.js';
import type {
  AttachmentRecord,
  AttachmentsWorkflow,
  AttachRequest,
  CreateAttachmentRequest,
  ListAttachmentsRequest,
  ListAttachmentsResult,
} from './model.js';

export const attachmentNotFound = (id: string) => new CinderFault(404, `Volume attachment could not be found with filter: attachment_id = ${id}.`);

/** Statuses from which an attachment may be reserved (Cinder's _attachment_reserve, plus in-flight ones for multiattach). */
const RESERVE_FROM = ['available', 'downloading'];
const RESERVE_FROM_MULTIATTACH = ['available', 'in-use', 'downloading', 'reserved', 'attaching'];

const SORT_KEYS: Record<string, attachments.AttachmentSortKey> = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  id: 'id',
  status: 'attach_status',
  attach_status: 'attach_status',
  volume_id: 'volume_id',
  instance_id: 'instance_uuid',
  instance_uuid: 'instance_uuid',
  attached_at: 'attach_time',
  attach_time: 'attach_time',
};

function record(row: attachments.AttachmentRow): AttachmentRecord {
  let connectionInfo: Record<string, unknown> | null = null;
  if (row.connection_info) {
    try {
      connectionInfo = JSON.parse(row.connection_info) as Record<string, unknown>;
    } catch {
      connectionInfo = null;
    }
  }
  return { ...attachmentInfo(row), connectionInfo };
}

/** null, {} and a missing connector all mean "reserve only" (cinderclient sends {} without --connect). */
function hasConnector(c: unknown): boolean {
  return c !== null && c !== undefined && !(typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0);
}

function isReadonly(adminMeta: Record<string, string>): boolean {
  return (adminMeta.readonly ?? '').toLowerCase() === 'true';
}

/** The attachment's mode: readonly flag, else its stored mode, else the connector's, else rw (Cinder's manager order). */
function resolveMode(attachMode: string | null, connector: Connector, adminMeta: Record<string, string>): AccessMode {
  if (isReadonly(adminMeta)) return 'ro';
  if (attachMode === 'ro' || attachMode === 'rw') return attachMode;
  return connector.mode === 'ro' ? 'ro' : 'rw';
}

export function attachmentsActions(
  deps: Deps,
  legacy: Pick<ReturnType<typeof attachActions>, 'attach'>,
): AttachmentsWorkflow & { attach(ctx: RequestContext, id: string, req: AttachRequest): Promise<void> } {
  const { store, logger } = deps;
  const db = store.db;

  /** The attachment and its volume if the caller may see them; another project's attachment is 404. */
  async function load(ctx: RequestContext, id: string): Promise<{ att: attachments.AttachmentRow; vol: volumes.VolumeRow }> {
    const att = await attachments.findLiveAttachment(db, id);
    const vol = att ? await volumes.findVolume(db, att.volume_id) : undefined;
    if (!att || !vol || !canSeeProject(ctx, vol.project_id)) throw attachmentNotFound(id);
    return { att, vol };
  }

  async function adminMetadata(volumeId: string): Promise<Record<string, string>> {
    return (await volumes.getMetadata(db, 'volume_admin_metadata', [volumeId])).get(volumeId) ?? {};
  }

  /**
   * Manager attachment_update: claims the connection on the row (the lock against a second connector),
   * opens it on the host, stores the flattened connection_info. Rolls the row back when the host fails.
   */
  async function connect(
    actor: Actor,
    attachmentId: string,
    volumeId: string,
    rawConnector: Connector,
    opts: { checkDuplicate: boolean },
  ): Promise<attachments.AttachmentRow> {
    const valid = validateConnector(rawConnector);
    const adminMeta = await adminMetadata(volumeId);
    // tracked(): one transaction that also records the transition and sets the lease of the interim state.
    const claimed = await tracked(deps, actor, 'attachment_update', volumeId, async (trx) => {
      const before = await attachments.findLiveAttachment(trx, attachmentId);
      const vol = await volumes.findVolume(trx, volumeId);
      if (!before || !vol) throw attachmentNotFound(attachmentId);
      if (vol.status.includes('error')) {
        throw conflict(`Volume ${volumeId} is in status ${vol.status}; an attachment cannot be connected until an administrator resets it.`);
      }
      if (vol.status === 'maintenance') throw invalidVolume('The volume connection cannot be initialized in maintenance mode.');
      if (opts.checkDuplicate && !toBool(vol.multiattach)) {
        const others = (await attachments.liveAttachments(trx, [volumeId])).filter(
          (a) => a.id !== attachmentId && a.connector !== null && !a.attach_status.startsWith('error_'),
        );
        if (others.length > 0) {
          throw conflict(
            `duplicate connectors detected on volume ${volumeId}: attachment ${others[0].id} is already connected and the volume is not multiattach. ` +
              'Delete that attachment first, or use a multiattach volume type.',
          );
        }
      }
      const mode = resolveMode(before.attach_mode, valid.connector, adminMeta);
      const connector: Connector = { ...valid.connector, mode };
      await attachments.updateAttachment(trx, attachmentId, {
        connector: JSON.stringify(connector),
        initiator: valid.initiator,
        connection_info: null,
        attach_status: 'attaching',
        mountpoint: typeof connector.mountpoint === 'string' && connector.mountpoint !== '' ? connector.mountpoint : 'na',
        attached_host: typeof connector.host === 'string' ? connector.host : null,
        attach_time: nowTimestamp(),
        attach_mode: mode,
      });
      await attachments.recomputeVolumeStatus(trx, volumeId);
      const aclMode = (await allowedInitiatorsOf(trx, volumeId)).get(valid.initiator)!;
      return { before, vol: (await volumes.findVolume(trx, volumeId))!, mode, connector, aclMode };
    }, { scope: 'volume' });

    let info;
    try {
      info = await openConnection(deps, claimed.vol, { initiator: valid.initiator, connector: claimed.connector }, { aclMode: claimed.aclMode, accessMode: claimed.mode });
    } catch (err) {
      const b = claimed.before;
      await tracked(deps, actor, 'attachment_update_failed', volumeId, async (trx) => {
        await attachments.updateAttachment(trx, attachmentId, {
          connector: b.connector,
          initiator: b.initiator,
          connection_info: b.connection_info,
          attach_status: b.attach_status,
          mountpoint: b.mountpoint,
          attached_host: b.attached_host,
          attach_time: b.attach_time,
          attach_mode: b.attach_mode,
        });
        await attachments.recomputeVolumeStatus(trx, volumeId);
      }, { reason: 'the volume host could not open the connection', scope: 'volume' });
      // The row no longer names this initiator: drop its ACL entry unless someone else uses it.
      const now = await volumes.findVolume(db, volumeId);
      if (now?.provider_location && b.initiator !== valid.initiator) {
        await releaseInitiator(deps, now, valid.initiator, true);
      }
      if (!isClientFault(err)) logger.error({ err, volumeId, attachmentId }, 'attachment connect failed');
      throw hostFault(err, `Unable to update attachment ${attachmentId}: the volume host could not export volume ${volumeId}.`);
    }
    // Nova rebuilds the legacy shape from this: it pops attachment_id and driver_volume_type (docs/cinder-compatibility.md#attachment-connection-info).
    const flattened = { ...info.data, driver_volume_type: info.driver_volume_type, attachment_id: attachmentId };
    await attachments.updateAttachment(db, attachmentId, { connection_info: JSON.stringify(flattened) });

    // Re-pointed to another initiator: the old one leaves the ACL unless other attachments still use it.
    const old = claimed.before.initiator;
    if (old && old !== valid.initiator) {
      const vol = await volumes.findVolume(db, volumeId);
      if (vol) await refreshInitiatorAcl(deps, vol, [old]);
    }
    return (await attachments.findLiveAttachment(db, attachmentId))!;
  }

  async function createAttachment(ctx: RequestContext, req: CreateAttachmentRequest): Promise<AttachmentRecord> {
    const vol = await loadRow(db, ctx, req.volumeId);
    requireMember(ctx, 'volume:attachment_create');
    const id = vol.id;
    if (vol.status.includes('error')) {
      throw invalidVolume(
        `Volume attachments can not be created if the volume is in an error state. The Volume ${id} currently has a status of: ${vol.status} `,
      );
    }
    const connector = hasConnector(req.connector) ? validateConnector(req.connector).connector : null;
    const adminMeta = await adminMetadata(id);
    const multiattach = toBool(vol.multiattach);
    const allowed = multiattach ? RESERVE_FROM_MULTIATTACH : RESERVE_FROM;
    const attachmentId = randomUUID();
    await tracked(deps, actorOf(ctx), 'attachment_create', id, async (trx) => {
      let ok = await volumes.casVolume(trx, id, { status: 'reserved' }, { status: allowed, multiattach });
      const cur = await volumes.findVolume(trx, id);
      if (!ok && req.instanceUuid && cur && ['in-use', 'reserved'].includes(cur.status)) {
        // The same instance attaching again (Nova live migration, Cinder bug #1694530) is allowed.
        ok = (await attachments.liveAttachments(trx, [id])).some((a) => a.instance_uuid === req.instanceUuid);
      }
      if (!ok) {
        throw invalidVolume(`Volume ${id} status must be ${orList(allowed)} to reserve, but the current status is ${cur?.status ?? 'deleted'}.`);
      }
      const ts = nowTimestamp();
      await attachments.insertAttachment(trx, {
        id: attachmentId,
        volume_id: id,
        instance_uuid: req.instanceUuid ?? null,
        attached_host: null,
        mountpoint: null,
        attach_time: null,
        detach_time: null,
        attach_status: 'reserved',
        // Cinder stores the literal 'null' until an update picks the mode (docs/cinder-compatibility.md#attachment-rows).
        attach_mode: isReadonly(adminMeta) ? 'ro' : (req.mode ?? 'null'),
        connection_info: null,
        connector: null,
        initiator: null,
        created_at: ts,
        updated_at: null,
        deleted_at: null,
        deleted: dbBool(false),
      });
      await attachments.recomputeVolumeStatus(trx, id);
    }, { scope: 'volume' });
    if (!connector) return record((await attachments.findLiveAttachment(db, attachmentId))!);
    try {
      // Live migration creates the destination attachment with its connector; Cinder skips the duplicate check here too.
      return record(await connect(actorOf(ctx), attachmentId, id, connector, { checkDuplicate: false }));
    } catch (err) {
      // Never leave a reserved row behind for a create the client saw fail.
      await tracked(deps, actorOf(ctx), 'attachment_create_failed', id, async (trx) => {
        await attachments.softDeleteAttachment(trx, attachmentId);
        await attachments.recomputeVolumeStatus(trx, id);
      }, { scope: 'volume' });
      const now = await volumes.findVolume(db, id);
      if (now) await cleanupAfterDetach(deps, now, (await attachments.findAttachmentEvenDeleted(db, attachmentId))!);
      if (err instanceof CinderFault && err.status === 500) {
        throw new CinderFault(500, `Unable to create attachment for volume ${id}: the volume host could not export it.`);
      }
      throw err;
    }
  }

  async function updateAttachment(ctx: RequestContext, id: string, connector: unknown): Promise<AttachmentRecord> {
    const { vol } = await load(ctx, id);
    requireMember(ctx, 'volume:attachment_update');
    if (!hasConnector(connector) || typeof connector !== 'object' || Array.isArray(connector)) {
      throw invalidInput("Connector doesn't have required information: initiator");
    }
    return record(await connect(actorOf(ctx), id, vol.id, connector as Connector, { checkDuplicate: true }));
  }

  async function completeAttachment(ctx: RequestContext, id: string): Promise<void> {
    const { vol } = await load(ctx, id);
    requireMember(ctx, 'volume:attachment_complete');
    // Unconditional, as in Cinder: Nova calls it after its host connected.
    await tracked(deps, actorOf(ctx), 'attachment_complete', vol.id, async (trx) => {
      await attachments.updateAttachment(trx, id, { attach_status: 'attached' });
      await attachments.recomputeVolumeStatus(trx, vol.id);
    }, { scope: 'volume' });
  }

  async function deleteAttachment(ctx: RequestContext, id: string): Promise<AttachmentRecord[]> {
    const { att, vol } = await load(ctx, id);
    requireMember(ctx, 'volume:attachment_delete');
    await deletionAllowed(deps, ctx, vol.id, id);
    await tracked(deps, actorOf(ctx), 'attachment_delete', vol.id, async (trx) => {
      await attachments.softDeleteAttachment(trx, id);
      await attachments.recomputeVolumeStatus(trx, vol.id);
    }, { scope: 'volume' });
    const now = await volumes.findVolume(db, vol.id);
    // The export goes with the last attachment; the initiator's ACL entry with its last user, and an rw
    // attachment that left ro ones from the same initiator behind makes the entry read-only.
    if (now) await cleanupAfterDetach(deps, now, att);
    return (await attachments.liveAttachments(db, [vol.id])).map(record);
  }

  async function getAttachment(ctx: RequestContext, id: string): Promise<AttachmentRecord> {
    return record((await load(ctx, id)).att);
  }

  async function listAttachments(ctx: RequestContext, req: ListAttachmentsRequest): Promise<ListAttachmentsResult> {
    const allTenants = Boolean(req.allTenants && ctx.isAdmin);
    const projectId = allTenants ? (req.projectId ?? null) : ctx.projectId;
    const sort = resolveSort(req.sort, SORT_KEYS, { listKeys: true });
    let markerRow: attachments.AttachmentRow | undefined;
    if (req.marker) {
      markerRow = await attachments.findLiveAttachment(db, req.marker);
      const markerVol = markerRow ? await volumes.findVolume(db, markerRow.volume_id) : undefined;
      if (!markerRow || !markerVol || (projectId !== null && markerVol.project_id !== projectId)) {
        throw markerNotFound(req.marker);
      }
    }
    const limit = pageLimit(req.limit);
    const rows = await attachments.listAttachments(db, {
      projectId,
      volumeId: req.volumeId,
      attachStatus: req.attachStatus,
      instanceUuid: req.instanceUuid,
      sort,
      markerRow,
      limit: limit + 1,
      offset: req.offset,
    });
    const { page, nextMarker } = splitPage(rows, limit);
    return { attachments: page.map(record), nextMarker };
  }

  /**
   * Legacy os-attach: os-initialize_connection ran before os-attach told us the mode, so a read-only attach
   * narrows the initiator's ACL entry afterwards, and the target refuses writes from then on (unless another
   * rw attachment shares the entry).
   */
  async function attach(ctx: RequestContext, id: string, req: AttachRequest): Promise<void> {
    await legacy.attach(ctx, id, req);
    if (req.mode !== 'ro') return;
    const vol = await volumes.findVolume(db, id);
    if (!vol?.provider_location) return;
    const initiators = new Set((await attachments.liveAttachments(db, [id])).filter((a) => a.attach_mode === 'ro' && a.initiator).map((a) => a.initiator!));
    await refreshInitiatorAcl(deps, vol, [...initiators]);
  }

  return { createAttachment, listAttachments, getAttachment, updateAttachment, completeAttachment, deleteAttachment, attach };
}
