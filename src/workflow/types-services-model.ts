// What the workflow hands back for volume type access, encryption types, retype, and services, hosts and pools.
// Plain data, and a leaf: the modules that implement these import it, never the other way round.
import type { RequestContext } from './context.js';

type Ctx = RequestContext;

export interface TypeAccessEntry {
  volumeTypeId: string;
  projectId: string;
}

export interface TypeAccessWorkflow {
  listTypeAccess(ctx: Ctx, typeId: string): Promise<TypeAccessEntry[]>;
  addTypeAccess(ctx: Ctx, typeId: string, projectId: string): Promise<void>;
  removeTypeAccess(ctx: Ctx, typeId: string, projectId: string): Promise<void>;
}

export interface EncryptionSpecInput {
  provider?: string;
  cipher?: string | null;
  keySize?: number | null;
  controlLocation?: 'front-end' | 'back-end';
}

/** The stored spec as Cinder's encryption model lists it (volume_type_encryption.py index). */
export interface EncryptionSpecInfo {
  volumeTypeId: string;
  encryptionId: string;
  provider: string | null;
  cipher: string | null;
  keySize: number | null;
  controlLocation: string;
  createdAt: string;
  updatedAt: string | null;
}

export interface EncryptionTypesWorkflow {
  /** null when the type has no encryption spec. */
  getEncryptionType(ctx: Ctx, typeId: string): Promise<EncryptionSpecInfo | null>;
  createEncryptionType(ctx: Ctx, typeId: string, spec: EncryptionSpecInput): Promise<EncryptionSpecInfo>;
  updateEncryptionType(ctx: Ctx, typeId: string, spec: EncryptionSpecInput): Promise<void>;
  deleteEncryptionType(ctx: Ctx, typeId: string): Promise<void>;
}

export interface ServiceInfo {
  host: string;
  binary: string;
  zone: string;
  disabled: boolean;
  disabledReason: string | null;
  frozen: boolean;
  up: boolean;
  /** The later of the heartbeat and the last operator change (services.py index). */
  updatedAt: string | null;
  lastHeartbeat: string | null;
  replicationStatus: string;
  activeBackendId: string | null;
}

export interface ServiceChange {
  host: string;
  binary: string;
  service: string;
  disabled: boolean;
  status: 'enabled' | 'disabled';
  disabledReason?: string | null;
}

export interface HostUsage {
  host: string;
  project: string;
  volumeCount: number;
  totalVolumeGb: number;
  snapshotCount: number;
  totalSnapshotGb: number;
}

export interface PoolInfo {
  name: string;
  capabilities: Record<string, unknown>;
}

export interface ServicesWorkflow {
  /** Registers (first call) and heartbeats this process's services; serve calls it every REPORT_INTERVAL_SECONDS. */
  heartbeat(): Promise<void>;
  listServices(ctx: Ctx, filters: { host?: string; binary?: string }): Promise<ServiceInfo[]>;
  setServiceEnabled(ctx: Ctx, req: { host: string; binary: string; service: string; enabled: boolean; reason?: string | null }): Promise<ServiceChange>;
  freezeHost(ctx: Ctx, host: string): Promise<void>;
  thawHost(ctx: Ctx, host: string): Promise<void>;
  /** os-hosts: services that are not disabled, optionally in one zone. */
  listHosts(ctx: Ctx, zone?: string): Promise<ServiceInfo[]>;
  showHost(ctx: Ctx, host: string): Promise<HostUsage[]>;
  listPools(ctx: Ctx, filters: { name?: string; backendName?: string }): Promise<PoolInfo[]>;
  backendCapabilities(ctx: Ctx, host: string): Promise<{ topic: string; capabilities: Record<string, unknown> }>;
}

export type MigrationPolicy = 'never' | 'on-demand';

export interface RetypeWorkflow {
  retype(ctx: Ctx, volumeId: string, newType: string, migrationPolicy?: MigrationPolicy | null): Promise<void>;
}
