// Cinder's default policy table (reference 2.0) as embervol applies it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ACTION_RULES, RULES, actionRule, authorize, canSee, isAllowed, mayListAllProjects, type PolicyContext, type Rule } from '../../src/auth/policy.js';
import { CinderFault } from '../../src/errors.js';

const A = 'aaaaaaaa';
const B = 'bbbbbbbb';
const admin: PolicyContext = { projectId: A, roles: ['admin', 'member', 'reader'], isAdmin: true };
const adminRoleOnly: PolicyContext = { projectId: A, roles: ['admin'], isAdmin: false };
const member: PolicyContext = { projectId: A, roles: ['member', 'reader'], isAdmin: false };
const memberNoImplied: PolicyContext = { projectId: A, roles: ['member'], isAdmin: false };
const reader: PolicyContext = { projectId: A, roles: ['reader'], isAdmin: false };
const nobody: PolicyContext = { projectId: A, roles: [], isAdmin: false };
const service: PolicyContext = { projectId: 'svc', roles: ['service'], isAdmin: false };

const adminOnlyActions = ['os-reset_status', 'os-force_detach', 'os-force_delete', 'os-migrate_volume', 'os-migrate_volume_completion'];
const memberActions = [
  'os-reserve', 'os-unreserve', 'os-begin_detaching', 'os-roll_detaching', 'os-attach', 'os-detach',
  'os-initialize_connection', 'os-terminate_connection', 'os-update_readonly_flag', 'os-extend', 'os-retype',
];
const reads: Rule[] = ['volume:get', 'volume:get_all', 'volume_extension:types_extra_specs:index', 'volume_extension:type_get'];
const typeManagement: Rule[] = [
  'volume_extension:types_manage', 'volume_extension:type_create', 'volume_extension:type_update', 'volume_extension:type_delete',
  'volume_extension:types_extra_specs:create', 'volume_extension:types_extra_specs:update', 'volume_extension:types_extra_specs:delete',
];
const attachmentWrites: Rule[] = ['volume:attachment_create', 'volume:attachment_update', 'volume:attachment_delete', 'volume:attachment_complete'];

function denied(ctx: PolicyContext, rule: Rule, projectId?: string): CinderFault {
  try {
    authorize(ctx, rule, { projectId });
  } catch (err) {
    assert.ok(err instanceof CinderFault);
    return err;
  }
  assert.fail(`${rule} was allowed`);
}

describe('policy', () => {
  test('admin-only actions: admin yes (is_admin or the admin role), member and reader no, with Cinder message', () => {
    for (const key of adminOnlyActions) {
      const rule = actionRule(key)!;
      assert.ok(rule, key);
      assert.equal(isAllowed(admin, rule, { projectId: B }), true, `${key} admin in another project`);
      assert.equal(isAllowed(adminRoleOnly, rule, { projectId: A }), true);
      for (const ctx of [member, reader, nobody, service]) {
        const f = denied(ctx, rule, A);
        assert.equal(f.status, 403);
        assert.deepEqual(f.body(), { forbidden: { code: 403, message: `Policy doesn't allow ${rule} to be performed.` } });
      }
    }
    assert.equal(actionRule('os-reset_status'), 'volume_extension:volume_admin_actions:reset_status');
    assert.equal(actionRule('os-force_detach'), 'volume_extension:volume_admin_actions:force_detach');
  });

  test('member actions: member of the owning project yes, reader no, other project no, admin anywhere', () => {
    for (const key of memberActions) {
      const rule = actionRule(key)!;
      assert.ok(rule, key);
      assert.equal(isAllowed(member, rule, { projectId: A }), true, key);
      assert.equal(isAllowed(memberNoImplied, rule, { projectId: A }), true, key);
      assert.equal(isAllowed(member, rule, { projectId: B }), false, `${key} across projects`);
      assert.equal(isAllowed(reader, rule, { projectId: A }), false, `${key} reader`);
      assert.equal(isAllowed(nobody, rule, { projectId: A }), false);
      assert.equal(isAllowed(admin, rule, { projectId: B }), true);
      assert.equal(denied(reader, rule, A).message, `Policy doesn't allow ${rule} to be performed.`);
    }
    for (const rule of attachmentWrites) {
      assert.equal(isAllowed(member, rule, { projectId: A }), true);
      assert.equal(isAllowed(reader, rule, { projectId: A }), false);
    }
    for (const rule of ['volume:create', 'volume:update', 'volume:delete'] as Rule[]) {
      assert.equal(isAllowed(member, rule, { projectId: A }), true);
      assert.equal(isAllowed(reader, rule, { projectId: A }), false);
    }
  });

  test('reads: reader, member and admin; no role at all is refused; other projects refused', () => {
    for (const rule of reads) {
      for (const ctx of [admin, member, memberNoImplied, reader]) assert.equal(isAllowed(ctx, rule, { projectId: A }), true, rule);
      assert.equal(isAllowed(reader, rule, { projectId: B }), rule === 'volume_extension:type_get');
    }
    assert.equal(isAllowed(nobody, 'volume:get', { projectId: A }), false);
    assert.equal(isAllowed(nobody, 'volume_extension:type_get_all'), true, 'type list is open to anyone');
  });

  test('type management is admin only', () => {
    for (const rule of typeManagement) {
      assert.equal(isAllowed(admin, rule), true);
      for (const ctx of [member, reader, service]) assert.equal(isAllowed(ctx, rule), false, rule);
    }
    assert.equal(isAllowed(member, 'volume_extension:access_types_qos_specs_id'), false);
    assert.equal(isAllowed(reader, 'volume_extension:access_types_extra_specs'), true);
  });

  test('project isolation: canSee (-> 404) before authorize (-> 403)', () => {
    assert.equal(canSee(member, A), true);
    assert.equal(canSee(member, B), false);
    assert.equal(canSee(reader, B), false);
    assert.equal(canSee(admin, B), true);
    assert.equal(mayListAllProjects(admin), true);
    assert.equal(mayListAllProjects(member), false);
  });

  test('every action maps to a known rule; unknown rules and actions', () => {
    for (const [key, rule] of Object.entries(ACTION_RULES)) assert.ok(rule in RULES, key);
    assert.equal(actionRule('os-nonsense'), undefined);
    assert.equal(actionRule('toString'), undefined);
    assert.equal(isAllowed(member, 'no:such_rule' as Rule), false, 'unknown rules are admin only');
    assert.equal(isAllowed(admin, 'no:such_rule' as Rule), true);
  });
});
