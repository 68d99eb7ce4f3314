// /group_types and group specs (3.11+): CRUD as Cinder answers it, admin-only writes, specs hidden from members.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeApi, fault, type Api } from './client.js';

let api: Api;
before(async () => {
  api = await makeApi();
});
after(async () => {
  await api?.close();
});

const V = { 'openstack-api-version': 'volume 3.11' };
const MEMBER = { ...V, 'x-roles': 'member' };

test('group types: create, show, list by is_public, update, delete; 409 duplicate, 404 below 3.11 and when missing', async () => {
  assert.equal((await api.call('GET', '/group_types')).status, 404, 'no group types before 3.11');
  const made = await api.call('POST', '/group_types', { group_type: { name: 'gt-a', description: 'd', group_specs: { consistent_group_snapshot_enabled: '<is> True' } } }, V);
  assert.equal(made.status, 202, made.text);
  const t = made.body.group_type;
  assert.deepEqual(t, { id: t.id, name: 'gt-a', description: 'd', is_public: true, group_specs: { consistent_group_snapshot_enabled: '<is> True' } });
  assert.equal((await api.call('POST', '/group_types', { group_type: { name: 'gt-a' } }, V)).status, 409);
  const priv = (await api.call('POST', '/group_types', { group_type: { name: 'gt-private', is_public: false } }, V)).body.group_type;
  const names = async (q: string, h = V) => (await api.call('GET', `/group_types${q}`, undefined, h)).body.group_types.map((g: { name: string }) => g.name).sort();
  assert.deepEqual(await names(''), ['gt-a']);
  assert.deepEqual(await names('?is_public=false'), ['gt-private']);
  assert.deepEqual(await names('?is_public=None'), ['gt-a', 'gt-private']);
  assert.deepEqual(await names('?is_public=None', MEMBER), ['gt-a'], 'members see public types only');
  const asMember = (await api.call('GET', `/group_types/${t.id}`, undefined, MEMBER)).body.group_type;
  assert.ok(!('group_specs' in asMember));
  assert.equal((await api.call('GET', `/group_types/${priv.id}`, undefined, MEMBER)).status, 404);
  const up = await api.call('PUT', `/group_types/${t.id}`, { group_type: { name: 'gt-b', description: 'new' } }, V);
  assert.equal(up.body.group_type.name, 'gt-b');
  assert.deepEqual((await api.call('PUT', `/group_types/${t.id}`, { group_type: {} }, V)).body, fault(400, 'badRequest', 'Specify group type name, description or a combination thereof.'));
  assert.equal((await api.call('POST', '/group_types', { group_type: { name: 'x' } }, MEMBER)).status, 403);
  assert.deepEqual((await api.call('GET', '/group_types/default', undefined, V)).body, fault(404, 'itemNotFound', 'Default group type can not be found.'));
  assert.equal((await api.call('DELETE', `/group_types/${t.id}`, undefined, V)).status, 202);
  const missing = randomUUID();
  assert.deepEqual((await api.call('GET', `/group_types/${t.id}`, undefined, V)).body, fault(404, 'itemNotFound', `Group type ${t.id} could not be found.`));
  assert.equal((await api.call('DELETE', `/group_types/${missing}`, undefined, V)).status, 404);
});

test('group specs: create, list, show, update, delete; URI and body must agree', async () => {
  const t = (await api.call('POST', '/group_types', { group_type: { name: 'gt-specs' } }, V)).body.group_type;
  const base = `/group_types/${t.id}/group_specs`;
  const created = await api.call('POST', base, { group_specs: { a: '1', b: '2' } }, V);
  assert.equal(created.status, 202);
  assert.deepEqual(created.body, { group_specs: { a: '1', b: '2' } });
  assert.deepEqual((await api.call('GET', base, undefined, V)).body, { group_specs: { a: '1', b: '2' } });
  assert.deepEqual((await api.call('GET', `${base}/a`, undefined, V)).body, { a: '1' });
  assert.deepEqual((await api.call('PUT', `${base}/a`, { a: 'x' }, V)).body, { a: 'x' });
  assert.deepEqual((await api.call('PUT', `${base}/a`, { b: 'x' }, V)).body, fault(400, 'badRequest', 'Request body and URI mismatch'));
  assert.equal((await api.call('DELETE', `${base}/b`, undefined, V)).status, 202);
  assert.deepEqual((await api.call('GET', `${base}/b`, undefined, V)).body, fault(404, 'itemNotFound', `Group Type ${t.id} has no extra spec with key b.`));
  assert.deepEqual((await api.call('DELETE', `${base}/b`, undefined, V)).body, fault(404, 'itemNotFound', `Group Type ${t.id} has no specs with key b.`));
  assert.deepEqual((await api.call('GET', base, undefined, V)).body, { group_specs: { a: 'x' } });
  assert.equal((await api.call('GET', base, undefined, MEMBER)).status, 403);
});
