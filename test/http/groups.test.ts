// /groups (3.13+) and /group_snapshots (3.14+) over the real volume host (file backend, private tgtd): the API as
// Cinder 21 answers it (views by microversion, Cinder's checks and messages), the `groups` quota, and the bytes:
// a group snapshot holds a file per member, a group from a group snapshot or a source group holds their content,
// and deletes remove exactly their own files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { makeApi, fault, quotaFault, type Api } from './client.js';
import { recountUsage, storedUsage, usageFingerprint } from '../../src/store/quotas.js';
import { fileExists, readAt, writeAt } from '../support/file-bytes.js';

let api: Api;
before(async () => {
  api = await makeApi({ real: true });
  // These tests make more groups than Cinder's default limit of 10 (the quota test sets its own limits).
  assert.equal((await api.call('PUT', `/os-quota-sets/${api.project}`, { quota_set: { groups: -1 } })).status, 200);
});
after(async () => {
  await api?.close();
});

const V = (minor: number) => ({ 'openstack-api-version': `volume 3.${minor}` });
const LATEST = V(70);
const volumeFile = (id: string) => join(api.env.dir.path, 'volumes', `volume-${id}`);
const snapshotFile = (id: string) => join(api.env.dir.path, 'volumes', `snapshot-${id}`);
let seq = 0;
async function volumeType(): Promise<string> {
  const r = await api.call('POST', '/types', { volume_type: { name: `gvt-${++seq}-${randomUUID().slice(0, 6)}` } });
  assert.equal(r.status, 200, r.text);
  return r.body.volume_type.id as string;
}

async function groupType(): Promise<string> {
  const r = await api.call('POST', '/group_types', { group_type: { name: `gt-${++seq}-${randomUUID().slice(0, 6)}` } }, LATEST);
  assert.equal(r.status, 202, r.text);
  return r.body.group_type.id as string;
}

async function group(groupTypeId: string, volumeTypes: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api.call('POST', '/groups', { group: { group_type: groupTypeId, volume_types: volumeTypes, ...extra } }, LATEST);
  assert.equal(r.status, 202, r.text);
  await api.env.workflow.drain();
  return r.body.group.id as string;
}

async function member(groupId: string, typeId: string): Promise<string> {
  const r = await api.call('POST', '/volumes', { volume: { size: 1, volume_type: typeId, group_id: groupId } }, LATEST);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.volume.group_id, groupId);
  await api.env.workflow.drain();
  return r.body.volume.id as string;
}

const getGroup = async (id: string, headers: Record<string, string> = LATEST) => (await api.call('GET', `/groups/${id}`, undefined, headers)).body.group;
const getVol = async (id: string, headers: Record<string, string> = LATEST) => (await api.call('GET', `/volumes/${id}`, undefined, headers)).body.volume;
const groupAction = (id: string, body: unknown, headers: Record<string, string> = LATEST) => api.call('POST', `/groups/${id}/action`, body, headers);

async function groupSnapshot(groupId: string, name = 'gs'): Promise<string> {
  const r = await api.call('POST', '/group_snapshots', { group_snapshot: { group_id: groupId, name } }, LATEST);
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(Object.keys(r.body.group_snapshot).sort(), ['group_type_id', 'id', 'name']);
  await api.env.workflow.drain();
  return r.body.group_snapshot.id as string;
}

const membersOf = async (gsId: string) =>
  ((await api.call('GET', '/snapshots/detail', undefined, LATEST)).body.snapshots as { id: string; volume_id: string; group_snapshot_id: string; status: string }[]).filter(
    (s) => s.group_snapshot_id === gsId,
  );

