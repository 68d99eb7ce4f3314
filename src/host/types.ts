// Contracts between the workflow, the volume host and its drivers.
// The workflow only sees VolumeHost (through a HostDirectory); drivers only see what the host hands them.
import type { ChapCredentials } from '../util/chap.js';
import type { PollStats } from '../util/adaptive-poll.js';

/** What a compute host sends in os-initialize_connection / attachment update (docs/cinder-compatibility.md#connector). */
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

/** What the host needs to know about a volume to act on it; the workflow fills it from the store. */
export interface VolumeRef {
  id: string;
  sizeGiB: number;
  /** Cinder format: "<ip>:<port>[;ip2:port],<tid> <iqn> <lun>" or null when not exported. */
  providerLocation: string | null;
  /** Cinder format: "CHAP <user> <password>" or null. */
  providerAuth: string | null;
  /**
   * Back-end QoS limits the target enforces on the volume's logical unit (already scaled by size), null for
   * none; undefined leaves whatever the export has. connect and syncExport apply it to the export they make.
   */
  qos?: QosLimits | null;
}

/**
 * Back-end QoS limits by QEMU's throttle names, in units per second: total_/read_/write_ iops_sec and
 * bytes_sec, their bursts `<name>_max` and burst lengths `<name>_max_length` (seconds).
 */
export type QosLimits = Record<string, number>;

/** The `data` part of iSCSI connection_info (docs/cinder-compatibility.md#connection-info), before the workflow adds its own keys. */
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

/** What connect made: the two columns Cinder persists on the volume row, and the connection data to return. */
export interface HostConnection {
  providerLocation: string;
  providerAuth: string;
  data: IscsiConnectionData;
}

/** One initiator's ACL entry as the workflow wants it: allowed in a mode, or (null) denied with its sessions. */
export interface AclEntry {
  initiator: string;
  mode: AccessMode | null;
}

/** Why a host call failed; the workflow turns each into a Cinder fault. */
export type HostErrorKind =
  /** The volume has no backing storage on this host. */
  | 'not-found'
  /** The volume's provider_auth has no CHAP credentials, so its export cannot be restored. */
  | 'no-credentials'
  /** A request the host cannot serve as asked (e.g. a size that is not a whole number of GiB). */
  | 'invalid'
  /** No host of that name is reachable from here. */
  | 'unavailable'
  /** The backend or the target driver failed. */
  | 'backend';

export class HostError extends Error {
  constructor(
    readonly kind: HostErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HostError';
  }
}

/**
 * The one interface the workflow uses to reach the place where a volume's bytes are, in the spirit of
 * Cinder's volume manager RPCs: coarse, idempotent, and each call rolls back what it made when it fails.
 * The local host serves it in-process; a host in another process serves it over RPC (rpc-server.ts, rpc-client.ts).
 */
export interface VolumeHost {
  readonly hostName: string;
  createVolume(volumeId: string, sizeGiB: number): Promise<void>;
  extendVolume(volumeId: string, newSizeGiB: number): Promise<void>;
  /** Removes the volume's export, then its backing storage. Deleting what is gone is not an error. */
  deleteVolume(volumeId: string): Promise<void>;
  /**
   * create_export + initialize_connection: the export (with the CHAP credentials of providerAuth), the
   * initiator's ACL entry in `mode`, and what the workflow persists and returns.
   */
  connect(volume: VolumeRef, connector: Connector & { initiator: string }, mode: AccessMode): Promise<HostConnection>;
  /** terminate_connection of `initiator` (its sessions are dropped); with dropExport, remove_export as well. */
  disconnect(volume: VolumeRef, initiator: string | null, opts: { dropExport: boolean }): Promise<void>;
  /**
   * ensure_export: recreates the export if it is missing (with the CHAP of providerAuth, which must be set)
   * and applies `acl`: each listed initiator is allowed in its mode or denied; others are left as they are.
   */
  syncExport(volume: VolumeRef, acl: AclEntry[]): Promise<void>;
  /** Volume ids the target exports right now (reconciliation: orphan and lost targets). */
  listExports(): Promise<string[]>;
  /**
   * Applies volume.qos to the volume's export at once, live sessions included (nothing to do when it is not
   * exported). Whether the target enforces limits at all is its capacities' qosSupport.
   */
  setQos(volume: VolumeRef): Promise<void>;
  /** Volume ids that have backing storage on this host (reconciliation: files without a row). */
  listBackingVolumes(): Promise<string[]>;
  /**
   * A point-in-time copy of the volume as snapshot `snapshotId`, consistent while attached: the target holds
   * new writes and finishes in-flight ones around the copy. Idempotent; a failed call leaves no snapshot file.
   */
  createSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  /** Removes the snapshot's storage; never touches the volume's. Deleting what is gone is not an error. */
  deleteSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  /**
   * A group snapshot: one snapshot of each member volume, all at one point in time. The target quiesces every
   * member's logical unit at once around the copies, so the set holds each write acknowledged on any member
   * before the call and none accepted after it. Running it again (after an interruption) discards the members
   * made so far and takes them all anew, so a retried group is still consistent; a failed call leaves no file.
   */
  createGroupSnapshot(members: GroupSnapshotMember[]): Promise<void>;
  /**
   * Several new volumes copied together (a group from a source group or group snapshot): the volume sources are
   * quiesced at once, so clones of a group are consistent with each other. Running it again discards the copies
   * made so far and makes them all anew; a failed call leaves none of them.
   */
  createVolumesFrom(copies: VolumeCopy[]): Promise<void>;
  /** A new volume with the content of a snapshot or another volume, at sizeGiB (>= the source). Idempotent. */
  createVolumeFrom(volumeId: string, source: CopySource, sizeGiB: number): Promise<void>;
  /** Puts the snapshot's content back into the volume (same size). Running it again after an interruption finishes it. */
  revertToSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  /** Snapshot ids that have storage on this host (reconciliation: files without a row). */
  listBackingSnapshots(): Promise<string[]>;
  /** How this host copies snapshots and clones: 'reflink' (copy-on-write) or 'sparse-copy'. */
  copyMethod(): Promise<string>;
  /** The backend's name (volume_backend_name) and its storage's size and free space, for the services table. */
  capacity?(): Promise<HostCapacity & { backendName: string }>;
  /** Whether back-end QoS limits are enforced (the pools' QoS_support). */
  readonly qosSupport?: boolean;
}

