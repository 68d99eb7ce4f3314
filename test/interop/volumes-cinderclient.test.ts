// python3-cinderclient, unmodified, on the volume resources beside CRUD: metadata, the 3.12 summary, 3.3 user
// messages, availability zones, extensions and 3.33 filters; and tempest's own response schemas
// (tempest/lib/api_schema/response/volume) checked by tempest's validator on what embervol answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const project = '7e6d5c4b3a29';

/** `cinder show`-style tables are "| Property | Value |" rows. */
function field(table: string, name: string): string | undefined {
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells[1] === name) return cells[2];
  }
  return undefined;
}

describe('python3-cinderclient on volume metadata, summary, messages, zones (noauth)', () => {
  let svc: ServiceProcess;
  let cinder: (...args: string[]) => Promise<RunResult>;
  let endpoint: string;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    endpoint = `${svc.url}/v3/${project}`;
    cinder = (...args: string[]) =>
      runProcess('cinder', ['--os-auth-type', 'noauth', '--os-user-id', 'alice', '--os-project-id', project, '--os-endpoint', endpoint, ...args]);
  });
  after(async () => {
    await svc?.stop();
  });

  async function waitStatus(id: string, want: string): Promise<void> {
    let status = '';
    for (let i = 0; i < 100 && status !== want; i++) {
      const shown = await cinder('show', id);
      status = field(shown.stdout, 'status') ?? '';
      if (status !== want) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, want);
  }

  it('sets, shows, replaces and unsets volume metadata; summary counts it', async () => {
    const created = await cinder('create', '--name', 'meta-vol', '--metadata', 'Type=work', '2');
    assert.equal(created.code, 0, created.stderr);
    const id = field(created.stdout, 'id')!;
    await waitStatus(id, 'available');

    assert.equal((await cinder('metadata', id, 'set', 'k1=v1', 'k2=v2')).code, 0);
    const shown = await cinder('metadata-show', id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(field(shown.stdout, 'k1'), 'v1');
    assert.equal(field(shown.stdout, 'Type'), 'work');
    const unset = await cinder('metadata', id, 'unset', 'k1');
    assert.equal(unset.code, 0, unset.stderr);
    const all = await cinder('metadata-update-all', id, 'only=this');
    assert.equal(all.code, 0, all.stderr);
    const after = await cinder('metadata-show', id);
    assert.equal(field(after.stdout, 'only'), 'this');
    assert.equal(field(after.stdout, 'k2'), undefined);

    const listed = await cinder('list', '--metadata', 'only=this');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(id));

    const summary = await cinder('--os-volume-api-version', '3.36', 'summary');
    assert.equal(summary.code, 0, summary.stderr);
    assert.equal(field(summary.stdout, 'total_count'), '1');
    assert.equal(field(summary.stdout, 'total_size'), '2');
    assert.match(summary.stdout, /only/);
  });

  it('lists, shows and deletes the message of a volume no backend can take', async () => {
    const type = await cinder('type-create', 'nowhere');
    assert.equal(type.code, 0, type.stderr);
    assert.equal((await cinder('type-key', 'nowhere', 'set', 'storage_protocol=FibreChannel')).code, 0);
    const created = await cinder('create', '--volume-type', 'nowhere', '1');
    assert.equal(created.code, 0, created.stderr);
    const id = field(created.stdout, 'id')!;
    await waitStatus(id, 'error');

    const listed = await cinder('--os-volume-api-version', '3.3', 'message-list');
    assert.equal(listed.code, 0, listed.stderr);
    const row = listed.stdout.split('\n').find((l) => l.includes(id));
    assert.ok(row, listed.stdout);
    const messageId = row!.split('|')[1].trim();
    assert.match(row!, /schedule allocate volume:Could not find any available weighted backend\./);

    const shown = await cinder('--os-volume-api-version', '3.3', 'message-show', messageId);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(field(shown.stdout, 'event_id'), 'VOLUME_VOLUME_001_003');
    assert.equal(field(shown.stdout, 'resource_uuid'), id);

    const deleted = await cinder('--os-volume-api-version', '3.3', 'message-delete', messageId);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await cinder('--os-volume-api-version', '3.3', 'message-show', messageId);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No message with a name or ID of '[0-9a-f-]+' exists/);
  });

  it('a size no backend has room for errors the volume with the scheduler message', async () => {
    // Past the default 1000 GiB quota the API refuses it first (413); unlimited, the scheduler decides.
    const unlimited = await cinder('quota-update', '--gigabytes', '-1', project);
    assert.equal(unlimited.code, 0, unlimited.stderr);
    const created = await cinder('create', '2000000000');
    assert.equal(created.code, 0, created.stderr);
    const id = field(created.stdout, 'id')!;
    await waitStatus(id, 'error');
    const listed = await cinder('--os-volume-api-version', '3.5', 'message-list', '--resource_uuid', id);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = listed.stdout.split('\n').filter((l) => l.includes(id));
    assert.equal(rows.length, 1, listed.stdout);
    assert.match(rows[0], /schedule allocate volume:Could not find any available weighted backend\./);
    assert.equal((await cinder('delete', id)).code, 0);
  });

  it('lists availability zones, extensions and filters', async () => {
    const zones = await cinder('availability-zone-list');
    assert.equal(zones.code, 0, zones.stderr);
    assert.match(zones.stdout, /\|\s*nova\s*\|\s*available\s*\|/);
    const ext = await cinder('list-extensions');
    assert.equal(ext.code, 0, ext.stderr);
    assert.match(ext.stdout, /os-availability-zone/);
    assert.match(ext.stdout, /\bHosts\b/);
    const filters = await cinder('--os-volume-api-version', '3.33', 'list-filters', '--resource', 'volume');
    assert.equal(filters.code, 0, filters.stderr);
    assert.match(filters.stdout, /availability_zone/);
  });

  it("answers that tempest's response schemas accept (create, update, show, list, summary, metadata; 3.0 to 3.70)", async () => {
    // Tempest's own client classes validate each answer with its schemas and jsonschema, as in a tempest run.
    const script = `
import json, sys, urllib.request
from tempest.lib.common import rest_client
from tempest.lib.api_schema.response.volume import volumes as s
base = sys.argv[1]
def call(method, path, body=None, version='3.0'):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={'X-Auth-Token': 'alice:${project}', 'Content-Type': 'application/json', 'OpenStack-API-Version': 'volume ' + version})
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return r, (json.loads(text) if text else None)
def check(schema, resp_body):
    resp, body = resp_body
    rest_client.RestClient.validate_response(schema, resp, body)
    return body
v = check(s.create_volume, call('POST', '/volumes', {'volume': {'size': 1, 'name': 'schema', 'metadata': {'a': 'b'}}}))['volume']
check(s.update_volume, call('PUT', '/volumes/' + v['id'], {'volume': {'description': 'd'}}))
check(s.show_volume, call('GET', '/volumes/' + v['id']))
check(s.list_volumes_no_detail, call('GET', '/volumes?limit=1'))
check(s.list_volumes_with_detail, call('GET', '/volumes/detail'))
check(s.show_volume_summary, call('GET', '/volumes/summary', version='3.36'))
check(s.create_volume_metadata, call('POST', '/volumes/%s/metadata' % v['id'], {'metadata': {'k': 'v'}}))
check(s.show_volume_metadata_item, call('GET', '/volumes/%s/metadata/k' % v['id']))
check(s.update_volume_metadata_item, call('PUT', '/volumes/%s/metadata/k' % v['id'], {'meta': {'k': 'w'}}))
check(s.update_volume_metadata, call('PUT', '/volumes/%s/metadata' % v['id'], {'metadata': {}}))
import importlib
for mod, version in (('v3_61', '3.61'), ('v3_63', '3.63'), ('v3_64', '3.64'), ('v3_65', '3.65'), ('v3_69', '3.70')):
    m = importlib.import_module('tempest.lib.api_schema.response.volume.%s.volumes' % mod)
    v = check(m.create_volume, call('POST', '/volumes', {'volume': {'size': 1}}, version))['volume']
    # Not update: tempest's v3_61+ update_volume schemas lack the keys Cinder's detail view adds from 3.61
    # (cluster_name for admins, ...), which real Cinder returns on update as well.
    check(m.show_volume, call('GET', '/volumes/' + v['id'], version=version))
    check(m.list_volumes_with_detail, call('GET', '/volumes/detail', version=version))
print('validated')
`;
    const r = await runProcess('/usr/bin/python3', ['-c', script, endpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /validated/);
  });
});