test('create, show and list a group: summary on create, the detail view by microversion, volumes in it carry group_id', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const r = await api.call('POST', '/groups', { group: { group_type: gt, volume_types: [vt], name: ' g1 ', description: 'first' } }, V(13));
  assert.equal(r.status, 202);
  assert.deepEqual(Object.keys(r.body.group).sort(), ['id', 'name']);
  assert.equal(r.body.group.name, 'g1', 'names are stripped');
  const id = r.body.group.id as string;

  const at13 = await getGroup(id, V(13));
  assert.deepEqual(Object.keys(at13).sort(), ['availability_zone', 'created_at', 'description', 'group_type', 'id', 'name', 'status', 'volume_types']);
  assert.equal(at13.status, 'available');
  assert.equal(at13.group_type, gt);
  assert.deepEqual(at13.volume_types, [vt]);
  const latest = await getGroup(id);
  assert.equal(latest.group_snapshot_id, null);
  assert.equal(latest.source_group_id, null);
  assert.equal(latest.replication_status, 'disabled');
  assert.equal(latest.project_id, api.project, 'admins see project_id from 3.58');
  assert.equal(latest.volumes, undefined, 'volumes only with list_volume');

  const vol = await member(id, vt);
  assert.deepEqual((await api.call('GET', `/groups/${id}?list_volume=true`, undefined, LATEST)).body.group.volumes, [vol]);
  assert.equal((await getVol(vol, V(13))).group_id, id);
  assert.equal((await getVol(vol, V(12))).group_id, undefined, 'group_id appears at 3.13');
  const filtered = (await api.call('GET', `/volumes/detail?group_id=${id}`, undefined, LATEST)).body.volumes.map((v: { id: string }) => v.id);
  assert.deepEqual(filtered, [vol]);

  const summary = (await api.call('GET', '/groups', undefined, LATEST)).body.groups;
  assert.ok(summary.some((g: { id: string; name: string }) => g.id === id && g.name === 'g1'));
  assert.deepEqual(Object.keys(summary[0]).sort(), ['id', 'name']);
  const detail = (await api.call('GET', '/groups/detail?name=g1', undefined, LATEST)).body.groups;
  assert.deepEqual(detail.map((g: { id: string }) => g.id), [id]);
  // Paging as Cinder: a limit gives a next link with the last id as marker.
  await group(gt, [vt], { name: 'g2' });
  const page = await api.call('GET', '/groups?limit=1&sort=name:asc', undefined, LATEST);
  assert.equal(page.body.groups.length, 1);
  assert.match(page.body.group_links[0].href, /marker=/);

  assert.equal((await api.call('GET', `/groups/${id}`, undefined, V(12))).status, 404, 'no groups API below 3.13');
  assert.deepEqual((await api.call('GET', `/groups/${randomUUID()}`, undefined, LATEST)).status, 404);
  const member2 = { ...LATEST, 'x-roles': 'member' };
  assert.deepEqual(
    (await api.call('GET', '/groups/detail?status=available', undefined, member2)).body,
    fault(400, 'badRequest', 'Invalid filters status are found in query options.'),
  );
});

test('create refusals: Cinder messages for a bad body, unknown types, a bad zone, and volumes that do not fit the group', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const post = (g: unknown) => api.call('POST', '/groups', { group: g }, LATEST);
  assert.deepEqual((await post({ group_type: gt })).body, fault(400, 'badRequest', "Invalid input for field/attribute group. Value: {'group_type': '" + gt + "'}. 'volume_types' is a required property"));
  assert.deepEqual((await post({ group_type: gt, volume_types: [] })).body, fault(400, 'badRequest', 'Invalid input for field/attribute volume_types. Value: []. [] is too short'));
  assert.deepEqual((await post({ group_type: 'no-such-gt', volume_types: [vt] })).body, fault(404, 'itemNotFound', 'Group type with name no-such-gt could not be found.'));
  const missingType = randomUUID();
  assert.deepEqual((await post({ group_type: gt, volume_types: [missingType] })).body, fault(404, 'itemNotFound', `Volume type ${missingType} could not be found.`));
  assert.deepEqual((await post({ group_type: gt, volume_types: [vt], availability_zone: 'mars' })).body, fault(400, 'badRequest', "Invalid input received: Availability zone 'mars' is invalid."));
  assert.equal((await api.call('POST', '/groups', { group: { group_type: gt, volume_types: [vt] } }, V(12))).status, 404);

  const g = await group(gt, [vt]);
  const other = await volumeType();
  const vol = (b: Record<string, unknown>) => api.call('POST', '/volumes', { volume: { size: 1, group_id: g, ...b } }, LATEST);
  assert.deepEqual((await vol({})).body, fault(400, 'badRequest', 'Invalid input received: volume_type must be provided when creating a volume in a group.'));
  assert.deepEqual(
    (await vol({ volume_type: other })).body,
    fault(400, 'badRequest', `Invalid input received: Invalid volume_type provided: ${other} (requested type must be supported by this group).`),
  );
  const missing = randomUUID();
  assert.deepEqual((await vol({ volume_type: vt, group_id: missing })).body, fault(404, 'itemNotFound', `Group ${missing} could not be found.`));
});

