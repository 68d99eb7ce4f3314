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
  limit?: number;
  offset?: number;
}

export interface TransfersWorkflow {
  /** The only answer that carries the auth key; it is stored as a salted hash and cannot be read again. */
  createTransfer(ctx: RequestContext, req: CreateTransferRequest): Promise<TransferInfo & { authKey: string }>;
  getTransfer(ctx: RequestContext, id: string): Promise<TransferInfo>;
  listTransfers(ctx: RequestContext, req: ListTransfersRequest): Promise<TransferInfo[]>;
  deleteTransfer(ctx: RequestContext, id: string): Promise<void>;
  acceptTransfer(ctx: RequestContext, id: string, authKey: string): Promise<TransferInfo>;
}
