// The volume host (Cinder's volume manager + LVM-style driver glue): it runs where the bytes are,
// turns the workflow's requests into backend and target-driver calls, and builds Cinder's
// provider_location / provider_auth / connection_info shapes from what the drivers made.
import type {
  AccessMode,
  Backend,
  Connector,
  ExportModelUpdate,
  HostCapacity,
  IscsiConnectionData,
  TargetDriver,
  VolumeHost,
  VolumeRef,
} from './types.js';
import type { Logger } from '../log.js';
import { invalidInput } from '../errors.js';
import { generateChapCredentials } from '../util/chap.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import {
  formatProviderAuth,
  formatProviderLocation,
  normalizePortal,
  parseProviderAuth,
  parseProviderLocation,
} from './provider.js';

export * from './provider.js';

export const GiB = 1024 ** 3;

export interface VolumeHostOptions {
  backend: Backend;
  target: TargetDriver;
  logger: Logger;
  hostName: string;
  /** Portals advertised to initiators, "ip:port" (first = target_portal). Defaults to the driver's. */
  portals: string[];
}

export class HostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostError';
  }
}

export function createVolumeHost(opts: VolumeHostOptions): VolumeHost {
  return new DefaultVolumeHost(opts);
}

class DefaultVolumeHost implements VolumeHost {
  readonly hostName: string;
  private readonly backend: Backend;
  private readonly target: TargetDriver;
  private readonly log: Logger;
  private readonly portals: string[];
  private readonly queue = new KeyedQueue();

  constructor(opts: VolumeHostOptions) {
    this.hostName = opts.hostName;
    this.backend = opts.backend;
    this.target = opts.target;
    this.log = opts.logger.child({ component: 'volume-host', host: opts.hostName });
    this.portals = opts.portals.map(normalizePortal);
  }

  async start(): Promise<void> {
    await this.target.start();
    this.log.info({ backend: this.backend.name, target: this.target.name }, 'volume host started');
  }

  async stop(): Promise<void> {
    await this.target.stop();
  }

  async capacity(): Promise<HostCapacity & { backendName: string }> {
    const c = this.backend.capacity ? await this.backend.capacity() : { totalBytes: 0, freeBytes: 0 };
    return { ...c, backendName: this.backend.name };
  }

