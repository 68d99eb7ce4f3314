// Contracts between the workflow, the volume host and its drivers.
// The workflow only sees VolumeHost; drivers only see what the host hands them.

/** What a compute host sends in os-initialize_connection / attachment update (reference section 5). */
export interface Connector {
  initiator?: string;
  host?: string;
  ip?: string;
  platform?: string;
  os_type?: string;
  multipath?: boolean;
  mountpoint?: string;
  mode?: string;
  [key: string]: unknown;
}

export type AccessMode = 'rw' | 'ro';

export interface ChapCredentials {
  username: string;
  password: string;
}

/** What the host needs to know about a volume to act on it; the workflow fills it from the store. */
export interface VolumeRef {
  id: string;
  sizeGiB: number;
  /** Cinder format: "<ip>:<port>[;ip2:port],<tid> <iqn> <lun>" or null when not exported. */
  providerLocation: string | null;
  /** Cinder format: "CHAP <user> <password>" or null. */
  providerAuth: string | null;
}

/** Result of create_export: the two columns Cinder persists on the volume row. */
export interface ExportModelUpdate {
  providerLocation: string;
  providerAuth: string;
}

/** The `data` part of iSCSI connection_info (reference 4.3), before the workflow adds its own keys. */
export interface IscsiConnectionData {
  target_discovered: boolean;
  target_portal: string;
  target_iqn: string;
  target_lun: number;
  target_portals?: string[];
  target_iqns?: string[];
  target_luns?: number[];
  volume_id: string;
  auth_method?: 'CHAP';
  auth_username?: string;
  auth_password?: string;
}

/** Where the bytes live. */
export interface Backend {
  readonly name: string;
  create(volumeId: string, sizeBytes: number): Promise<void>;
  /** Idempotent: deleting a volume that has no file is not an error. */
  delete(volumeId: string): Promise<void>;
  extend(volumeId: string, newSizeBytes: number): Promise<void>;
  /** Path of the block device or file that a target exports. */
  devicePath(volumeId: string): string;
  exists(volumeId: string): Promise<boolean>;
  /** Volume ids that have backing storage, for reconciliation. */
  list(): Promise<string[]>;
  /** Size and free space of the storage volumes are made on (the pools API reports them). */
  capacity?(): Promise<HostCapacity>;
}

export interface HostCapacity {
  totalBytes: number;
  freeBytes: number;
}

/** What a target driver made for one volume. */
export interface TargetExport {
  iqn: string;
  lun: number;
  /** tgt: numeric target id; builtin: the IQN (as LIO does). Goes in the provider_location tid slot. */
  tid: string;
  portals: string[];
}

/** How bytes are exported (builtin iSCSI target or tgtd). Every call is idempotent. */
export interface TargetDriver {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  iqnFor(volumeId: string): string;
  createExport(volumeId: string, devicePath: string, chap: ChapCredentials): Promise<TargetExport>;
  removeExport(volumeId: string): Promise<void>;
  /** Let one initiator log in to the volume's target (ACL entry). */
  allowInitiator(volumeId: string, initiator: string, mode: AccessMode): Promise<void>;
  /** Remove the initiator's ACL entry and drop its sessions. */
  denyInitiator(volumeId: string, initiator: string): Promise<void>;
  /** Volume ids that currently have a target, for reconciliation. */
  listExports(): Promise<string[]>;
  /** Called when the backing file grew so the target reports the new capacity. */
  resized?(volumeId: string): Promise<void>;
}

/**
 * The one interface the workflow uses to reach the place where the bytes are.
 * It serialises calls per volume; it may later live in another process.
 */
export interface VolumeHost {
  readonly hostName: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  createVolume(volumeId: string, sizeGiB: number): Promise<void>;
  deleteVolume(volumeId: string): Promise<void>;
  extendVolume(volumeId: string, newSizeGiB: number): Promise<void>;
  /** create_export: reuses CHAP from providerAuth when present, else generates it. */
  createExport(volume: VolumeRef): Promise<ExportModelUpdate>;
  /** initialize_connection: adds the connector's initiator to the ACL and returns the connection data. */
  initializeConnection(volume: VolumeRef, connector: Connector, mode: AccessMode): Promise<IscsiConnectionData>;
  /** terminate_connection: removes the initiator's ACL entry and drops its sessions. */
  terminateConnection(volume: VolumeRef, initiator: string): Promise<void>;
  removeExport(volume: VolumeRef): Promise<void>;
  /** ensure_export at start: recreate the target and the given initiators' ACL entries. */
  ensureExport(volume: VolumeRef, initiators: { initiator: string; mode: AccessMode }[]): Promise<void>;
  /** Volume ids the target driver exports right now (reconciliation: orphan and lost targets). */
  listExports?(): Promise<string[]>;
  /** Volume ids that have backing storage on this host (reconciliation: files without a row). */
  listBackingVolumes?(): Promise<string[]>;
  /** The backend's name (volume_backend_name) and its storage's size and free space, for the services table. */
  capacity?(): Promise<HostCapacity & { backendName: string }>;
}
