// Who may do what (Cinder's default policies, docs/cinder-compatibility.md#policies), in one place.
import { CinderFault, forbidden } from '../errors.js';
import type { RequestContext } from './context.js';

/** `(role:admin) or (role:member and project_id:%(project_id)s)`; the project half is checked when the volume loads. */
export function requireMember(ctx: RequestContext, rule: string): void {
  if (ctx.isAdmin || ctx.roles.includes('member') || ctx.roles.includes('admin')) return;
  throw forbidden(rule);
}

/** `rule:admin_api`. */
export function requireAdmin(ctx: RequestContext, rule: string): void {
  if (ctx.isAdmin) return;
  throw forbidden(rule);
}

/** Another project's resource is reported as missing so its existence does not leak (Cinder's volume:get). */
export function canSeeProject(ctx: RequestContext, projectId: string): boolean {
  return ctx.isAdmin || ctx.projectId === projectId;
}

export const conflict = (message: string) => new CinderFault(409, message);
