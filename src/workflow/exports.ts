// Export and ACL bookkeeping: when a volume's target exists, and which initiators may log in to it.
//
// Better than Cinder (docs/cinder-compatibility.md#known-weak-points), by design:
// - The export (target) goes only when the LAST live attachment goes, not on every os-detach.
// - An initiator leaves the ACL only when no other live attachment came through it (LVM+LIO bug #1786327).
//   The legacy os-attach carries no connector, so os-initialize_connection records its connector as a
//   "pending connection" (volume, initiator) and the next os-attach on that volume claims the newest one,
//   copying connector and initiator onto the attachment row. That row is how later detaches know who
//   still needs the initiator.
// - A pending connection from another initiator keeps the export alive: it is an attach in flight.
// - One initiator has one ACL entry per target, shared by every attachment that came through it: rw while
//   any of them is rw, else ro (allowedInitiators, the one place this rule is written).
import type { AccessMode, AclEntry, Connector, VolumeHost } from '../host/types.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import type { Db } from '../store/schema.js';
import { formatProviderAuth } from '../host/provider.js';
import { generateChapCredentials } from '../util/chap.js';
import type { Deps } from './deps.js';
import { volumeRef } from './loader.js';
import { connectionInfo } from './connection-info.js';
import { refWithQos, refWithSpecs } from './qos-specs.js';
import { qosSpecsOfType } from '../store/qos-specs.js';
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

/** The whole ACL as the host takes it (restart and reconcile: a recreated target starts empty). */
export function aclEntries(allowed: Map<string, AccessMode>): AclEntry[] {
  return [...allowed].map(([initiator, mode]) => ({ initiator, mode }));
}

/** The host that holds the volume (volumes.host). */
export function hostOf(deps: Deps, row: volumes.VolumeRow): VolumeHost {
  return deps.hosts.byName(row.host);
}

/**
 * create_export + initialize_connection (docs/cinder-compatibility.md#export-pipeline) as one host call: the export, the initiator's ACL
 * entry in `aclMode`, and the connection data with `accessMode`. The two modes differ only when several
 * attachments share one initiator's ACL entry (an rw one keeps it rw). The host rolls back what it made
 * when it fails; the error is thrown as is.
 */
export async function openConnection(
  deps: Deps,
  row: volumes.VolumeRow,
  connector: { initiator: string; connector: Connector },
  modes: { aclMode: AccessMode; accessMode: AccessMode },
): Promise<ConnectionInfo> {
  const db = deps.store.db;
  const host = hostOf(deps, row);
  // Two first connections at once (multiattach) would each generate CHAP credentials and the second
  // would lock out the first; the database decides which set the target gets.
  const providerAuth = row.provider_auth ?? (await volumes.claimProviderAuth(db, row.id, formatProviderAuth(generateChapCredentials())));
  const qosSpecs = await qosSpecsOfType(db, row.volume_type_id);
  const ref = { ...refWithSpecs(row, qosSpecs), providerAuth };
  const made = await host.connect(ref, { ...connector.connector, initiator: connector.initiator }, modes.aclMode);
  try {
    await volumes.updateVolume(db, row.id, { provider_location: made.providerLocation, provider_auth: made.providerAuth });
  } catch (err) {
    await releaseInitiator(deps, { ...row, provider_location: made.providerLocation }, connector.initiator, row.provider_location !== null);
    throw err;
  }
  return connectionInfo(db, row, qosSpecs, made.data as unknown as Record<string, unknown>, connector.connector, modes.accessMode);
}

/**
 * What a connection that did not happen leaves behind: the export when nothing needed it before and nothing
 * needs it now, else the initiator's entry when nothing uses it. Errors are logged (the reconciler retries).
 */
