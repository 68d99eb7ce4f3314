// Shapes of the quota and limits API between the HTTP layer and the workflow (a leaf).
import type { RequestContext } from './context.js';

export interface QuotaUsageInfo {
  limit: number;
  in_use: number;
  reserved: number;
}

export interface QuotasWorkflow {
  /** Limits by resource name (`volumes`, `gigabytes_<type>` ...); with usage, each with in_use and reserved. */
  showQuotaSet(ctx: RequestContext, projectId: string, opts?: { usage?: boolean }): Promise<Record<string, number> | Record<string, QuotaUsageInfo>>;
  defaultQuotaSet(ctx: RequestContext, projectId: string): Promise<Record<string, number>>;
  updateQuotaSet(ctx: RequestContext, projectId: string, body: Record<string, unknown>): Promise<Record<string, number>>;
  deleteQuotaSet(ctx: RequestContext, projectId: string): Promise<void>;
  showQuotaClassSet(ctx: RequestContext, className: string): Promise<Record<string, number>>;
  updateQuotaClassSet(ctx: RequestContext, className: string, body: Record<string, unknown>): Promise<Record<string, number>>;
  /** GET /limits: maxTotal* and total*Used of the caller's project (an admin may name another). */
  absoluteLimits(ctx: RequestContext, projectId?: string): Promise<Record<string, number>>;
}
