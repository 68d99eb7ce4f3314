// os-initialize_connection / os-terminate_connection and the export bookkeeping around them.
//
// Better than Cinder (reference 9), by design:
// - The export (target) goes only when the LAST live attachment goes, not on every os-detach.
// - An initiator leaves the ACL only when no other live attachment came through it (LVM+LIO bug #1786327).
//   The legacy os-attach carries no connector, so os-initialize_connection records its connector as a
//   "pending connection" (volume, initiator) and the next os-attach on that volume claims the newest one,
//   copying connector and initiator onto the attachment row. That row is how later detaches know who
//   still needs the initiator.
// - A pending connection from another initiator keeps the export alive: it is an attach in flight.
import { CinderFault, invalidInput, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import type { AccessMode, Connector, VolumeRef } from '../host/types.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import * as types from '../store/types.js';
import type { Deps } from './deps.js';
import { loadRow, volumeRef } from './loader.js';
import { conflict, requireMember } from './policy.js';
import type { ConnectionInfo } from './model.js';
import { formatProviderAuth } from '../host/provider.js';
import { generateChapCredentials } from '../util/chap.js';
import { actorOf, SYSTEM_ACTOR, tracked } from './events.js';

/** No export may be made for a volume whose backing file is being made or removed. */
const CONNECT_REFUSED_STATUSES = ['creating', 'deleting', 'error_deleting'];

/** validate_connector of Cinder's iSCSI targets: `initiator` is required (reference 5). */
export function validateConnector(connector: unknown): { initiator: string; connector: Connector } {
  const c = connector as Connector | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c) || typeof c.initiator !== 'string' || c.initiator.trim() === '') {
    throw invalidInput("Connector doesn't have required information: initiator");
  }
  return { initiator: c.initiator, connector: c };
}

/** The initiator a terminate call names, if any (tgt-style callers may send a null or string connector). */
function initiatorOf(connector: unknown): string | null {
  const c = connector as Connector | null;
  if (c && typeof c === 'object' && typeof c.initiator === 'string' && c.initiator !== '') return c.initiator;
  return null;
}

/** Reference 4.1 step 6: attached_mode wins, else readonly, else rw. */
export function accessModeFor(adminMeta: Record<string, string>): AccessMode {
  if (adminMeta.attached_mode === 'ro' || adminMeta.attached_mode === 'rw') return adminMeta.attached_mode;
  return adminMeta.readonly === 'True' ? 'ro' : 'rw';
}

/**
 * CVE-2023-2088 guard (reference 2.0). We never ask Nova, so an attachment that has both an instance and
 * connection_info (only the future attachments API writes connection_info) is treated as in use by Nova.
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

/**
 * After an attachment row is gone (committed): drop the export if nothing else needs it, else drop just
 * this attachment's initiator if nothing else uses it. Backend errors are logged, never undo the detach
 * (Cinder bug #1935057: a failed remove_export must not leave the row half-detached).
 */
export async function cleanupAfterDetach(deps: Deps, ref: VolumeRef, gone: attachments.AttachmentRow): Promise<void> {
  const { store, host, logger } = deps;
  if (!ref.providerLocation) return;
  try {
    const [live, pending] = await Promise.all([attachments.liveAttachments(store.db, [ref.id]), connections.pendingFor(store.db, ref.id)]);
    const othersPending = pending.filter((p) => p.initiator !== gone.initiator);
    if (live.length === 0 && othersPending.length === 0) {
      await host.removeExport(ref);
      await store.transaction(async (trx) => {
        await connections.dropPending(trx, ref.id);
        await volumes.updateVolume(trx, ref.id, { provider_location: null });
      });
      return;
    }
    if (gone.initiator) {
      const users = await attachments.countLiveUsingInitiator(store.db, ref.id, gone.initiator);
      const stillPending = pending.some((p) => p.initiator === gone.initiator);
      if (users === 0 && !stillPending) await host.terminateConnection(ref, gone.initiator);
    }
  } catch (err) {
    logger.error({ err, volumeId: ref.id }, 'export cleanup after detach failed; the target may keep an ACL entry until the next detach or restart');
  }
}

