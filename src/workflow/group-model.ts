// What the group types workflow hands back (plain data) and the operations it offers. A leaf like model.ts.
import type { RequestContext } from './context.js';

type Ctx = RequestContext;

export interface GroupTypeInfo {
  id: string;
  name: string;
  description: string | null;
  isPublic: boolean;
  groupSpecs: Record<string, string>;
}

export interface GroupTypesWorkflow {
  createGroupType(ctx: Ctx, req: { name: string; description?: string | null; isPublic?: boolean; groupSpecs?: Record<string, string> | null }): Promise<GroupTypeInfo>;
  listGroupTypes(ctx: Ctx, req: { isPublic?: boolean; sort?: { key: string; dir: 'asc' | 'desc' }[]; limit?: number; offset?: number; marker?: string }): Promise<GroupTypeInfo[]>;
  getGroupType(ctx: Ctx, id: string): Promise<GroupTypeInfo>;
  updateGroupType(ctx: Ctx, id: string, req: { name?: string | null; description?: string | null; isPublic?: boolean }): Promise<GroupTypeInfo>;
  deleteGroupType(ctx: Ctx, id: string): Promise<void>;
  getGroupSpecs(ctx: Ctx, id: string): Promise<Record<string, string>>;
  setGroupSpecs(ctx: Ctx, id: string, specs: Record<string, string>): Promise<void>;
  deleteGroupSpec(ctx: Ctx, id: string, key: string): Promise<void>;
}
