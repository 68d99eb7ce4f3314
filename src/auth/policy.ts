// Cinder's default policies (reference 2.0; cinder/policies/*.py) as pure functions. The HTTP layer or the
// workflow calls them with the caller's context; nothing here does I/O.
//
// Order of checks, as in Cinder:
//   1. Load the resource scoped to the caller: canSee(ctx, ownerProjectId) false -> 404 (another project's
//      volume does not exist for the caller; Cinder's DB query is project-scoped).
//   2. authorize(ctx, rule, { projectId: owner }) -> throws CinderFault 403
//      "Policy doesn't allow <rule> to be performed." when the role is missing.
//   3. The precondition (status CAS) of the workflow.
//
// Roles: admin (rule:admin_api: is_admin or the admin role) may do everything in every project. member may
// read and act inside its own project. reader may only read inside its own project. Keystone's implied roles
// (admin -> member -> reader) are not relied upon: admin and member count as reader here too.
import { forbidden } from '../errors.js';

export interface PolicyContext {
  projectId: string;
  roles: readonly string[];
  isAdmin: boolean;
}

export interface PolicyTarget {
  /** The project that owns the resource (or the project in the URL for creates and lists). */
  projectId?: string;
}

export type RuleLevel = 'admin' | 'member' | 'reader' | 'anyone';

/** Cinder's rule names and the level their default check string needs. */
export const RULES = {
  // volumes (cinder/policies/volumes.py)
  'volume:create': 'member',
  'volume:create_from_image': 'member',
  'volume:get': 'reader',
  'volume:get_all': 'reader',
  'volume:update': 'member',
  'volume:delete': 'member',
  'volume:force_delete': 'admin',
  'volume:multiattach': 'member',
  'volume:multiattach_bootable_volume': 'member',
  'volume_extension:volume_tenant_attribute': 'reader',
  'volume_extension:volume_host_attribute': 'admin',
  'volume_extension:volume_mig_status_attribute': 'admin',
  'volume_extension:volume_encryption_metadata': 'reader',
  'volume_extension:volume_image_metadata:show': 'reader',
  // volume actions (cinder/policies/volume_actions.py)
  'volume_extension:volume_actions:reserve': 'member',
  'volume_extension:volume_actions:unreserve': 'member',
  'volume_extension:volume_actions:begin_detaching': 'member',
  'volume_extension:volume_actions:roll_detaching': 'member',
  'volume_extension:volume_actions:attach': 'member',
  'volume_extension:volume_actions:detach': 'member',
  'volume_extension:volume_actions:initialize_connection': 'member',
  'volume_extension:volume_actions:terminate_connection': 'member',
  'volume_extension:volume_actions:upload_image': 'member',
  'volume_extension:volume_actions:upload_public': 'admin',
  'volume:update_readonly_flag': 'member',
  'volume:extend': 'member',
  'volume:extend_attached_volume': 'member',
  'volume:retype': 'member',
  'volume:revert_to_snapshot': 'member',
  'volume_extension:volume_admin_actions:reset_status': 'admin',
  'volume_extension:volume_admin_actions:force_detach': 'admin',
  'volume_extension:volume_admin_actions:force_delete': 'admin',
  'volume_extension:volume_admin_actions:migrate_volume': 'admin',
  'volume_extension:volume_admin_actions:migrate_volume_completion': 'admin',
  // attachments (cinder/policies/attachments.py); show/list are governed by volume:get / volume:get_all
  'volume:attachment_create': 'member',
  'volume:attachment_update': 'member',
  'volume:attachment_delete': 'member',
  'volume:attachment_complete': 'member',
  // volume types (cinder/policies/volume_type.py, type_extra_specs.py)
  'volume_extension:types_manage': 'admin',
  'volume_extension:type_create': 'admin',
  'volume_extension:type_update': 'admin',
  'volume_extension:type_delete': 'admin',
  'volume_extension:type_get': 'anyone',
  'volume_extension:type_get_all': 'anyone',
  'volume_extension:access_types_extra_specs': 'reader',
  'volume_extension:access_types_qos_specs_id': 'admin',
  'volume_extension:types_extra_specs:index': 'reader',
  'volume_extension:types_extra_specs:show': 'reader',
  'volume_extension:types_extra_specs:create': 'admin',
  'volume_extension:types_extra_specs:update': 'admin',
  'volume_extension:types_extra_specs:delete': 'admin',
  'volume_extension:volume_type_access': 'admin',
  'volume_extension:volume_type_access:addProjectAccess': 'admin',
  'volume_extension:volume_type_access:removeProjectAccess': 'admin',
} as const satisfies Record<string, RuleLevel>;