export function connectionActions(deps: Deps) {
  const { store, host, logger } = deps;
  const db = store.db;

  async function buildData(
    row: volumes.VolumeRow,
    data: Record<string, unknown>,
    connector: Connector,
    mode: AccessMode,
  ): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {
      target_discovered: data.target_discovered ?? false,
      target_portal: data.target_portal,
      target_iqn: data.target_iqn,
      target_lun: data.target_lun,
    };
    const portals = data.target_portals as string[] | undefined;
    if ((portals && portals.length > 1) || connector.multipath) {
      const list = portals ?? [data.target_portal as string];
      out.target_portals = list;
      out.target_iqns = (data.target_iqns as string[] | undefined) ?? list.map(() => data.target_iqn);
      out.target_luns = (data.target_luns as number[] | undefined) ?? list.map(() => data.target_lun);
    }
    out.volume_id = row.id;
    if (data.auth_method) {
      out.auth_method = data.auth_method;
      out.auth_username = data.auth_username;
      out.auth_password = data.auth_password;
    }
    // Keys the host adds beyond the contract (e.g. discard) pass through.
    for (const [k, v] of Object.entries(data)) if (!(k in out) && !k.startsWith('target_')) out[k] = v;
    out.encrypted = row.encryption_key_id !== null;
    out.qos_specs = null;
    out.access_mode = mode;
    if (row.volume_type_id) {
      const specs = (await types.getExtraSpecs(db, [row.volume_type_id])).get(row.volume_type_id) ?? {};
      out.cacheable = specs.cacheable === '<is> True';
    }
    return out;
  }

  /**
   * create_export + initialize_connection (reference 4.1): the export, the initiator's ACL entry in
   * `aclMode`, and the connection data with `accessMode`. The two modes differ only when several
   * attachments share one initiator's ACL entry (an rw one keeps it rw). On failure it removes what it
   * made and throws the backend error as is.
   */
  async function openConnection(
    row: volumes.VolumeRow,
    connector: { initiator: string; connector: Connector },
    modes: { aclMode: AccessMode; accessMode: AccessMode },
  ): Promise<ConnectionInfo> {
    const wasExported = row.provider_location !== null;
    // Two first connections at once (multiattach) would each generate CHAP credentials and the second
    // would lock out the first; the database decides which set the target gets.
    const providerAuth = row.provider_auth ?? (await volumes.claimProviderAuth(db, row.id, formatProviderAuth(generateChapCredentials())));
    let ref = { ...volumeRef(row), providerAuth };
    let exported = false;
    try {
      const model = await host.createExport(ref);
      exported = true;
      await volumes.updateVolume(db, row.id, { provider_location: model.providerLocation, provider_auth: model.providerAuth });
      ref = { ...ref, providerLocation: model.providerLocation, providerAuth: model.providerAuth };
      const data = await host.initializeConnection(ref, connector.connector, modes.aclMode);
      return { driver_volume_type: 'iscsi', data: await buildData(row, data as unknown as Record<string, unknown>, connector.connector, modes.accessMode) };
    } catch (err) {
      if (exported) await undoExport(ref, connector.initiator, wasExported);
      throw err;
    }
  }

  async function initializeConnection(ctx: RequestContext, id: string, connector: unknown): Promise<ConnectionInfo> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:initialize_connection');
    if (row.status === 'maintenance') throw invalidVolume('The volume connection cannot be initialized in maintenance mode.');
    if (CONNECT_REFUSED_STATUSES.includes(row.status)) {
      throw invalidVolume(`The volume connection cannot be initialized while its status is ${row.status}.`);
    }
    const valid = validateConnector(connector);
    const adminMeta = (await volumes.getMetadata(db, 'volume_admin_metadata', [id])).get(id) ?? {};
    const mode = accessModeFor(adminMeta);
    try {
      const info = await openConnection(row, valid, { aclMode: mode, accessMode: mode });
      await connections.recordPending(db, id, valid.initiator, JSON.stringify(valid.connector));
      return info;
    } catch (err) {
      if (err instanceof CinderFault && err.status < 500) throw err;
      logger.error({ err, volumeId: id }, 'initialize_connection failed');
      // A delete that won the race is the client's problem to hear about, not a backend failure.
      const now = await volumes.findVolume(db, id);
      if (!now || CONNECT_REFUSED_STATUSES.includes(now.status)) {
        throw invalidVolume(`The volume connection cannot be initialized while its status is ${now?.status ?? 'deleted'}.`);
      }
      throw new CinderFault(500, 'Unable to fetch connection information from backend.');
    }
  }

  /** Removes what a failed initialize_connection made, and nothing that live attachments still use. */
  async function undoExport(ref: VolumeRef, initiator: string, wasExported: boolean): Promise<void> {
    try {
      const live = await attachments.liveAttachments(db, [ref.id]);
      const pending = await connections.pendingFor(db, ref.id);
      if (!wasExported && live.length === 0 && pending.length === 0) {
        await host.removeExport(ref);
        await volumes.updateVolume(db, ref.id, { provider_location: null });
      } else if ((await attachments.countLiveUsingInitiator(db, ref.id, initiator)) === 0 && !pending.some((p) => p.initiator === initiator)) {
        await host.terminateConnection(ref, initiator);
      }
    } catch (err) {
      logger.error({ err, volumeId: ref.id }, 'cleanup after failed initialize_connection failed');
    }
  }

  async function terminateConnection(ctx: RequestContext, id: string, connector: unknown): Promise<void> {
    const row = await loadRow(db, ctx, id);
    requireMember(ctx, 'volume_extension:volume_actions:terminate_connection');
    await deletionAllowed(deps, ctx, id, null);
    await revokeInitiator(row, connector);
    // Cinder's API unreserves after terminate, so a failed attach rolls back (attaching -> available/in-use).
    await tracked(deps, actorOf(ctx), 'terminate_connection', id, (trx) => volumes.unreserve(trx, id));
    // Better than Cinder: a rolled-back attach leaves no target behind when nothing else needs it.
    await removeExportIfUnused(id);
  }

  /** The export goes when no live attachment and no pending connection needs it (a failed attach rolled back). */
  async function removeExportIfUnused(id: string): Promise<void> {
    const now = await volumes.findVolume(db, id);
    if (!now?.provider_location) return;
    const [live, pending] = await Promise.all([attachments.liveAttachments(db, [id]), connections.pendingFor(db, id)]);
    if (live.length > 0 || pending.length > 0) return;
    try {
      await host.removeExport(volumeRef(now));
      await volumes.updateVolume(db, id, { provider_location: null });
    } catch (err) {
      logger.error({ err, volumeId: id }, 'removing an unused export after terminate_connection failed; the reconciler retries');
    }
  }

  /** terminate_connection's backend half, shared with os-force_detach. */
  async function revokeInitiator(row: volumes.VolumeRow, connector: unknown): Promise<void> {
    const initiator = initiatorOf(connector);
    if (!initiator) return;
    const revoke = await store.transaction(async (trx) => {
      await connections.dropPending(trx, row.id, initiator);
      const users = await attachments.countLiveUsingInitiator(trx, row.id, initiator);
      const now = await volumes.findVolume(trx, row.id);
      // While detaching, one of the users is the attachment on its way out; otherwise (a failed attach
      // rolling back) any live user keeps the entry.
      return users <= (now?.status === 'detaching' ? 1 : 0);
    });
    if (!revoke || !row.provider_location) return;
    try {
      await host.terminateConnection(volumeRef(row), initiator);
    } catch (err) {
      logger.error({ err, volumeId: row.id }, 'terminate_connection failed');
      throw new CinderFault(500, 'Unable to terminate volume connection from backend.');
    }
  }

  /** ensure_export for every exported volume at start (reference 4.6, extended to every attach state). */
  async function restoreExports(): Promise<void> {
    const rows = await volumes.exportedVolumes(db, host.hostName);
    for (const row of rows) {
      const ref = volumeRef(row);
      const live = (await attachments.liveAttachments(db, [row.id])).filter((a) => !a.attach_status.startsWith('error_'));
      const pending = await connections.pendingFor(db, row.id);
      const initiators = new Map<string, AccessMode>();
      // Attachments sharing an initiator share its ACL entry: one rw attachment keeps it rw.
      for (const a of live) if (a.initiator && initiators.get(a.initiator) !== 'rw') initiators.set(a.initiator, a.attach_mode === 'ro' ? 'ro' : 'rw');
      for (const p of pending) if (!initiators.has(p.initiator)) initiators.set(p.initiator, 'rw');
      try {
        if (live.length === 0 && pending.length === 0) {
          // Nothing uses the export: do not resurrect it (the next initialize_connection recreates it).
          await host.removeExport(ref);
          await volumes.updateVolume(db, row.id, { provider_location: null });
        } else {
          await host.ensureExport(ref, [...initiators].map(([initiator, mode]) => ({ initiator, mode })));
        }
      } catch (err) {
        logger.error({ err, volumeId: row.id }, 'ensure_export failed');
        await tracked(deps, SYSTEM_ACTOR, 'restore_export', row.id, (trx) => volumes.casVolume(trx, row.id, { status: 'error' }, { status: ['in-use'] }), {
          reason: `the export could not be restored: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        });
      }
    }
  }

  return { initializeConnection, openConnection, undoExport, terminateConnection, revokeInitiator, restoreExports };
}
