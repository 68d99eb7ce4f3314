// What every workflow module shares.
import type { Store } from '../store/index.js';
import type { HostDirectory } from '../host/types.js';
import type { Logger } from '../log.js';
import type { LeaseDurations } from './leases.js';

export interface Deps {
  store: Store;
  /** Where each volume's host is found (volumes.host): the local host, or another one over RPC. */
  hosts: HostDirectory;
  logger: Logger;
  availabilityZone: string;
  /** Starts work that outlives the request (Cinder casts these to the volume manager); drain() waits for it. */
  background(name: string, volumeId: string, task: () => Promise<void>): void;
  /** Deadlines of interim states (leases.ts). */
  leases: LeaseDurations;
  /** Volumes with a background task running in this process (the reconciler leaves their task states alone). */
  busy(volumeId: string): boolean;
  /** What this process registers in the services table, and when a service counts as down. */
  services: { timing: ServiceTiming; registration: ServiceRegistration };
}

/** How often this process heartbeats, and how old a heartbeat may be before its service counts as down. */
export interface ServiceTiming {
  reportIntervalMs: number;
  downAfterMs: number;
}

/** This process's rows in the services table (besides its local volume host's, if it runs one). */
export interface ServiceRegistration {
  /** The scheduler row's host name (Cinder's `host` option). */
  name: string;
  /** Whether this process schedules (role all and api): it registers a cinder-scheduler row. */
  scheduler: boolean;
  /** Where API processes reach the local host's RPC endpoint, "HOST:PORT"; null when it serves none. */
  rpcAddress: string | null;
}