export type Rule = keyof typeof RULES;

/** Legacy action body key -> rule (POST /volumes/{id}/action). Unknown keys are the caller's 400. */
export const ACTION_RULES: Readonly<Record<string, Rule>> = {
  'os-reserve': 'volume_extension:volume_actions:reserve',
  'os-unreserve': 'volume_extension:volume_actions:unreserve',
  'os-begin_detaching': 'volume_extension:volume_actions:begin_detaching',
  'os-roll_detaching': 'volume_extension:volume_actions:roll_detaching',
  'os-attach': 'volume_extension:volume_actions:attach',
  'os-detach': 'volume_extension:volume_actions:detach',
  'os-initialize_connection': 'volume_extension:volume_actions:initialize_connection',
  'os-terminate_connection': 'volume_extension:volume_actions:terminate_connection',
  'os-update_readonly_flag': 'volume:update_readonly_flag',
  'os-extend': 'volume:extend',
  'os-retype': 'volume:retype',
  'os-volume_upload_image': 'volume_extension:volume_actions:upload_image',
  'os-reset_status': 'volume_extension:volume_admin_actions:reset_status',
  'os-force_detach': 'volume_extension:volume_admin_actions:force_detach',
  'os-force_delete': 'volume_extension:volume_admin_actions:force_delete',
  'os-migrate_volume': 'volume_extension:volume_admin_actions:migrate_volume',
  'os-migrate_volume_completion': 'volume_extension:volume_admin_actions:migrate_volume_completion',
  revert: 'volume:revert_to_snapshot',
};

export function hasRole(ctx: PolicyContext, role: string): boolean {
  return ctx.roles.includes(role);
}

/** Cinder's rule:admin_api. */
export function isAdmin(ctx: PolicyContext): boolean {
  return ctx.isAdmin || hasRole(ctx, 'admin');
}

function isMember(ctx: PolicyContext): boolean {
  return isAdmin(ctx) || hasRole(ctx, 'member');
}

function isReader(ctx: PolicyContext): boolean {
  return isMember(ctx) || hasRole(ctx, 'reader');
}

/** Whether the caller may see a resource owned by ownerProjectId at all (false -> answer 404, not 403). */
export function canSee(ctx: PolicyContext, ownerProjectId: string): boolean {
  return isAdmin(ctx) || ctx.projectId === ownerProjectId;
}

/** all_tenants=1 on lists: honoured for admins only (Cinder ignores it for others). */
export function mayListAllProjects(ctx: PolicyContext): boolean {
  return isAdmin(ctx);
}

/** The default check string of a rule, evaluated: `(role:admin) or (role:<level> and project_id:%(project_id)s)`. */
export function isAllowed(ctx: PolicyContext, rule: Rule, target: PolicyTarget = {}): boolean {
  const level: RuleLevel | undefined = (RULES as Record<string, RuleLevel>)[rule];
  if (level === undefined) return isAdmin(ctx); // unknown rules default to admin only
  if (level === 'anyone') return true;
  if (isAdmin(ctx)) return true;
  if (level === 'admin') return false;
  const sameProject = target.projectId === undefined || target.projectId === ctx.projectId;
  if (!sameProject) return false;
  return level === 'member' ? isMember(ctx) : isReader(ctx);
}

/** Throws Cinder's 403 fault ("Policy doesn't allow <rule> to be performed.") unless isAllowed. */
export function authorize(ctx: PolicyContext, rule: Rule, target: PolicyTarget = {}): void {
  if (!isAllowed(ctx, rule, target)) throw forbidden(rule);
}

/** The rule for a legacy action key, or undefined when the action is unknown. */
export function actionRule(actionKey: string): Rule | undefined {
  return Object.prototype.hasOwnProperty.call(ACTION_RULES, actionKey) ? ACTION_RULES[actionKey] : undefined;
}
