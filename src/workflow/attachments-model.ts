// What the attachments API (reference 3) hands back and takes in. Plain data, like model.ts.
import type { RequestContext } from './context.js';
import type { AccessMode } from '../host/types.js';
import type { AttachmentInfo, SortDir } from './model.js';

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

type Ctx = RequestContext;

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
