// Export and ACL bookkeeping: when a volume's target exists, and which initiators may log in to it.
//
// Better than Cinder (reference 9), by design:
// - The export (target) goes only when the LAST live attachment goes, not on every os-detach.
// - An initiator leaves the ACL only when no other live attachment came through it (LVM+LIO bug #1786327).
//   The legacy os-attach carries no connector, so os-initialize_connection records its connector as a
//   "pending connection" (volume, initiator) and the next os-attach on that volume claims the newest one,
//   copying connector and initiator onto the attachment row. That row is how later detaches know who
//   still needs the initiator.
// - A pending connection from another initiator keeps the export alive: it is an attach in flight.
// - One initiator has one ACL entry per target, shared by every attachment that came through it: rw while
//   any of them is rw, else ro (allowedInitiators, the one place this rule is written).
import type { AccessMode, Connector, VolumeRef } from '../host/types.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import type { Db } from '../store/schema.js';
import { formatProviderAuth } from '../host/provider.js';
import { generateChapCredentials } from '../util/chap.js';
import type { Deps } from './deps.js';
import { volumeRef } from './loader.js';
import { connectionInfo } from './connection-info.js';
import type { ConnectionInfo } from './model.js';
import { SYSTEM_ACTOR, tracked } from './events.js';

/** What allowedInitiators reads of an attachment row. */
export type AclAttachment = Pick<attachments.AttachmentRow, 'initiator' | 'attach_status' | 'attach_mode'>;
/** What allowedInitiators reads of a pending connection (its connector JSON carries the mode it was opened in). */
export type AclPending = Pick<connections.ConnectionRow, 'initiator' | 'connector'>;

/**
 * Which initiators may log in to a volume, and in which mode: every initiator of a live, non-error
 * attachment or of a pending connection; rw when any of them is rw, else ro.
 */
export function allowedInitiators(live: readonly AclAttachment[], pending: readonly AclPending[]): Map<string, AccessMode> {
  const out = new Map<string, AccessMode>();
  const add = (initiator: string, mode: AccessMode) => {
    if (out.get(initiator) !== 'rw') out.set(initiator, mode);
  };
  for (const a of live) {
    if (a.initiator && !a.attach_status.startsWith('error_')) add(a.initiator, a.attach_mode === 'ro' ? 'ro' : 'rw');
  }
  for (const p of pending) add(p.initiator, pendingMode(p.connector));
  return out;
}

function pendingMode(connectorJson: string): AccessMode {
  try {
    return (JSON.parse(connectorJson) as Connector).mode === 'ro' ? 'ro' : 'rw';
  } catch {
    return 'rw';
  }
}

/** allowedInitiators over the volume's rows as `db` sees them now. */
export async function allowedInitiatorsOf(db: Db, volumeId: string): Promise<Map<string, AccessMode>> {
  // One query after the other: `db` may be a transaction, which has one connection.
  const live = await attachments.liveAttachments(db, [volumeId]);
  return allowedInitiators(live, await connections.pendingFor(db, volumeId));
}

/** The ACL as the host takes it. */
export function aclEntries(allowed: Map<string, AccessMode>): { initiator: string; mode: AccessMode }[] {
  return [...allowed].map(([initiator, mode]) => ({ initiator, mode }));
}

/**
 * create_export + initialize_connection (reference 4.1): the export, the initiator's ACL entry in
 * `aclMode`, and the connection data with `accessMode`. The two modes differ only when several
 * attachments share one initiator's ACL entry (an rw one keeps it rw). On failure it removes what it
 * made and throws the backend error as is.
 */
export async function openConnection(
  deps: Deps,
  row: volumes.VolumeRow,
  connector: { initiator: string; connector: Connector },
  modes: { aclMode: AccessMode; accessMode: AccessMode },
): Promise<ConnectionInfo> {
  const { store, host } = deps;
  const db = store.db;
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
    return connectionInfo(db, row, data as unknown as Record<string, unknown>, connector.connector, modes.accessMode);
  } catch (err) {
    if (exported) await undoExport(deps, ref, connector.initiator, wasExported);
    throw err;
  }
}

