// The placement rules of scheduling.ts against the cases Cinder's own filters decide
// (cinder/scheduler/filters/capabilities_filter.py, extra_specs_ops.py, capacity_filter.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendSatisfies, hasRoomFor, specMatches } from '../../src/workflow/scheduling.js';

const caps = {
  volume_backend_name: 'file',
  vendor_name: 'Open Source',
  storage_protocol: 'iSCSI',
  driver_version: '1.0.0',
  multiattach: true,
  thin_provisioning_support: true,
  total_capacity_gb: 100,
  free_capacity_gb: 40,
  reserved_percentage: 10,
  max_over_subscription_ratio: 20,
  nested: { depth: 'x' },
};

test('extra_specs_ops.match: plain equality and every operator', () => {
  const cases: [unknown, string | null, boolean][] = [
    ['iSCSI', 'iSCSI', true],
    ['iSCSI', 'iscsi', false],
    [true, 'True', false], // no operator: a boolean never equals a string
    [true, '<is> True', true],
    [true, '<is> False', false],
    ['True', '<is> true', true],
    ['1.0.0', '<in> 1.0', true],
    ['file', '<or> lvm <or> file', true],
    ['file', '<or> lvm <or> nfs', false],
    [100, '>= 50', true],
    [100, '<= 50', false],
    [100, '= 100', true],
    [100, '== 100.0', true],
    [100, '!= 100', false],
    ['abc', 's< abd', true],
    ['abc', 's== abc', true],
    ['abc', 's>= abd', false],
    [null, '<is> True', false],
    [null, null, true],
    ['x', null, false],
    ['unmeasurable', '>= 1', false], // float() raises ValueError: no match
  ];
  for (const [value, req, want] of cases) assert.equal(specMatches(value, req), want, `${JSON.stringify(value)} vs ${JSON.stringify(req)}`);
});

test('CapabilitiesFilter: unscoped and capabilities: keys must match, other scopes are skipped, unknown keys fail', () => {
  assert.equal(backendSatisfies({}, caps), true);
  assert.equal(backendSatisfies({ storage_protocol: 'iSCSI', vendor_name: 'Open Source' }, caps), true);
  assert.equal(backendSatisfies({ storage_protocol: 'tempest-storage_protocol-1' }, caps), false);
  assert.equal(backendSatisfies({ 'capabilities:multiattach': '<is> True' }, caps), true);
  assert.equal(backendSatisfies({ 'capabilities:nested:depth': 'x' }, caps), true);
  assert.equal(backendSatisfies({ 'RESKEY:availability_zones': 'elsewhere', 'vendor:anything': 'x' }, caps), true);
  assert.equal(backendSatisfies({ volume_backend_name: 'lvmdriver-1' }, caps), false);
  assert.equal(backendSatisfies({ speed: 'high' }, caps), false, 'a capability the backend does not report fails, as in Cinder');
});

test('CapacityFilter: thin backends take up to (free - reserved) x over-subscription; unknown capacity passes', () => {
  // (40 - 100 * 10%) * 20 = 600 GiB
  assert.equal(hasRoomFor(caps, 600), true);
  assert.equal(hasRoomFor(caps, 601), false);
  assert.equal(hasRoomFor({ ...caps, thin_provisioning_support: false }, 31), false);
  assert.equal(hasRoomFor({ ...caps, thin_provisioning_support: false }, 30), true);
  assert.equal(hasRoomFor({ ...caps, free_capacity_gb: 'infinite' }, 10 ** 9), true);
  assert.equal(hasRoomFor({ ...caps, total_capacity_gb: 0, free_capacity_gb: 0 }, 10 ** 9), true, 'a host that measured nothing is not refused');
});
