// python3-cinderclient, unmodified, drives embervol in noauth mode: volumes and types end to end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunResult } from '../../src/util/exec.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { field, noauthCinder } from './cinder-cli.js';

const project = '9f8e7d6c5b4a';

describe('python3-cinderclient against embervol (noauth)', () => {
  let svc: ServiceProcess;
  let cinder: (...args: string[]) => Promise<RunResult>;

  before(async () => {
    svc = await startServiceProcess({ target: (process.env.EMBERVOL_TEST_TARGETS ?? 'builtin,tgt').split(',')[0] as 'tgt' | 'builtin' });
    cinder = noauthCinder(svc.url, project);
  });
  after(async () => {
    await svc?.stop();
  });

  it('creates, lists, shows and deletes volumes', async () => {
    const created = await cinder('create', '--name', 'from-cinderclient', '1');
    assert.equal(created.code, 0, created.stderr);
    const id = field(created.stdout, 'id');
    assert.ok(id && /^[0-9a-f-]{36}$/.test(id), created.stdout);

    let status = '';
    for (let i = 0; i < 100 && status !== 'available'; i++) {
      const shown = await cinder('show', id);
      assert.equal(shown.code, 0, shown.stderr);
      status = field(shown.stdout, 'status') ?? '';
      if (status !== 'available') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'available');
    const shown = await cinder('show', id);
    assert.equal(field(shown.stdout, 'name'), 'from-cinderclient');
    assert.equal(field(shown.stdout, 'size'), '1');

    const listed = await cinder('list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(id));
    assert.match(listed.stdout, /from-cinderclient/);

    const deleted = await cinder('delete', id);
    assert.equal(deleted.code, 0, deleted.stderr);
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      const r = await cinder('show', id);
      gone = r.code !== 0 && /could not be found|No volume with a name or ID/i.test(r.stderr);
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, 'volume still visible after delete');
  });

  it('creates, lists, shows, keys and deletes volume types; multiattach comes from the type', async () => {
    const created = await cinder('type-create', 'shared', '--description', 'multiattach type');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /shared/);
    const key = await cinder('type-key', 'shared', 'set', 'multiattach=<is> True');
    assert.equal(key.code, 0, key.stderr);
    const listed = await cinder('type-list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /shared/);
    assert.match(listed.stdout, /__DEFAULT__/);
    const shown = await cinder('type-show', 'shared');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /multiattach/);

    const vol = await cinder('create', '--volume-type', 'shared', '--name', 'multi', '1');
    assert.equal(vol.code, 0, vol.stderr);
    assert.equal(field(vol.stdout, 'multiattach'), 'True');
    const volId = field(vol.stdout, 'id')!;
    for (let i = 0; i < 100; i++) {
      const s = await cinder('show', volId);
      if (field(s.stdout, 'status') === 'available') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await cinder('delete', volId)).code, 0);
    for (let i = 0; i < 100; i++) {
      if ((await cinder('show', volId)).code !== 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const del = await cinder('type-delete', 'shared');
    assert.equal(del.code, 0, del.stderr);
    const after = await cinder('type-list');
    assert.doesNotMatch(after.stdout, /\bshared\b/);
  });
});