export async function releaseInitiator(deps: Deps, row: volumes.VolumeRow, initiator: string, wasExported: boolean): Promise<void> {
  const { store, logger } = deps;
  const db = store.db;
  try {
    const live = await attachments.liveAttachments(db, [row.id]);
    const pending = await connections.pendingFor(db, row.id);
    if (!wasExported && live.length === 0 && pending.length === 0) {
      await hostOf(deps, row).disconnect(volumeRef(row), null, { dropExport: true });
      await volumes.updateVolume(db, row.id, { provider_location: null });
    } else if (!allowedInitiators(live, pending).has(initiator)) {
      await hostOf(deps, row).disconnect(volumeRef(row), initiator, { dropExport: false });
    }
  } catch (err) {
    logger.error({ err, volumeId: row.id }, 'cleanup after a failed connection failed');
  }
}

/**
 * After an attachment row is gone (committed): drop the export if nothing else needs it, else bring the
 * gone attachment's initiator in line (denied when nothing else uses it, else narrowed to what its other
 * attachments need). Backend errors are logged, never undo the detach (Cinder bug #1935057: a failed
 * remove_export must not leave the row half-detached).
 */
export async function cleanupAfterDetach(deps: Deps, row: volumes.VolumeRow, gone: Pick<attachments.AttachmentRow, 'initiator'>): Promise<void> {
  const { store, logger } = deps;
  if (!row.provider_location) return;
  try {
    const [live, pending] = await Promise.all([attachments.liveAttachments(store.db, [row.id]), connections.pendingFor(store.db, row.id)]);
    const othersPending = pending.filter((p) => p.initiator !== gone.initiator);
    if (live.length === 0 && othersPending.length === 0) {
      await dropUnusedExport(deps, row, gone.initiator);
      return;
    }
    if (gone.initiator) await syncInitiators(deps, row, [gone.initiator], allowedInitiators(live, pending));
  } catch (err) {
    logger.error({ err, volumeId: row.id }, 'export cleanup after detach failed; the target may keep an ACL entry until the next detach or restart');
  }
}

/**
 * Brings the named initiators' ACL entries in line with the rows: allowed in the right mode, or removed
 * (with their sessions) when nothing uses them. Backend errors are logged: the rows are already right,
 * and the next attach or restart reapplies them.
 */
export async function refreshInitiatorAcl(deps: Deps, row: volumes.VolumeRow, initiators: string[]): Promise<void> {
  if (!row.provider_location || initiators.length === 0) return;
  try {
    await syncInitiators(deps, row, initiators, await allowedInitiatorsOf(deps.store.db, row.id));
  } catch (err) {
    deps.logger.error({ err, volumeId: row.id, initiators }, 'ACL refresh failed; the entry is corrected on the next attach or restart');
  }
}

/**
 * After a detach rolled back (begin_detaching past its lease, os-roll_detaching): its os-terminate_connection may
 * already have denied the leaving attachment's initiator (connection-actions.ts revokeInitiator), but that
 * attachment is live again, so every live attachment's initiator is allowed again. Found by the fault harness
 * (docs/reliability.md): without this the volume is in-use and its attachment's initiator cannot log in.
 */
export async function regrantAttachedInitiators(deps: Deps, volumeId: string): Promise<void> {
  const row = await volumes.findVolume(deps.store.db, volumeId);
  if (!row) return;
  const live = await attachments.liveAttachments(deps.store.db, [volumeId]);
  await refreshInitiatorAcl(deps, row, [...new Set(live.flatMap((a) => (a.initiator && !a.attach_status.startsWith('error_') ? [a.initiator] : [])))]);
}

/** Only the named entries: others may belong to a connection committed after `allowed` was read. */
async function syncInitiators(deps: Deps, row: volumes.VolumeRow, initiators: string[], allowed: Map<string, AccessMode>): Promise<void> {
  await hostOf(deps, row).syncExport(await refWithQos(deps.store.db, row), initiators.map((initiator) => ({ initiator, mode: allowed.get(initiator) ?? null })));
}

