// What the volume summary, volume metadata, availability zone, user message and resource filter actions hand
// back (plain data, like model.ts; this file imports nothing so model.ts can extend it without a cycle).
import type { RequestContext } from './context.js';

type Ctx = RequestContext;

export interface VolumeSummaryInfo {
  totalCount: number;
  totalSize: number;
  /** Every metadata key with its distinct values (shown from 3.36). */
  metadata: Record<string, string[]>;
}

export interface AvailabilityZoneInfo {
  name: string;
  available: boolean;
}

export interface MessageInfo {
  id: string;
  projectId: string;
  requestId: string;
  resourceType: string | null;
  resourceUuid: string | null;
  eventId: string;
  /** "<action text>:<detail text>", Cinder's user_message. */
  userMessage: string;
  messageLevel: string;
  createdAt: string;
  expiresAt: string;
}

export interface ListMessagesRequest {
  /** Query parameters other than paging and sorting (3.5+), raw. */
  filters?: Record<string, string>;
  sort?: { key: string; dir: 'asc' | 'desc' }[];
  limit?: number;
  marker?: string;
  offset?: number;
}

export interface ListMessagesResult {
  messages: MessageInfo[];
  /** The id to pass as the next marker when a page was cut by the limit. */
  nextMarker?: string;
}

export interface VolumeExtrasWorkflow {
  /** 3.12 `GET /volumes/summary`: `filters` as the query gave them. */
  volumeSummary(ctx: Ctx, filters: Record<string, string>): Promise<VolumeSummaryInfo>;

  getVolumeMetadata(ctx: Ctx, volumeId: string): Promise<Record<string, string>>;
  /** POST merges (replace false), PUT replaces (replace true); both return the volume's whole metadata after. */
  setVolumeMetadata(ctx: Ctx, volumeId: string, items: Record<string, string>, opts: { replace: boolean }): Promise<Record<string, string>>;
  getVolumeMetadataItem(ctx: Ctx, volumeId: string, key: string): Promise<string>;
  deleteVolumeMetadataItem(ctx: Ctx, volumeId: string, key: string): Promise<void>;

  listAvailabilityZones(ctx: Ctx): Promise<AvailabilityZoneInfo[]>;

  listMessages(ctx: Ctx, req: ListMessagesRequest): Promise<ListMessagesResult>;
  getMessage(ctx: Ctx, id: string): Promise<MessageInfo>;
  deleteMessage(ctx: Ctx, id: string): Promise<void>;
  /** Drops messages past their guaranteed_until (Cinder's scheduler reaps them every message_reap_interval). */
  reapExpiredMessages(): Promise<number>;
}