test('update: name and description, add and remove volumes with Cinder checks', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const g = await group(gt, [vt]);
  const a = await member(g, vt);
  const b = await member(g, vt);
  const put = (body: Record<string, unknown>) => api.call('PUT', `/groups/${g}`, { group: body }, LATEST);

  assert.equal((await put({ name: 'renamed', description: 'new', remove_volumes: b })).status, 202);
  let shown = await getGroup(g);
  assert.equal(shown.name, 'renamed');
  assert.equal(shown.description, 'new');
  assert.equal(shown.status, 'available');
  assert.equal((await getVol(b)).group_id, null);
  assert.equal((await put({ add_volumes: `${b},` })).status, 202);
  assert.equal((await getVol(b)).group_id, g);

  assert.deepEqual((await put({ add_volumes: a, remove_volumes: a })).body, fault(400, 'badRequest', `Invalid volume: UUIDs ['${a}'] are in both add and remove volume list.`));
  const outsider = await api.create({ volume_type: vt });
  assert.deepEqual(
    (await put({ remove_volumes: outsider })).body,
    fault(400, 'badRequest', `Invalid volume: Cannot remove volume ${outsider} from group ${g} because it is not in the group.`),
  );
  const missing = randomUUID();
  assert.deepEqual(
    (await put({ add_volumes: missing })).body,
    fault(400, 'badRequest', `Invalid volume: Cannot add volume ${missing} to group ${g} because volume cannot be found.`),
  );
  const untyped = await api.create({ volume_type: await volumeType() });
  assert.match((await put({ add_volumes: untyped })).body.badRequest.message, /because volume type .* is not supported by the group\.$/);
  const g2 = await group(gt, [vt]);
  assert.deepEqual(
    (await api.call('PUT', `/groups/${g2}`, { group: { add_volumes: a } }, LATEST)).body,
    fault(400, 'badRequest', `Invalid volume: Cannot add volume ${a} to group ${g2} because it is already in group ${g}.`),
  );
  assert.deepEqual(
    (await put({ name: 'renamed' })).body,
    fault(400, 'badRequest', `Invalid Group: Cannot update group ${g} because no valid name, description, add_volumes, or remove_volumes were provided.`),
  );
  assert.equal((await put({})).status, 400);
  shown = await getGroup(g);
  assert.equal(shown.status, 'available');
});