  createVolume(volumeId: string, sizeGiB: number): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.backend.create(volumeId, toBytes(sizeGiB));
      this.log.info({ volumeId, sizeGiB }, 'volume created');
    });
  }

  /** Removes the export first: deleting a file that tgtd still has open would keep the bytes alive. */
  deleteVolume(volumeId: string): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.target.removeExport(volumeId);
      await this.backend.delete(volumeId);
      this.log.info({ volumeId }, 'volume deleted');
    });
  }

  extendVolume(volumeId: string, newSizeGiB: number): Promise<void> {
    return this.serial(volumeId, async () => {
      await this.backend.extend(volumeId, toBytes(newSizeGiB));
      if (this.target.resized) await this.target.resized(volumeId);
      this.log.info({ volumeId, newSizeGiB }, 'volume extended');
    });
  }

  createExport(volume: VolumeRef): Promise<ExportModelUpdate> {
    return this.serial(volume.id, () => this.doCreateExport(volume));
  }

  async initializeConnection(volume: VolumeRef, connector: Connector, mode: AccessMode): Promise<IscsiConnectionData> {
    const initiator = connectorInitiator(connector);
    return this.serial(volume.id, async () => {
      if (!volume.providerLocation) {
        throw new HostError(`volume ${volume.id} has no export; create_export must run before initialize_connection`);
      }
      await this.target.allowInitiator(volume.id, initiator, mode);
      this.log.info({ volumeId: volume.id, initiator, mode }, 'initiator allowed');
      return connectionData(volume, Boolean(connector.multipath));
    });
  }

  terminateConnection(volume: VolumeRef, initiator: string): Promise<void> {
    return this.serial(volume.id, async () => {
      await this.target.denyInitiator(volume.id, initiator);
      this.log.info({ volumeId: volume.id, initiator }, 'initiator denied');
    });
  }

  removeExport(volume: VolumeRef): Promise<void> {
    return this.serial(volume.id, async () => {
      await this.target.removeExport(volume.id);
      this.log.info({ volumeId: volume.id }, 'export removed');
    });
  }

  ensureExport(volume: VolumeRef, initiators: { initiator: string; mode: AccessMode }[]): Promise<void> {
    return this.serial(volume.id, async () => {
      // Recreating with fresh CHAP would lock out every attached host, whose credentials came from the DB.
      if (!parseProviderAuth(volume.providerAuth)) {
        throw new HostError(`volume ${volume.id} has no CHAP credentials in provider_auth; cannot restore its export`);
      }
      const update = await this.doCreateExport(volume);
      if (volume.providerLocation && update.providerLocation !== volume.providerLocation) {
        // Initiators address the target by portal + IQN + LUN, which stay the same; only the tid slot moved.
        this.log.warn({ volumeId: volume.id }, 'export restored with a different provider_location');
      }
      for (const { initiator, mode } of initiators) await this.target.allowInitiator(volume.id, initiator, mode);
      this.log.info({ volumeId: volume.id, initiators: initiators.length }, 'export ensured');
    });
  }

  listExports(): Promise<string[]> {
    return this.target.listExports();
  }

  listBackingVolumes(): Promise<string[]> {
    return this.backend.list();
  }

  private async doCreateExport(volume: VolumeRef): Promise<ExportModelUpdate> {
    if (!(await this.backend.exists(volume.id))) {
      throw new HostError(`volume ${volume.id} has no backing storage on host ${this.hostName}`);
    }
    const chap = parseProviderAuth(volume.providerAuth) ?? generateChapCredentials();
    const made = await this.target.createExport(volume.id, this.backend.devicePath(volume.id), chap);
    const portals = this.portals.length > 0 ? this.portals : made.portals.map(normalizePortal);
    return {
      providerLocation: formatProviderLocation({ portals, tid: made.tid, iqn: made.iqn, lun: made.lun }),
      providerAuth: formatProviderAuth(chap),
    };
  }

  private serial<T>(volumeId: string, task: () => Promise<T>): Promise<T> {
    return this.queue.run(volumeId, task);
  }
}

/** Cinder's validate_connector for iSCSI: the initiator IQN is the one thing it must have. */
function connectorInitiator(connector: Connector): string {
  const initiator = connector?.initiator;
  if (typeof initiator !== 'string' || initiator.trim() === '') {
    throw invalidInput('Connector doesn\'t have required information: initiator');
  }
  return initiator.trim();
}

/** The iSCSI `data` of connection_info (reference 4.3), from the persisted provider columns. */
export function connectionData(volume: VolumeRef, multipath: boolean): IscsiConnectionData {
  if (!volume.providerLocation) throw new HostError(`volume ${volume.id} has no provider_location`);
  const loc = parseProviderLocation(volume.providerLocation);
  if (loc.portals.length === 0) throw new HostError(`volume ${volume.id} provider_location has no portal`);
  const data: IscsiConnectionData = {
    target_discovered: false,
    target_portal: loc.portals[0]!,
    target_iqn: loc.iqn,
    target_lun: loc.lun,
    volume_id: volume.id,
  };
  if (loc.portals.length > 1 || multipath) {
    data.target_portals = [...loc.portals];
    data.target_iqns = loc.portals.map(() => loc.iqn);
    data.target_luns = loc.portals.map(() => loc.lun);
  }
  const chap = parseProviderAuth(volume.providerAuth);
  if (chap) {
    data.auth_method = 'CHAP';
    data.auth_username = chap.username;
    data.auth_password = chap.password;
  }
  return data;
}

function toBytes(sizeGiB: number): number {
  if (!Number.isInteger(sizeGiB) || sizeGiB <= 0) throw invalidInput(`size must be a positive integer number of GiB, got ${sizeGiB}`);
  return sizeGiB * GiB;
}
