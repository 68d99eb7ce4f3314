// Row shapes of every table, as kysely sees them.
// Portability notes (the same schema must run on SQLite and PostgreSQL):
// - booleans are `boolean` columns; SQLite hands back 0/1, PostgreSQL true/false, so read them with toBool().
// - timestamps are fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.ffffff` (Cinder's wire format): it sorts correctly,
//   compares as text on both engines, and avoids node-postgres turning `timestamp` columns into local-time Dates.
import type { Generated, Kysely, Transaction } from 'kysely';

/** What a boolean column holds on either engine. */
export type DbBool = number | boolean;

export interface VolumesTable {
  id: string;
  project_id: string;
  user_id: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  attach_status: string;
  multiattach: DbBool;
  bootable: DbBool;
  volume_type_id: string | null;
  availability_zone: string;
  host: string | null;
  provider_location: string | null;
  provider_auth: string | null;
  migration_status: string | null;
  encryption_key_id: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
  /** Deadline of an interim state (reserved, attaching, detaching, creating, extending, deleting); migration 3. */
  lease_expires_at?: string | null;
  /** Target size of an accepted extend that has not finished; migration 3. */
  pending_size?: number | null;
  /** The snapshot this volume was created from; migration 30. */
  snapshot_id?: string | null;
  /** The volume this volume was cloned from; migration 30. */
  source_volid?: string | null;
  /** The generic volume group the volume belongs to; migration 80. */
  group_id?: string | null;
}

/** A generic volume group (Cinder's groups); migration 80. */
export interface GroupsTable {
  id: string;
  project_id: string;
  user_id: string;
  name: string | null;
  description: string | null;
  status: string;
  availability_zone: string;
  group_type_id: string;
  host: string | null;
  group_snapshot_id: string | null;
  source_group_id: string | null;
  lease_expires_at: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
}

/** The volume types a group allows, in the order the request gave them; migration 80. */
export interface GroupVolumeTypeMappingTable {
  group_id: string;
  volume_type_id: string;
  position: number;
}

/** A snapshot of every volume of a group, taken together (Cinder's group_snapshots); migration 80. */
export interface GroupSnapshotsTable {
  id: string;
  group_id: string;
  project_id: string;
  user_id: string;
  name: string | null;
  description: string | null;
  status: string;
  group_type_id: string;
  lease_expires_at: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
}

/** A point-in-time copy of a volume (Cinder's snapshots table); migration 30. */
export interface SnapshotsTable {
  id: string;
  volume_id: string;
  project_id: string;
  user_id: string;
  name: string | null;
  description: string | null;
  status: string;
  progress: string;
  volume_size: number;
  volume_type_id: string | null;
  group_snapshot_id: string | null;
  lease_expires_at: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
}

/** Group types (Cinder's group_types); migration 31. */
export interface GroupTypesTable {
  id: string;
  name: string;
  description: string | null;
  is_public: DbBool;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
}

export interface GroupTypeSpecsTable {
  group_type_id: string;
  key: string;
  value: string;
}

export interface SnapshotMetadataTable {
  snapshot_id: string;
  key: string;
  value: string;
}

export interface VolumeAttachmentTable {
  id: string;
  volume_id: string;
  instance_uuid: string | null;
  attached_host: string | null;
  mountpoint: string | null;
  attach_time: string | null;
  detach_time: string | null;
  attach_status: string;
  attach_mode: string | null;
  connection_info: string | null;
  /** JSON of the connector that os-initialize_connection received (Cinder's legacy flow leaves it NULL). */
  connector: string | null;
  /** connector.initiator, kept in its own column so "who else uses this initiator" is one indexed query. */
  initiator: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
  /** Deadline of an interim attach_status (reserved, attaching, detaching); migration 3. */
  lease_expires_at?: string | null;
}

/**
 * Connections opened by os-initialize_connection that no attachment has claimed yet.
 * The legacy os-attach carries no connector, so this is how an attachment learns which
 * initiator it came from (needed to keep an ACL entry while another attachment still uses it).
 */
export interface VolumeConnectionsTable {
  volume_id: string;
  initiator: string;
  connector: string;
  created_at: string;
}

export interface VolumeTypesTable {
  id: string;
  name: string;
  description: string | null;
  is_public: DbBool;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
  /** The QoS spec associated with the type, or NULL; migration 50. */
  qos_specs_id?: string | null;
}

/** A QoS spec (Cinder's quality_of_service_specs root row); migration 50. */
export interface QosSpecsTable {
  id: string;
  name: string;
  /** front-end, back-end or both. */
  consumer: string;
  created_at: string;
  updated_at: string | null;
}

/** One key of a QoS spec; migration 50. */
export interface QosSpecsKeysTable {
  qos_specs_id: string;
  key: string;
  value: string;
}

export interface VolumeTypeExtraSpecsTable {
  volume_type_id: string;
  key: string;
  value: string;
}

export interface KeyValueTable {
  volume_id: string;
  key: string;
  value: string;
}

