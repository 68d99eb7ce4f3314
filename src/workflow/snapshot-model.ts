// What the snapshot workflow hands back to its callers (plain data) and the operations it offers.
// A leaf like model.ts: it imports nothing of the workflow but the request context.
import type { RequestContext } from './context.js';

type Ctx = RequestContext;

export interface SnapshotInfo {
  id: string;
  volumeId: string;
  projectId: string;
  userId: string;
  name: string | null;
  description: string | null;
  status: string;
  progress: string;
  size: number;
  groupSnapshotId: string | null;
  createdAt: string;
  updatedAt: string | null;
  metadata: Record<string, string>;
}

export interface CreateSnapshotRequest {
  volumeId: string;
  name?: string | null;
  description?: string | null;
  /** The `force` flag as the client sent it (undefined when absent). */
  force?: boolean;
  metadata?: Record<string, string> | null;
}

export interface ListSnapshotsRequest {
  allTenants?: boolean;
  name?: string;
  status?: string;
  volumeId?: string;
  metadata?: Record<string, string>;
  sort?: { key: string; dir: 'asc' | 'desc' }[];
  limit?: number;
  marker?: string;
  offset?: number;
  withCount?: boolean;
}

export interface ListSnapshotsResult {
  snapshots: SnapshotInfo[];
  nextMarker?: string;
  count?: number;
}

export interface SnapshotsWorkflow {
  createSnapshot(ctx: Ctx, req: CreateSnapshotRequest): Promise<SnapshotInfo>;
  getSnapshot(ctx: Ctx, id: string): Promise<SnapshotInfo>;
  listSnapshots(ctx: Ctx, req: ListSnapshotsRequest): Promise<ListSnapshotsResult>;
  updateSnapshot(ctx: Ctx, id: string, req: { name?: string | null; description?: string | null }): Promise<SnapshotInfo>;
  deleteSnapshot(ctx: Ctx, id: string): Promise<void>;
  forceDeleteSnapshot(ctx: Ctx, id: string): Promise<void>;
  resetSnapshotStatus(ctx: Ctx, id: string, status: string): Promise<void>;
  updateSnapshotStatus(ctx: Ctx, id: string, status: string, progress?: string): Promise<void>;
  getSnapshotMetadata(ctx: Ctx, id: string): Promise<Record<string, string>>;
  /** replace: PUT /metadata (keys not given are removed); otherwise POST /metadata and PUT /metadata/{key}. */
  updateSnapshotMetadata(ctx: Ctx, id: string, items: Record<string, string>, replace: boolean): Promise<Record<string, string>>;
  deleteSnapshotMetadataKey(ctx: Ctx, id: string, key: string): Promise<void>;
  /** os-revert (3.40): the volume's latest snapshot only, same size, volume available. */
  revertToSnapshot(ctx: Ctx, volumeId: string, snapshotId: string | null): Promise<void>;
}
