// python3-cinderclient, unmodified, on what an operator runs against `embervol serve` beside volume CRUD: backend
// capabilities, the 3.33 resource filters, freezing and thawing a volume host, and retype without migration.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { field, noauthCinder } from './cinder-cli.js';
import type { RunResult } from '../../src/util/exec.js';

describe('python3-cinderclient: capabilities, list-filters, freeze/thaw, retype (noauth, admin)', () => {
  let svc: ServiceProcess;
  let cinder: (...args: string[]) => Promise<RunResult>;
  let volumeHost: string;

  const ok = (r: RunResult) => {
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    cinder = noauthCinder(svc.url, 'admin', 'admin');
    const services = ok(await cinder('service-list', '--binary', 'cinder-volume'));
    const row = services.split('\n').find((l) => l.includes('cinder-volume'));
    assert.ok(row, services);
    volumeHost = row.split('|').map((c) => c.trim())[2]!;
    assert.match(volumeHost, /@file$/);
  });
  after(async () => {
    await svc?.stop();
  });

  it('get-capabilities shows the backend the host reports', async () => {
    const out = ok(await cinder('get-capabilities', volumeHost));
    assert.equal(field(out, 'volume_backend_name'), 'file');
    assert.equal(field(out, 'storage_protocol'), 'iSCSI');
  });

  it('list-filters (3.33) names the volume filters', async () => {
    const out = ok(await cinder('--os-volume-api-version', '3.33', 'list-filters', '--resource', 'volume'));
    assert.match(out, /volume/);
    assert.match(out, /name/);
    assert.match(out, /status/);
  });

  it('freeze-host disables the volume service and thaw-host enables it again', async () => {
    ok(await cinder('freeze-host', volumeHost));
    const frozen = ok(await cinder('service-list', '--binary', 'cinder-volume'));
    assert.match(frozen, /disabled/, frozen);
    ok(await cinder('thaw-host', volumeHost));
    const thawed = ok(await cinder('service-list', '--binary', 'cinder-volume'));
    assert.match(thawed, /enabled/, thawed);
    assert.doesNotMatch(thawed, /disabled/, thawed);
  });

  it('retype moves an available volume to another type in place', async () => {
    ok(await cinder('type-create', 'retype-from'));
    ok(await cinder('type-create', 'retype-to'));
    const created = ok(await cinder('create', '--volume-type', 'retype-from', '--name', 'rt', '1'));
    const id = field(created, 'id')!;
    for (let i = 0; i < 100 && field(ok(await cinder('show', id)), 'status') !== 'available'; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    ok(await cinder('retype', id, 'retype-to'));
    let type: string | undefined;
    for (let i = 0; i < 100; i++) {
      type = field(ok(await cinder('show', id)), 'volume_type');
      if (type === 'retype-to') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(type, 'retype-to');
    assert.equal(field(ok(await cinder('show', id)), 'status'), 'available');
  });
});