/** What a new volume is copied from. */
export type CopySource = { kind: 'snapshot'; id: string } | { kind: 'volume'; id: string };

/** One member of a group snapshot: the volume and the id its snapshot gets. */
export interface GroupSnapshotMember {
  volumeId: string;
  snapshotId: string;
}

/** One new volume of a group made from a source: its id, what it copies, and its size. */
export interface VolumeCopy {
  volumeId: string;
  source: CopySource;
  sizeGiB: number;
}

/** Running a host in this process: what the service starts, stops and measures; the workflow never sees it. */
export interface HostLifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The target's busy-poll statistics, when its transport has a busy-poll window (the builtin target). */
  busyPollStats?(): PollStats;
}

/** Where the workflow finds a volume's host: by volumes.host. */
export interface HostDirectory {
  /**
   * The host this process runs (role all or host): it heartbeats in the services table and the reconciler looks
   * after its volumes. Null in an API process (role api), which reaches every host through byName.
   */
  readonly local: VolumeHost | null;
  /** The host named by a volume row's `host` column; throws HostError('unavailable') for an unknown one. */
  byName(hostName: string | null): VolumeHost;
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
  /** Before first use: removes half-made copies and detects the copy method, which it returns. */
  prepare(): Promise<string>;
  copyMethod(): Promise<string>;
  createSnapshot(volumeId: string, snapshotId: string): Promise<void>;
  /**
   * The first half of createSnapshot: the copy's content is fixed when this resolves, so a quiesce window need
   * hold only this; commit() makes it durable under its final name after the writes are let go. A sparse copy
   * (slow: it copies the data) may instead be staged while writes run and then caught up (StagedCopy.catchUp).
   */
  stageSnapshot(volumeId: string, snapshotId: string): Promise<StagedCopy>;
  deleteSnapshot(snapshotId: string): Promise<void>;
  createFrom(volumeId: string, source: CopySource, sizeBytes: number): Promise<void>;
  /** The first half of createFrom, as stageSnapshot is of createSnapshot. */
  stageFrom(volumeId: string, source: CopySource, sizeBytes: number): Promise<StagedCopy>;
  revert(volumeId: string, snapshotId: string): Promise<void>;
  listSnapshots(): Promise<string[]>;
  /** Size and free space of the storage volumes are made on (the pools API reports them). */
  capacity?(): Promise<HostCapacity>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** What TargetDriver.trackChanges returns. */
export interface ChangeTracker {
  /** The ranges of the volume changed since tracking began or since the last take (then forgotten). */
  take(volumeId: string): ByteRange[];
  stop(): void;
}

/** A copy whose content is fixed but that is neither durable nor under its final name yet. */
export interface StagedCopy {
  /**
   * Copies these ranges of the source again, for a copy made while writes ran (they are the ranges changed since).
   * Absent when the copy was not made that way (a reflink is made inside the quiesce window).
   */
  catchUp?(ranges: ByteRange[]): Promise<void>;
  /** Makes the copy durable and gives it its final name; a failed commit leaves nothing behind. */
  commit(): Promise<void>;
  /** Removes the staged copy (another member of the same operation failed). */
  discard(): Promise<void>;
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
  createExport(volumeId: string, devicePath: string, chap: ChapCredentials): Promise<TargetExport>;
  removeExport(volumeId: string): Promise<void>;
  /** Let one initiator log in to the volume's target (ACL entry). */
  allowInitiator(volumeId: string, initiator: string, mode: AccessMode): Promise<void>;
  /** Remove the initiator's ACL entry and drop its sessions. */
  denyInitiator(volumeId: string, initiator: string): Promise<void>;
  /** Volume ids that currently have a target, for reconciliation. */
  listExports(): Promise<string[]>;
  /** Enforces QoS limits on the volume's logical unit, live sessions included; null lifts them. Absent: not supported. */
  setQos?(volumeId: string, limits: QosLimits | null): Promise<void>;
  /** Called when the backing file grew so the target reports the new capacity. */
  resized?(volumeId: string): Promise<void>;
  /**
   * Runs `fn` while the volumes' logical units are quiet: writes in flight finished (every acknowledged write is in
   * the file, if only in the page cache, which is what a copy reads or a reflink writes back first), new ones
   * held until fn returns. fn should hold only what fixes the copy's content: writes wait for all of it. A
   * target without it gives crash consistency only (the copy sees what reached the file).
   */
  quiesced?<T>(volumeIds: string[], fn: () => Promise<T>): Promise<T>;
  /**
   * Starts noting the byte ranges of the volumes that writes change from now on (writes in flight included), so a
   * slow copy can be made while writes run and caught up inside a short quiesce window. Absent: not supported.
   */
  trackChanges?(volumeIds: string[]): ChangeTracker;
  /** Busy-poll statistics of the transport, for a target that has a busy-poll window. */
  busyPollStats?(): PollStats;
}
