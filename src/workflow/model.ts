// What the workflow hands back to its callers (the HTTP layer, the CLI). Plain data: no rows, no fastify.
// A leaf: it imports nothing else of the workflow but the request context, so every workflow module may use it.
import type { QuotasWorkflow } from './quotas-model.js';
import type { TransfersWorkflow } from './transfers-model.js';
import type { RequestContext } from './context.js';
import type { AccessMode } from '../host/types.js';
import type { SnapshotsWorkflow } from './snapshot-model.js';
import type { GroupsWorkflow, GroupTypesWorkflow } from './group-model.js';
import type { EncryptionTypesWorkflow, RetypeWorkflow, ServicesWorkflow, TypeAccessWorkflow } from './types-services-model.js';
import type { VolumeExtrasWorkflow } from './volume-extras-model.js';

export type * from './types-services-model.js';
export type * from './volume-extras-model.js';

export interface AttachmentInfo {
  id: string;
  volumeId: string;
  instanceUuid: string | null;
  attachedHost: string | null;
  mountpoint: string | null;
  attachTime: string | null;
  detachTime: string | null;
  attachStatus: string;
  attachMode: string | null;
}

export interface VolumeInfo {
  id: string;
  projectId: string;
  userId: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  attachStatus: string;
  multiattach: boolean;
  bootable: boolean;
  volumeTypeId: string | null;
  volumeTypeName: string | null;
  availabilityZone: string;
  host: string | null;
  migrationStatus: string | null;
  encryptionKeyId: string | null;
  /** What the volume was copied from (snapshot_id / source_volid in the views). */
  snapshotId: string | null;
  sourceVolid: string | null;
  /** The generic volume group the volume belongs to (group_id in the views from 3.13). */
  groupId: string | null;
  createdAt: string;
  updatedAt: string | null;
  metadata: Record<string, string>;
  adminMetadata: Record<string, string>;
  /** Every live attachment row; views decide which to show (Cinder shows only `attached`). */
  attachments: AttachmentInfo[];
}

export interface VolumeTypeInfo {
  id: string;
  name: string;
  description: string | null;
  isPublic: boolean;
  extraSpecs: Record<string, string>;
  /** The associated QoS spec (admins see it in show and list). */
  qosSpecsId?: string | null;
}

export type QosConsumer = 'front-end' | 'back-end' | 'both';

export interface QosSpecsInfo {
  id: string;
  name: string;
  consumer: QosConsumer;
  specs: Record<string, string>;
}

export interface QosAssociation {
  association_type: 'volume_type';
  id: string;
  name: string;
}

export interface QosSpecsWorkflow {
  listQosSpecs(ctx: Ctx, filters?: { id?: string; name?: string; consumer?: string }): Promise<QosSpecsInfo[]>;
  getQosSpecs(ctx: Ctx, id: string): Promise<QosSpecsInfo>;
  /** `specs` may carry `consumer`; the rest are the spec's keys. */
  createQosSpecs(ctx: Ctx, name: string, specs: Record<string, string>): Promise<QosSpecsInfo>;
  setQosKeys(ctx: Ctx, id: string, specs: Record<string, string>): Promise<Record<string, string>>;
  unsetQosKeys(ctx: Ctx, id: string, keys: string[]): Promise<void>;
  deleteQosSpecs(ctx: Ctx, id: string, opts: { force: boolean }): Promise<void>;
  qosAssociations(ctx: Ctx, id: string): Promise<QosAssociation[]>;
  associateQos(ctx: Ctx, id: string, typeId: string): Promise<void>;
  disassociateQos(ctx: Ctx, id: string, typeId: string): Promise<void>;
  disassociateAllQos(ctx: Ctx, id: string): Promise<void>;
}

export interface CreateVolumeRequest {
  size: number;
  name?: string | null;
  description?: string | null;
  volumeType?: string | null;
  availabilityZone?: string | null;
  metadata?: Record<string, string> | null;
  snapshotId?: string | null;
  sourceVolid?: string | null;
  /** group_id (3.13): the group the new volume joins; its type must be one of the group's. */
  groupId?: string | null;
  imageRef?: string | null;
  backupId?: string | null;
}

export interface UpdateVolumeRequest {
  name?: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
}

export type SortDir = 'asc' | 'desc';

export interface ListVolumesRequest {
  /**
   * Every query parameter but paging, sorting and with_count, as given: the workflow applies Cinder's filter
   * rules to them (volume-list.ts).
   */
  filters?: Record<string, string>;
  sort?: { key: string; dir: SortDir }[];
  limit?: number;
  marker?: string;
  offset?: number;
  withCount?: boolean;
}

