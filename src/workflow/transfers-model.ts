// Shapes of the volume transfer API between the HTTP layer and the workflow (a leaf: imports nothing but context).
import type { RequestContext } from './context.js';

export interface TransferInfo {
  id: string;
  volumeId: string;
  name: string | null;
  createdAt: string;
  noSnapshots: boolean;
  sourceProjectId: string;
  destinationProjectId: string | null;
  accepted: boolean;
}

export interface CreateTransferRequest {
  volumeId: string;
  name?: string | null;
  noSnapshots?: boolean;
}

export interface ListTransfersRequest {
  allTenants?: boolean;
  name?: string;
  /** From 3.59 (cinder/api/v3/volume_transfer.py); below it the order is created_at, id ascending. */
  sort?: { key: string; dir: 'asc' | 'desc' }[];
  marker?: string;
  limit?: number;
  offset?: number;
}

export interface ListTransfersResult {
  transfers: TransferInfo[];
  /** Marker of the next page when this one was cut at the limit. */
  nextMarker?: string;
}

export interface TransfersWorkflow {
  /** The only answer that carries the auth key; it is stored as a salted hash and cannot be read again. */
  createTransfer(ctx: RequestContext, req: CreateTransferRequest): Promise<TransferInfo & { authKey: string }>;
  getTransfer(ctx: RequestContext, id: string): Promise<TransferInfo>;
  listTransfers(ctx: RequestContext, req: ListTransfersRequest): Promise<ListTransfersResult>;
  deleteTransfer(ctx: RequestContext, id: string): Promise<void>;
  acceptTransfer(ctx: RequestContext, id: string, authKey: string): Promise<TransferInfo>;
}
