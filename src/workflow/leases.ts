// Leases on interim states. Every state a client or a host task must leave again (reserved, attaching,
// detaching; creating, extending, deleting) carries a deadline on its row; the reconciler rolls expired
// ones back (or finishes the host task), so nothing stays stuck the way Cinder's volumes do (docs/cinder-compatibility.md#known-weak-points).
import { nowTimestamp } from '../store/schema.js';

export interface LeaseDurations {
  /** os-reserve (legacy attaching) and a new-style attachment with a connector that is not complete. */
  attachingMs: number;
  /** A new-style attachment created without a connector. */
  reservedMs: number;
  /** os-begin_detaching, or an attachment being deleted. */
  detachingMs: number;
  /** Host tasks (create, extend, delete, revert; snapshot create and delete): past this the reconciler finishes a task no process is running. */
  taskMs: number;
  /** How often the periodic reconciler runs. */
  reconcileIntervalMs: number;
}

export const DEFAULT_LEASES: LeaseDurations = {
  attachingMs: 5 * 60_000,
  reservedMs: 5 * 60_000,
  detachingMs: 5 * 60_000,
  taskMs: 10 * 60_000,
  reconcileIntervalMs: 30_000,
};

/** Volume statuses a client moves through during attach/detach. */
export const CLIENT_INTERIM_STATUSES = ['reserved', 'attaching', 'detaching'] as const;
/** Volume statuses owned by a background host task. */
export const TASK_STATUSES = ['creating', 'extending', 'deleting', 'reverting'] as const;
/** Attachment attach_status values that are not final. */
export const ATTACHMENT_INTERIM = ['reserved', 'attaching', 'detaching'] as const;

/**
 * The volume event a reconciler records when a legacy reservation (os-reserve) runs out after os-initialize_connection
 * opened a connection for it: the reservation is rolled back and the connection closed, export included. An os-attach
 * that comes next is refused (workflow/attach.ts), where Cinder would make the volume in-use with no export.
 */
export const CONNECTION_EXPIRED = 'connection_expired';

/** The deadline of a state entered now; null when the state needs none. */
export function leaseDeadline(leases: LeaseDurations, status: string): string | null {
  const ms = leaseFor(leases, status);
  return ms === null ? null : nowTimestamp(new Date(Date.now() + ms));
}

/** Lease length for a volume status or attachment attach_status; null when the state needs none. */
export function leaseFor(leases: LeaseDurations, status: string): number | null {
  switch (status) {
    case 'attaching':
      return leases.attachingMs;
    case 'reserved':
      return leases.reservedMs;
    case 'detaching':
      return leases.detachingMs;
    case 'creating':
    case 'extending':
    case 'deleting':
    case 'reverting':
      return leases.taskMs;
    default:
      return null;
  }
}