export interface ListVolumesResult {
  volumes: VolumeInfo[];
  /** Set when `limit` cut the list: the id to pass as the next marker. */
  nextMarker?: string;
  count?: number;
}

export interface AttachRequest {
  instanceUuid?: string | null;
  hostName?: string | null;
  mountpoint: string;
  mode?: AccessMode;
}

export interface ResetStatusRequest {
  status?: string;
  attachStatus?: string;
  migrationStatus?: string | null;
}

export interface ConnectionInfo {
  driver_volume_type: 'iscsi';
  data: Record<string, unknown>;
}

export interface CreateTypeRequest {
  name: string;
  description?: string | null;
  isPublic?: boolean;
  extraSpecs?: Record<string, string> | null;
}

export interface ListTypesRequest {
  /** Admins only: true (the default) public and granted types, false private only, null all. */
  isPublic?: boolean | null;
  sort?: { key: string; dir: SortDir }[];
  limit?: number;
  marker?: string;
  offset?: number;
}

export interface ListTypesResult {
  types: VolumeTypeInfo[];
  /** Set when `limit` cut the list: the id to pass as the next marker. */
  nextMarker?: string;
}

export interface UpdateTypeRequest {
  name?: string | null;
  description?: string | null;
  isPublic?: boolean;
}

type Ctx = RequestContext;

// The attachments API (docs/cinder-compatibility.md#attachments-api); plain data like the rest of this file.
/** One attachment row as the attachments API shows it. */
export interface AttachmentRecord extends AttachmentInfo {
  /** The flattened connection_info of the last update (null while only reserved). */
  connectionInfo: Record<string, unknown> | null;
}

export interface CreateAttachmentRequest {
  volumeId: string;
  instanceUuid?: string | null;
  /** null or {} means "reserve only" (cinderclient sends {} without --connect). */
  connector?: Record<string, unknown> | null;
  /** 3.54+; the HTTP layer drops it below that. */
  mode?: AccessMode | null;
}

export interface ListAttachmentsRequest {
  allTenants?: boolean;
  /** With allTenants: only this project (cinderclient --tenant). */
  projectId?: string;
  volumeId?: string;
  attachStatus?: string;
  instanceUuid?: string;
  sort?: { key: string; dir: SortDir }[];
  limit?: number;
  marker?: string;
  offset?: number;
}

export interface ListAttachmentsResult {
  attachments: AttachmentRecord[];
  /** Set when `limit` cut the list: the id to pass as the next marker. */
  nextMarker?: string;
}


/** The attachments API (3.27+, os-complete 3.44+). */
export interface AttachmentsWorkflow {
  createAttachment(ctx: Ctx, req: CreateAttachmentRequest): Promise<AttachmentRecord>;
  listAttachments(ctx: Ctx, req: ListAttachmentsRequest): Promise<ListAttachmentsResult>;
  getAttachment(ctx: Ctx, id: string): Promise<AttachmentRecord>;
  /** Connects the attachment to the connector's host; returns it with the flattened connection_info. */
  updateAttachment(ctx: Ctx, id: string, connector: unknown): Promise<AttachmentRecord>;
  completeAttachment(ctx: Ctx, id: string): Promise<void>;
  /** Returns the volume's remaining live attachments. */
  deleteAttachment(ctx: Ctx, id: string): Promise<AttachmentRecord[]>;
}

/** One recorded transition (who, what, from, to, when) of a volume or one of its attachments. */
export interface VolumeEventInfo {
  id: string;
  seq: number;
  volumeId: string;
  resourceType: 'volume' | 'attachment';
  resourceId: string;
  action: string;
  from: string | null;
  to: string | null;
  userId: string | null;
  projectId: string | null;
  requestId: string | null;
  reason: string | null;
  createdAt: string;
}

/** What one reconcile pass did (workflow/reconciler.ts). */
export interface ReconcileReport {
  /** Host tasks (create, extend, delete) finished or failed on behalf of a process that is gone. */
  tasksFinished: number;
  /** Attachments deleted or returned to attached, volumes unreserved or rolled back: leases that ran out. */
  leasesExpired: number;
  /** Pending connections dropped because their attach never came. */
  pendingDropped: number;
  /** Exports recreated (start-up restore, or a target that vanished, e.g. tgtd restarted). */
  exportsRestored: number;
  /** Targets removed because no live attachment or pending connection needs them. */
  exportsRemoved: number;
  /** Backing files removed because no live volume row owns them. */
  filesRemoved: number;
  /** Steps that failed (logged; the next pass retries). */
  errors: number;
}