/**
 * remove_export of an export that nothing needed when the caller looked: the host drops it, then one transaction
 * re-reads the rows and clears provider_location (and the pending connections of `droppedInitiator`, whose
 * detach this is) only if still nothing needs it. An attach that began in between -- with several API processes
 * its connect can reach the host just before this removal -- gets its export back instead of losing it.
 */
export async function dropUnusedExport(deps: Deps, row: volumes.VolumeRow, droppedInitiator: string | null): Promise<void> {
  await hostOf(deps, row).disconnect(volumeRef(row), null, { dropExport: true });
  const unused = await deps.store.volumeTransaction(row.id, async (trx) => {
    const [live, pending] = await Promise.all([attachments.liveAttachments(trx, [row.id]), connections.pendingFor(trx, row.id)]);
    const needed =
      live.some((a) => a.attach_status !== 'reserved' && !a.attach_status.startsWith('error_')) ||
      pending.some((p) => droppedInitiator === null || p.initiator !== droppedInitiator);
    if (needed) return false;
    if (droppedInitiator !== null && pending.some((p) => p.initiator === droppedInitiator)) await connections.dropPending(trx, row.id, droppedInitiator);
    await volumes.updateVolume(trx, row.id, { provider_location: null });
    return true;
  });
  if (unused) return;
  const now = await volumes.findVolume(deps.store.db, row.id);
  if (now) await restoreExport(deps, now);
  deps.logger.warn({ volumeId: row.id }, 'an attach began while its unused export was removed; export restored');
}

/** The export goes when no live attachment and no pending connection needs it (a failed attach rolled back). */
export async function removeExportIfUnused(deps: Deps, id: string): Promise<void> {
  const { store, logger } = deps;
  const db = store.db;
  // One read answers the usual case (no export, or a live attachment uses it); the whole row only when it goes.
  const state = await volumes.transitionState(db, id);
  if (!state.volume || state.volume.deleted || !state.volume.providerLocation || state.attachments.size > 0) return;
  if ((await connections.pendingFor(db, id)).length > 0) return;
  const now = await volumes.findVolume(db, id);
  if (!now?.provider_location) return;
  try {
    await dropUnusedExport(deps, now, null);
  } catch (err) {
    logger.error({ err, volumeId: id }, 'removing an unused export failed; the reconciler retries');
  }
}

/** Recreates a volume's target with the whole ACL its rows call for (a restart, or a target that vanished). */
export async function restoreExport(deps: Deps, row: volumes.VolumeRow): Promise<void> {
  await hostOf(deps, row).syncExport(await refWithQos(deps.store.db, row), aclEntries(await allowedInitiatorsOf(deps.store.db, row.id)));
}

/** ensure_export for every exported volume of this process's host at start (docs/cinder-compatibility.md#export-restore, extended to every attach state). */
export async function restoreExports(deps: Deps): Promise<void> {
  const { store, logger } = deps;
  const db = store.db;
  const host = deps.hosts.local;
  if (!host) return;
  for (const row of await volumes.exportedVolumes(db, host.hostName)) {
    try {
      const [live, pending] = await Promise.all([attachments.liveAttachments(db, [row.id]), connections.pendingFor(db, row.id)]);
      if (live.every((a) => a.attach_status.startsWith('error_')) && pending.length === 0) {
        // Nothing uses the export: do not resurrect it (the next initialize_connection recreates it).
        await host.disconnect(volumeRef(row), null, { dropExport: true });
        await volumes.updateVolume(db, row.id, { provider_location: null });
      } else {
        await host.syncExport(await refWithQos(deps.store.db, row), aclEntries(allowedInitiators(live, pending)));
      }
    } catch (err) {
      logger.error({ err, volumeId: row.id }, 'ensure_export failed');
      await tracked(deps, SYSTEM_ACTOR, 'restore_export', row.id, (trx) => volumes.casVolume(trx, row.id, { status: 'error' }, { status: ['in-use'] }), {
        reason: `the export could not be restored: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        scope: 'volume',
      });
    }
  }
}
