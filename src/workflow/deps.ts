// What every workflow module shares.
import type { Store } from '../store/index.js';
import type { VolumeHost } from '../host/types.js';
import type { Logger } from '../log.js';
import type { LeaseDurations } from './leases.js';

export interface Deps {
  store: Store;
  host: VolumeHost;
  logger: Logger;
  availabilityZone: string;
  /** Starts work that outlives the request (Cinder casts these to the volume manager); drain() waits for it. */
  background(name: string, volumeId: string, task: () => Promise<void>): void;
  /** Deadlines of interim states (leases.ts). */
  leases: LeaseDurations;
  /** Volumes with a background task running in this process (the reconciler leaves their task states alone). */
  busy(volumeId: string): boolean;
}

/** Statuses in which a volume may be deleted without force (reference 7.4). */
export const DELETABLE_STATUSES = ['available', 'error', 'error_restoring', 'error_extending', 'error_managing'] as const;

/** migration_status values that mean "not migrating". */
export const MIGRATION_AT_REST: readonly (string | null)[] = [null, 'deleting', 'error', 'success'];

export const VOLUME_STATUSES = [
  'creating', 'available', 'deleting', 'error', 'error_deleting', 'error_managing', 'managing', 'attaching', 'in-use',
  'detaching', 'maintenance', 'restoring-backup', 'error_restoring', 'reserved', 'awaiting-transfer', 'backing-up',
  'error_backing-up', 'error_extending', 'downloading', 'uploading', 'retyping', 'extending',
] as const;

/** Cinder's utils.build_or_str: ('a','b') -> "a or b". */
export function orList(items: readonly string[]): string {
  return items.join(' or ');
}