/** The volume lifecycle and every volume action (docs/cinder-compatibility.md#volume-actions); all checks of policy and state happen here. */
export interface Workflow
  extends AttachmentsWorkflow,
    TypeAccessWorkflow,
    EncryptionTypesWorkflow,
    ServicesWorkflow,
    RetypeWorkflow,
    QuotasWorkflow,
    TransfersWorkflow,
    VolumeExtrasWorkflow,
    SnapshotsWorkflow,
    GroupTypesWorkflow,
    GroupsWorkflow,
    QosSpecsWorkflow {
  createVolume(ctx: Ctx, req: CreateVolumeRequest): Promise<VolumeInfo>;
  getVolume(ctx: Ctx, id: string): Promise<VolumeInfo>;
  listVolumes(ctx: Ctx, req: ListVolumesRequest): Promise<ListVolumesResult>;
  updateVolume(ctx: Ctx, id: string, req: UpdateVolumeRequest): Promise<VolumeInfo>;
  deleteVolume(ctx: Ctx, id: string, opts?: { force?: boolean; cascade?: boolean }): Promise<void>;
  forceDeleteVolume(ctx: Ctx, id: string): Promise<void>;

  reserve(ctx: Ctx, id: string): Promise<void>;
  unreserve(ctx: Ctx, id: string): Promise<void>;
  initializeConnection(ctx: Ctx, id: string, connector: unknown): Promise<ConnectionInfo>;
  attach(ctx: Ctx, id: string, req: AttachRequest): Promise<void>;
  beginDetaching(ctx: Ctx, id: string): Promise<void>;
  rollDetaching(ctx: Ctx, id: string): Promise<void>;
  terminateConnection(ctx: Ctx, id: string, connector: unknown): Promise<void>;
  detach(ctx: Ctx, id: string, attachmentId?: string | null): Promise<void>;
  forceDetach(ctx: Ctx, id: string, req: { connector?: unknown; attachmentId?: string | null }): Promise<void>;
  resetStatus(ctx: Ctx, id: string, req: ResetStatusRequest): Promise<void>;
  updateReadonlyFlag(ctx: Ctx, id: string, readonly: boolean): Promise<void>;
  setBootable(ctx: Ctx, id: string, bootable: boolean): Promise<void>;
  extend(ctx: Ctx, id: string, newSize: number): Promise<void>;

  listTypes(ctx: Ctx, opts?: ListTypesRequest): Promise<ListTypesResult>;
  getType(ctx: Ctx, idOrDefault: string): Promise<VolumeTypeInfo>;
  createType(ctx: Ctx, req: CreateTypeRequest): Promise<VolumeTypeInfo>;
  updateType(ctx: Ctx, id: string, req: UpdateTypeRequest): Promise<VolumeTypeInfo>;
  deleteType(ctx: Ctx, id: string): Promise<void>;
  getExtraSpecs(ctx: Ctx, typeId: string): Promise<Record<string, string>>;
  /** uriKey: PUT /types/{id}/extra_specs/{key}, whose body must hold that key. */
  setExtraSpecs(ctx: Ctx, typeId: string, specs: Record<string, string>, opts?: { uriKey?: string }): Promise<Record<string, string>>;
  getExtraSpec(ctx: Ctx, typeId: string, key: string): Promise<Record<string, string>>;
  deleteExtraSpec(ctx: Ctx, typeId: string, key: string): Promise<void>;

  /** ensure_export at start: recreates the target and ACL of every exported volume with live attachments. */
  restoreExports(): Promise<void>;
  /** Admin only: every state transition of a volume and its attachments (who, what, from, to, when), oldest first. */
  listVolumeEvents(ctx: Ctx, id: string, opts?: { limit?: number }): Promise<VolumeEventInfo[]>;
  /**
   * Start-up (startup: true) and periodic reconciliation: finishes host tasks cut off by a crash, rolls back
   * expired leases, restores the exports of live attachments, and removes targets and files without a row.
   */
  reconcile(opts?: { startup?: boolean }): Promise<ReconcileReport>;
  /**
   * For the volume hosts whose services row is down (their own reconciler is not running): rolls back their
   * volumes' and attachments' expired leases, so nothing stays reserved, attaching or detaching while they are gone.
   */
  expireLeasesOfDownHosts(): Promise<ReconcileReport>;
  /** Resolves when every background task (create, delete, extend) started so far has finished. */
  drain(): Promise<void>;
}

export type * from './quotas-model.js';
export type * from './transfers-model.js';
