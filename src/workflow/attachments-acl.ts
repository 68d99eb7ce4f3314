// One initiator has one ACL entry per target, shared by every attachment that came through it.
// Its mode is rw while any live attachment from that initiator is rw, else ro; with no user left it goes.
import type { AccessMode, VolumeRef } from '../host/types.js';
import * as attachments from '../store/attachments.js';
import * as connections from '../store/connections.js';
import type { Deps } from './deps.js';

/** The mode the initiator's ACL entry must have now, or null when no live attachment uses it. */
export async function aclModeFor(deps: Deps, volumeId: string, initiator: string): Promise<AccessMode | null> {
  const modes = await attachments.liveModesForInitiator(deps.store.db, volumeId, initiator);
  if (modes.length === 0) return null;
  return modes.some((m) => m !== 'ro') ? 'rw' : 'ro';
}

/**
 * Brings the initiator's ACL entry in line with the live attachments: re-allowed in the right mode, or
 * removed (with its sessions) when nothing uses it. Backend errors are logged: the rows are already right,
 * and the next attach or restart reapplies them.
 */
export async function refreshInitiatorAcl(deps: Deps, ref: VolumeRef, initiator: string): Promise<void> {
  if (!ref.providerLocation) return;
  try {
    const mode = await aclModeFor(deps, ref.id, initiator);
    if (mode === null) {
      // A legacy os-initialize_connection not yet claimed by os-attach still needs the entry.
      const pending = await connections.pendingFor(deps.store.db, ref.id);
      if (!pending.some((p) => p.initiator === initiator)) await deps.host.terminateConnection(ref, initiator);
      return;
    }
    await deps.host.initializeConnection(ref, { initiator }, mode);
  } catch (err) {
    deps.logger.error({ err, volumeId: ref.id, initiator }, 'ACL refresh failed; the entry is corrected on the next attach or restart');
  }
}
