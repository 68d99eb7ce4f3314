// The workflow: the volume lifecycle and every attach/detach action, over the store and the volume hosts.
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { HostDirectory } from '../host/types.js';
import type { Deps, ServiceRegistration, ServiceTiming } from './deps.js';
import { lifecycle } from './lifecycle.js';
import { attachActions } from './attach.js';
import { connectionActions } from './connection-actions.js';
import { restoreExports } from './exports.js';
import { volumeTypes } from './volume-types.js';
import { attachmentsActions } from './attachments.js';
import type { ReconcileReport, Workflow } from './model.js';
import { DEFAULT_LEASES, type LeaseDurations } from './leases.js';
import { eventActions } from './events.js';
import { reconciler } from './reconciler.js';
import { snapshotActions } from './snapshots.js';
import { groupTypeActions } from './group-types.js';
import { groupActions } from './groups.js';
import { typeAccessActions } from './type-access.js';
import { encryptionTypeActions } from './encryption-types.js';
import { DEFAULT_SERVICE_TIMING, servicesActions } from './services.js';
import { retypeActions } from './retype.js';
import { qosSpecsActions } from './qos-specs.js';
import { quotaActions } from './quotas.js';
import { transferActions } from './transfers.js';
import { volumeListing } from './volume-list.js';
import { volumeMetadata } from './volume-metadata.js';
import { messageActions } from './messages.js';
import { availabilityZones } from './availability-zones.js';

export type * from './model.js';
export type * from './snapshot-model.js';
export type * from './group-model.js';

export interface WorkflowOptions {
  store: Store;
  hosts: HostDirectory;
  logger: Logger;
  availabilityZone?: string;
  leases?: Partial<LeaseDurations>;
  /** Heartbeat interval and down-after (default Cinder's 10 s and 60 s). */
  serviceTiming?: Partial<ServiceTiming>;
  /** What this process registers (default: a scheduler named after the local host, no RPC address). */
  registration?: Partial<ServiceRegistration>;
}

export function createWorkflow(deps: WorkflowOptions): Workflow {
  const running = new Set<Promise<void>>();
  const busyVolumes = new Map<string, number>();
  const shared: Deps = {
    store: deps.store,
    hosts: deps.hosts,
    logger: deps.logger,
    availabilityZone: deps.availabilityZone ?? 'nova',
    background(name, volumeId, task) {
      busyVolumes.set(volumeId, (busyVolumes.get(volumeId) ?? 0) + 1);
      const p = task()
        .catch((err) => deps.logger.error({ err, volumeId, task: name }, 'background task failed'))
        .finally(() => {
          running.delete(p);
          const n = (busyVolumes.get(volumeId) ?? 1) - 1;
          if (n <= 0) busyVolumes.delete(volumeId);
          else busyVolumes.set(volumeId, n);
        });
      running.add(p);
    },
    leases: { ...DEFAULT_LEASES, ...deps.leases },
    busy: (volumeId) => busyVolumes.has(volumeId),
    services: {
      timing: { ...DEFAULT_SERVICE_TIMING, ...deps.serviceTiming },
      registration: { name: deps.hosts.local?.hostName ?? 'embervol', scheduler: true, rpcAddress: null, ...deps.registration },
    },
  };
  const conn = connectionActions(shared);
  const rec = reconciler(shared);
  const legacy = attachActions(shared, conn);
  return {
    ...lifecycle(shared),
    ...legacy,
    // The attachments API, and os-attach narrowing the ACL entry when it attaches read-only.
    ...attachmentsActions(shared, legacy),
    initializeConnection: conn.initializeConnection,
    terminateConnection: conn.terminateConnection,
    restoreExports: () => restoreExports(shared),
    reconcile: rec.reconcile,
    async expireLeasesOfDownHosts() {
      const total: ReconcileReport = { tasksFinished: 0, leasesExpired: 0, pendingDropped: 0, exportsRestored: 0, exportsRemoved: 0, filesRemoved: 0, errors: 0 };
      for (const host of await servicesActions(shared).downHosts()) {
        const r = await rec.expireLeasesOf(host);
        total.leasesExpired += r.leasesExpired;
        total.errors += r.errors;
      }
      return total;
    },
    ...volumeTypes(shared),
    ...typeAccessActions(shared),
    ...encryptionTypeActions(shared),
    ...servicesActions(shared),
    ...retypeActions(shared),
    ...qosSpecsActions(shared),
    ...eventActions(shared),
    ...snapshotActions(shared),
    ...groupTypeActions(shared),
    ...groupActions(shared),
    ...quotaActions(shared),
    ...transferActions(shared),
    ...volumeListing(shared),
    ...volumeMetadata(shared),
    ...messageActions(shared),
    ...availabilityZones(shared),
    async drain() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