test('delete: a volume in a group goes only with it; delete-volumes removes the volumes and their files', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const g = await group(gt, [vt]);
  const v = await member(g, vt);
  assert.ok(await fileExists(volumeFile(v)));
  assert.equal((await api.call('DELETE', `/volumes/${v}`, undefined, LATEST)).status, 400, 'a member cannot be deleted alone');
  const retyped = await api.action(v, 'os-retype', { new_type: await volumeType() }, LATEST);
  assert.equal(retyped.status, 400, 'nor retyped (volume/api.py retype: group_id None)');
  assert.match(retyped.body.badRequest.message, /^Invalid volume: Retype needs volume/);
  assert.deepEqual(
    (await groupAction(g, { delete: {} })).body,
    fault(400, 'badRequest', `Invalid Group: Group ${g} still contains volumes. The delete-volumes flag is required to delete it.`),
  );
  assert.equal((await groupAction(g, { delete: { 'delete-volumes': 'maybe' } })).status, 400);
  // A member a host task owns is not deleted under it (better than Cinder, which marks it deleting anyway).
  assert.equal((await api.action(v, 'os-reset_status', { status: 'extending' }, LATEST)).status, 202);
  assert.deepEqual(
    (await groupAction(g, { delete: { 'delete-volumes': true } })).body,
    fault(400, 'badRequest', `Invalid Group: Volume ${v} in group ${g} must be available or error or error_restoring or error_extending or error_managing, detached and without snapshots to be deleted with it.`),
  );
  assert.equal((await getGroup(g)).status, 'available', 'the refused delete changed nothing');
  assert.equal((await api.action(v, 'os-reset_status', { status: 'available' }, LATEST)).status, 202);
  assert.equal((await groupAction(g, { delete: { 'delete-volumes': true } })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/groups/${g}`, undefined, LATEST)).status, 404);
  assert.equal((await api.call('GET', `/volumes/${v}`, undefined, LATEST)).status, 404);
  assert.ok(!(await fileExists(volumeFile(v))));
  // An empty group needs no flag.
  const empty = await group(gt, [vt]);
  assert.equal((await groupAction(empty, { delete: { 'delete-volumes': false } })).status, 202);
  await api.env.workflow.drain();
  assert.equal((await api.call('GET', `/groups/${empty}`, undefined, LATEST)).status, 404);
  assert.deepEqual(
    (await groupAction(empty, { nope: {} })).body,
    fault(400, 'badRequest', 'There is no such action: nope. Verify the request body and Content-Type header and try again.'),
  );
});

test('group snapshots: one snapshot per member, taken together, with group_snapshot_id; delete removes them and their files', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const g = await group(gt, [vt]);
  const a = await member(g, vt);
  const b = await member(g, vt);
  await writeAt(volumeFile(a), 0, 'AA');
  await writeAt(volumeFile(b), 4096, 'BB');
  const gs = await groupSnapshot(g, 'gsnap');
  const shown = (await api.call('GET', `/group_snapshots/${gs}`, undefined, LATEST)).body.group_snapshot;
  assert.equal(shown.status, 'available');
  assert.equal(shown.group_id, g);
  assert.equal(shown.group_type_id, gt);
  assert.equal(shown.name, 'gsnap');
  assert.deepEqual(Object.keys((await api.call('GET', `/group_snapshots/${gs}`, undefined, V(14))).body.group_snapshot).sort(), [
    'created_at', 'description', 'group_id', 'group_type_id', 'id', 'name', 'status',
  ]);
  const members = await membersOf(gs);
  assert.deepEqual(members.map((s) => s.volume_id).sort(), [a, b].sort());
  assert.ok(members.every((s) => s.status === 'available'));
  const snapOf = (vol: string) => members.find((s) => s.volume_id === vol)!.id;
  assert.equal(await readAt(snapshotFile(snapOf(a)), 0, 2), 'AA');
  assert.equal(await readAt(snapshotFile(snapOf(b)), 4096, 2), 'BB');
  assert.equal((await api.call('GET', `/snapshots/${snapOf(a)}`, undefined, V(13))).body.snapshot.group_snapshot_id, undefined, 'group_snapshot_id from 3.14');

  const list = (await api.call('GET', '/group_snapshots', undefined, LATEST)).body.group_snapshots;
  assert.ok(list.some((s: { id: string }) => s.id === gs));
  assert.deepEqual(Object.keys(list[0]).sort(), ['id', 'name']);
  const detail = (await api.call('GET', `/group_snapshots/detail?group_id=${g}`, undefined, LATEST)).body.group_snapshots;
  assert.deepEqual(detail.map((s: { id: string }) => s.id), [gs]);

  // A member is deleted only with its group snapshot; the group only once it has none.
  assert.equal((await api.call('DELETE', `/snapshots/${snapOf(a)}`, undefined, LATEST)).status, 400);
  assert.deepEqual((await groupAction(g, { delete: { 'delete-volumes': true } })).body, fault(400, 'badRequest', 'Invalid Group: Group has existing snapshots.'));
  assert.equal((await api.call('POST', '/group_snapshots', { group_snapshot: { group_id: randomUUID() } }, LATEST)).status, 404);
  assert.equal((await api.call('POST', '/group_snapshots', { group_snapshot: {} }, LATEST)).status, 400);
  assert.equal((await api.call('GET', `/group_snapshots/${gs}`, undefined, V(13))).status, 404);

  // A volume taken out of the group keeps its member snapshot, which a cascade delete may not take away.
  assert.equal((await api.call('PUT', `/groups/${g}`, { group: { remove_volumes: b } }, LATEST)).status, 202);
  const cascade = await api.call('DELETE', `/volumes/${b}?cascade=true`, undefined, LATEST);
  assert.equal(cascade.status, 400, cascade.text);
  assert.equal((await getVol(b)).status, 'available', 'the refused cascade changed nothing');
  assert.equal((await api.call('GET', `/snapshots/${snapOf(b)}`, undefined, LATEST)).body.snapshot.status, 'available');

  assert.equal((await api.call('DELETE', `/group_snapshots/${gs}`, undefined, LATEST)).status, 202);
  await api.env.workflow.drain();
  assert.deepEqual((await api.call('GET', `/group_snapshots/${gs}`, undefined, LATEST)).body, fault(404, 'itemNotFound', `GroupSnapshot ${gs} could not be found.`));
  assert.deepEqual(await membersOf(gs), []);
  for (const s of members) assert.ok(!(await fileExists(snapshotFile(s.id))));
  assert.ok(await fileExists(volumeFile(a)), 'the volumes keep their files');
});

test('a group from a group snapshot and from a source group holds the members content; both sources are claimed', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const g = await group(gt, [vt]);
  const a = await member(g, vt);
  await writeAt(volumeFile(a), 0, 'v1');
  const gs = await groupSnapshot(g);
  await writeAt(volumeFile(a), 0, 'v2');

  const fromSnap = await api.call('POST', '/groups/action', { 'create-from-src': { group_snapshot_id: gs, name: 'from-snap' } }, LATEST);
  assert.equal(fromSnap.status, 202, fromSnap.text);
  assert.deepEqual(Object.keys(fromSnap.body.group).sort(), ['id', 'name']);
  await api.env.workflow.drain();
  const g2 = await getGroup(fromSnap.body.group.id);
  assert.equal(g2.status, 'available');
  assert.equal(g2.group_snapshot_id, gs);
  assert.deepEqual(g2.volume_types, [vt]);
  const [copy] = (await api.call('GET', `/groups/${g2.id}?list_volume=True`, undefined, LATEST)).body.group.volumes;
  assert.equal((await getVol(copy)).status, 'available');
  assert.equal(await readAt(volumeFile(copy), 0, 2), 'v1', 'the group snapshot content');

  const fromGroup = await api.call('POST', '/groups/action', { 'create-from-src': { source_group_id: g, name: 'clone' } }, LATEST);
  assert.equal(fromGroup.status, 202, fromGroup.text);
  await api.env.workflow.drain();
  const g3 = await getGroup(fromGroup.body.group.id);
  assert.equal(g3.status, 'available');
  assert.equal(g3.source_group_id, g);
  const [clone] = (await api.call('GET', `/groups/${g3.id}?list_volume=true`, undefined, LATEST)).body.group.volumes;
  assert.equal(await readAt(volumeFile(clone), 0, 2), 'v2', 'the source group content');

  const src = (body: unknown, headers = LATEST) => api.call('POST', '/groups/action', { 'create-from-src': body }, headers);
  assert.equal((await src({ source_group_id: g }, V(13))).status, 404, 'create-from-src needs 3.14');
  assert.equal((await src({ source_group_id: g, group_snapshot_id: gs })).status, 400, 'exactly one source');
  assert.equal((await src({ name: 'x' })).status, 400);
  const missing = randomUUID();
  assert.deepEqual((await src({ group_snapshot_id: missing })).body, fault(404, 'itemNotFound', `GroupSnapshot ${missing} could not be found.`));
  const empty = await group(gt, [vt]);
  assert.deepEqual((await src({ source_group_id: empty })).body, fault(400, 'badRequest', 'Invalid Group: Source Group is empty. No group will be created.'));
});

test('reset_status: groups from 3.20, group snapshots from 3.19, with the format checkers messages', async () => {
  const vt = await volumeType();
  const gt = await groupType();
  const g = await group(gt, [vt]);
  for (const status of ['creating', 'error', 'available']) {
    assert.equal((await groupAction(g, { reset_status: { status } }, V(20))).status, 202);
    assert.equal((await getGroup(g)).status, status);
  }
  assert.equal((await groupAction(g, { reset_status: { status: 'error' } }, V(19))).status, 404);
  assert.deepEqual(
    (await groupAction(g, { reset_status: { status: 'in-use' } })).body,
    fault(
      400,
      'badRequest',
      "Invalid Group Status: Group status: in-use is invalid, valid status are: ('error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'in-use', 'error_deleting').",
    ),
  );
  assert.deepEqual((await groupAction(g, { reset_status: { status: ' ' } })).body, fault(400, 'badRequest', "Invalid Group Status: The 'status' can not be empty."));
  assert.deepEqual(
    (await groupAction(g, { reset_status: { status: 'error' } }, { ...LATEST, 'x-roles': 'member' })).body,
    fault(403, 'forbidden', "Policy doesn't allow group:reset_status to be performed."),
  );

  const vol = await member(g, vt);
  assert.ok(vol);
  const gs = await groupSnapshot(g);
  const gsAction = (body: unknown, headers = LATEST) => api.call('POST', `/group_snapshots/${gs}/action`, body, headers);
  assert.equal((await gsAction({ reset_status: { status: 'error' } }, V(18))).status, 404);
  assert.equal((await gsAction({ reset_status: { status: 'ERROR' } }, V(19))).status, 202);
  assert.equal((await api.call('GET', `/group_snapshots/${gs}`, undefined, LATEST)).body.group_snapshot.status, 'error');
  assert.deepEqual(
    (await gsAction({ reset_status: { status: 'bogus' } })).body,
    fault(
      400,
      'badRequest',
      "Invalid GroupSnapshot Status: Group snapshot status: bogus is invalid, valid statuses are: ('error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'error_deleting').",
    ),
  );
  assert.equal((await gsAction({ reset_status: {} })).status, 400);
  // An error group snapshot can be deleted.
  assert.equal((await api.call('DELETE', `/group_snapshots/${gs}`, undefined, LATEST)).status, 202);
  await api.env.workflow.drain();
});

test('quotas: a group is charged `groups`, a group snapshot `snapshots` per member; over quota is 413 and leaves nothing', async () => {
  const P = api.project;
  const vt = await volumeType();
  const gt = await groupType();
  const usage = async () => (await api.call('GET', `/os-quota-sets/${P}?usage=True`)).body.quota_set;
  const before = await usage();
  const g = await group(gt, [vt]);
  await member(g, vt);
  await member(g, vt);
  assert.equal((await usage()).groups.in_use, before.groups.in_use + 1);
  const gs = await groupSnapshot(g);
  assert.equal((await usage()).snapshots.in_use, before.snapshots.in_use + 2);

  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { groups: (await usage()).groups.in_use } })).status, 200);
  assert.deepEqual(
    (await api.call('POST', '/groups', { group: { group_type: gt, volume_types: [vt] } }, LATEST)).body,
    quotaFault('GroupLimitExceeded', `Maximum number of groups allowed (${(await usage()).groups.in_use}) exceeded`),
  );
  assert.equal((await api.call('POST', '/groups/action', { 'create-from-src': { group_snapshot_id: gs } }, LATEST)).status, 413);
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { groups: -1 } })).status, 200);

  const snaps = (await usage()).snapshots.in_use;
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots: snaps + 1 } })).status, 200);
  const over = await api.call('POST', '/group_snapshots', { group_snapshot: { group_id: g } }, LATEST);
  assert.deepEqual(over.body, quotaFault('SnapshotLimitExceeded', `Maximum number of snapshots allowed (${snaps + 1}) exceeded`));
  assert.equal((await api.call('GET', `/group_snapshots/detail?group_id=${g}`, undefined, LATEST)).body.group_snapshots.length, 1, 'no group snapshot row was left');
  assert.equal((await api.call('PUT', `/os-quota-sets/${P}`, { quota_set: { snapshots: -1 } })).status, 200);

  assert.equal((await api.call('DELETE', `/group_snapshots/${gs}`, undefined, LATEST)).status, 202);
  await api.env.workflow.drain();
  assert.equal((await groupAction(g, { delete: { 'delete-volumes': true } })).status, 202);
  await api.env.workflow.drain();
  const after = await usage();
  assert.equal(after.groups.in_use, before.groups.in_use);
  assert.equal(after.snapshots.in_use, before.snapshots.in_use);
  assert.equal(after.volumes.in_use, before.volumes.in_use);
  assert.deepEqual(usageFingerprint(await storedUsage(api.env.store.db)), usageFingerprint(await recountUsage(api.env.store.db)));
});
