// What every workflow module shares.
import type { Store } from '../store/index.js';
import type { HostDirectory } from '../host/types.js';
import type { Logger } from '../log.js';
import type { LeaseDurations } from './leases.js';

export interface Deps {
  store: Store;
  /** Where each volume's host is found (volumes.host); only the local host today. */
  hosts: HostDirectory;
  logger: Logger;
  availabilityZone: string;
  /** Starts work that outlives the request (Cinder casts these to the volume manager); drain() waits for it. */
  background(name: string, volumeId: string, task: () => Promise<void>): void;
  /** Deadlines of interim states (leases.ts). */
  leases: LeaseDurations;
  /** Volumes with a background task running in this process (the reconciler leaves their task states alone). */
  busy(volumeId: string): boolean;
}