/** Removes what a failed connection made, and nothing that live attachments still use. */
export async function undoExport(deps: Deps, ref: VolumeRef, initiator: string, wasExported: boolean): Promise<void> {
  const { store, host, logger } = deps;
  const db = store.db;
  try {
    const live = await attachments.liveAttachments(db, [ref.id]);
    const pending = await connections.pendingFor(db, ref.id);
    if (!wasExported && live.length === 0 && pending.length === 0) {
      await host.removeExport(ref);
      await volumes.updateVolume(db, ref.id, { provider_location: null });
    } else if (!allowedInitiators(live, pending).has(initiator)) {
      await host.terminateConnection(ref, initiator);
    }
  } catch (err) {
    logger.error({ err, volumeId: ref.id }, 'cleanup after a failed connection failed');
  }
}

/**
 * After an attachment row is gone (committed): drop the export if nothing else needs it, else drop just
 * this attachment's initiator if nothing else uses it. Backend errors are logged, never undo the detach
 * (Cinder bug #1935057: a failed remove_export must not leave the row half-detached).
 */
export async function cleanupAfterDetach(deps: Deps, ref: VolumeRef, gone: Pick<attachments.AttachmentRow, 'initiator'>): Promise<void> {
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
    if (gone.initiator && !allowedInitiators(live, pending).has(gone.initiator)) await host.terminateConnection(ref, gone.initiator);
  } catch (err) {
    logger.error({ err, volumeId: ref.id }, 'export cleanup after detach failed; the target may keep an ACL entry until the next detach or restart');
  }
}

/**
 * Brings the initiator's ACL entry in line with the rows: re-allowed in the right mode, or removed (with
 * its sessions) when nothing uses it. Backend errors are logged: the rows are already right, and the next
 * attach or restart reapplies them.
 */
export async function refreshInitiatorAcl(deps: Deps, ref: VolumeRef, initiator: string): Promise<void> {
  if (!ref.providerLocation) return;
  try {
    const mode = (await allowedInitiatorsOf(deps.store.db, ref.id)).get(initiator);
    if (mode === undefined) await deps.host.terminateConnection(ref, initiator);
    else await deps.host.initializeConnection(ref, { initiator }, mode);
  } catch (err) {
    deps.logger.error({ err, volumeId: ref.id, initiator }, 'ACL refresh failed; the entry is corrected on the next attach or restart');
  }
}

/** The export goes when no live attachment and no pending connection needs it (a failed attach rolled back). */
export async function removeExportIfUnused(deps: Deps, id: string): Promise<void> {
  const { store, host, logger } = deps;
  const db = store.db;
  const now = await volumes.findVolume(db, id);
  if (!now?.provider_location) return;
  const [live, pending] = await Promise.all([attachments.liveAttachments(db, [id]), connections.pendingFor(db, id)]);
  if (live.length > 0 || pending.length > 0) return;
  try {
    await host.removeExport(volumeRef(now));
    await volumes.updateVolume(db, id, { provider_location: null });
  } catch (err) {
    logger.error({ err, volumeId: id }, 'removing an unused export failed; the reconciler retries');
  }
}

/** Recreates a volume's target with the ACL its rows call for (a restart, or a target that vanished). */
export async function restoreExport(deps: Deps, row: volumes.VolumeRow): Promise<void> {
  await deps.host.ensureExport(volumeRef(row), aclEntries(await allowedInitiatorsOf(deps.store.db, row.id)));
}

/** ensure_export for every exported volume at start (reference 4.6, extended to every attach state). */
export async function restoreExports(deps: Deps): Promise<void> {
  const { store, host, logger } = deps;
  const db = store.db;
  for (const row of await volumes.exportedVolumes(db, host.hostName)) {
    try {
      const [live, pending] = await Promise.all([attachments.liveAttachments(db, [row.id]), connections.pendingFor(db, row.id)]);
      if (live.every((a) => a.attach_status.startsWith('error_')) && pending.length === 0) {
        // Nothing uses the export: do not resurrect it (the next initialize_connection recreates it).
        await host.removeExport(volumeRef(row));
        await volumes.updateVolume(db, row.id, { provider_location: null });
      } else {
        await host.ensureExport(volumeRef(row), aclEntries(allowedInitiators(live, pending)));
      }
    } catch (err) {
      logger.error({ err, volumeId: row.id }, 'ensure_export failed');
      await tracked(deps, SYSTEM_ACTOR, 'restore_export', row.id, (trx) => volumes.casVolume(trx, row.id, { status: 'error' }, { status: ['in-use'] }), {
        reason: `the export could not be restored: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      });
    }
  }
}