/** One state transition of a volume or an attachment (who, what, from, to, when); migration 3. */
export interface VolumeEventsTable {
  id: string;
  seq: number;
  volume_id: string;
  resource_type: 'volume' | 'attachment';
  resource_id: string;
  action: string;
  from_status: string | null;
  to_status: string | null;
  user_id: string | null;
  project_id: string | null;
  request_id: string | null;
  reason: string | null;
  created_at: string;
}

/** A user message (migration 10): what went wrong with an asynchronous request, in Cinder's predefined words. */
export interface MessagesTable {
  id: string;
  project_id: string;
  request_id: string;
  resource_type: string | null;
  resource_uuid: string | null;
  event_id: string;
  action_id: string | null;
  detail_id: string | null;
  message_level: string;
  created_at: string;
  expires_at: string;
  deleted_at: string | null;
  deleted: DbBool;
}

/** Projects that may see and use a private volume type (Cinder's volume_type_projects); migration 20. */
export interface VolumeTypeProjectsTable {
  volume_type_id: string;
  project_id: string;
  created_at: string;
}

/** A volume type's encryption spec (Cinder's encryption table), at most one live row per type; migration 20. */
export interface EncryptionTable {
  encryption_id: string;
  volume_type_id: string;
  provider: string | null;
  cipher: string | null;
  key_size: number | null;
  control_location: string;
  created_at: string;
  updated_at: string | null;
}

/**
 * A running service (Cinder's services table): every volume host and every scheduler registers one row and
 * heartbeats in updated_at; os-services, os-hosts, the pools API and placement read it. Migration 20.
 */
export interface ServicesTable {
  id: string;
  /** `<host-name>@<backend>` for cinder-volume, `<host-name>` for cinder-scheduler. */
  host: string;
  binary: string;
  topic: string;
  availability_zone: string;
  disabled: DbBool;
  disabled_reason: string | null;
  frozen: DbBool;
  /** Where the API reaches this host's internal RPC; NULL while the host runs in the API's process. */
  rpc_address: string | null;
  /** JSON: the backend's stats and capabilities as of the last heartbeat (cinder-volume only). */
  capabilities: string | null;
  created_at: string;
  /** Last heartbeat. */
  updated_at: string | null;
  /** Last change by an operator (enable, disable, freeze, thaw). */
  modified_at: string | null;
}

/**
 * A quota limit set by an admin (migration 40): for a project (kind 'project', owner = project id) or for a
 * quota class (kind 'class', owner = class name; only 'default' is used). Per-type limits name the type by
 * id in volume_type_id ('' for the totals), so renaming a type keeps its limits.
 */
export interface QuotaLimitsTable {
  kind: 'project' | 'class';
  owner: string;
  resource: string;
  volume_type_id: string;
  hard_limit: number;
}

/** What a project consumes now, per resource (and per type; '' for the totals); migration 40. */
export interface QuotaUsagesTable {
  project_id: string;
  resource: string;
  volume_type_id: string;
  in_use: number;
}

/** An offer to give a volume to another project (migration 41). The auth key is kept only as a salted scrypt hash. */
export interface TransfersTable {
  id: string;
  volume_id: string;
  display_name: string | null;
  salt: string;
  crypt_hash: string;
  source_project_id: string;
  destination_project_id: string | null;
  accepted: DbBool;
  no_snapshots: DbBool;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: DbBool;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface Database {
  volumes: VolumesTable;
  volume_attachment: VolumeAttachmentTable;
  volume_connections: VolumeConnectionsTable;
  volume_types: VolumeTypesTable;
  volume_type_extra_specs: VolumeTypeExtraSpecsTable;
  volume_metadata: KeyValueTable;
  volume_admin_metadata: KeyValueTable;
  embervol_migrations: MigrationsTable;
  volume_events: VolumeEventsTable;
  snapshots: SnapshotsTable;
  snapshot_metadata: SnapshotMetadataTable;
  group_types: GroupTypesTable;
  group_type_specs: GroupTypeSpecsTable;
  groups: GroupsTable;
  group_volume_type_mapping: GroupVolumeTypeMappingTable;
  group_snapshots: GroupSnapshotsTable;
  volume_type_projects: VolumeTypeProjectsTable;
  encryption: EncryptionTable;
  services: ServicesTable;
  qos_specs: QosSpecsTable;
  qos_specs_keys: QosSpecsKeysTable;
  quota_limits: QuotaLimitsTable;
  quota_usages: QuotaUsagesTable;
  transfers: TransfersTable;
  messages: MessagesTable;
}

/** What a repository function runs on: the database, or the transaction it is part of. */
export type Db = Kysely<Database> | Transaction<Database>;

// Generated is re-exported so callers that add autoincrement tables later keep one import site.
export type { Generated };

export function toBool(v: DbBool | null | undefined): boolean {
  return v === true || v === 1;
}

/** 1/0 binds on both engines (PostgreSQL parses '1'/'0' as boolean literals; better-sqlite3 cannot bind JS booleans). */
export function dbBool(b: boolean): number {
  return b ? 1 : 0;
}

/** Cinder's timestamp format, UTC, microseconds padded from JS milliseconds. */
export function nowTimestamp(d: Date = new Date()): string {
  return d.toISOString().slice(0, 23) + '000';
}
