// python3-cinderclient and the openstack CLI, unmodified, manage quotas and volume transfers against
// `embervol serve` (noauth): quota-update/show/usage/defaults/delete, quota classes, absolute limits, and a
// transfer created in one project and accepted in another, moving the volume and its usage.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { noauthOpenstack } from './cinder-cli.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';
import { CinderApi } from './api-client.js';

const SRC = 'c0ffee0001';
const DST = 'c0ffee0002';

describe('cinderclient and the openstack CLI: quotas and transfers', () => {
  let svc: ServiceProcess;
  let cinder: (project: string, ...args: string[]) => Promise<RunResult>;
  let osc: (project: string, ...args: string[]) => Promise<RunResult>;

  before(async () => {
    svc = await startServiceProcess({ target: 'builtin' });
    cinder = (project, ...args) =>
      runProcess('cinder', ['--os-auth-type', 'noauth', '--os-user-id', `user-${project}`, '--os-project-id', project, '--os-endpoint', `${svc.url}/v3/${project}`, ...args], {
        timeoutMs: 60_000,
      });
    osc = (project, ...args) => noauthOpenstack(svc.url, project)(...args);
  });
  after(async () => {
    await svc?.stop();
  });

  /** "| Property | Value |" (or "| Type | In_use | ...") rows of a cinderclient table, by first cell. */
  function rows(table: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const line of table.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      if (cells.length > 2 && cells[1]) out.set(cells[1], cells.slice(2, -1));
    }
    return out;
  }
  const ok = (r: RunResult) => {
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  async function waitStatus(project: string, id: string, want: string): Promise<void> {
    const api = new CinderApi(svc.url, project, 'waiter');
    let status = '';
    for (let i = 0; i < 100 && status !== want; i++) {
      status = (await api.call('GET', `/volumes/${id}`)).body?.volume?.status;
      if (status !== want) await sleep(100);
    }
    assert.equal(status, want);
  }

  it('cinder quota-update / quota-show / quota-usage / quota-defaults / quota-delete / quota-class-* / absolute-limits', async () => {
    ok(await cinder(SRC, 'quota-update', '--volumes', '4', '--gigabytes', '20', '--per-volume-gigabytes', '5', SRC));
    const shown = rows(ok(await cinder(SRC, 'quota-show', SRC)));
    assert.deepEqual(shown.get('volumes'), ['4']);
    assert.deepEqual(shown.get('gigabytes'), ['20']);
    assert.deepEqual(shown.get('per_volume_gigabytes'), ['5']);

    const big = await cinder(SRC, 'create', '6');
    assert.notEqual(big.code, 0);
    assert.match(big.stderr, /Requested volume size 6G is larger than maximum allowed limit 5G\. \(HTTP 413\)/);

    const created = rows(ok(await cinder(SRC, 'create', '--name', 'q1', '2')));
    const id = created.get('id')![0];
    await waitStatus(SRC, id, 'available');
    const usage = rows(ok(await cinder(SRC, 'quota-usage', SRC)));
    // Columns: Type | In_use | Reserved | Limit (| Allocated when nested).
    assert.deepEqual(usage.get('volumes')!.slice(0, 3), ['1', '0', '4']);
    assert.deepEqual(usage.get('gigabytes')!.slice(0, 3), ['2', '0', '20']);

    const limits = rows(ok(await cinder(SRC, 'absolute-limits')));
    assert.deepEqual(limits.get('totalVolumesUsed'), ['1']);
    assert.deepEqual(limits.get('maxTotalVolumes'), ['4']);

    assert.deepEqual(rows(ok(await cinder(SRC, 'quota-defaults', SRC))).get('volumes'), ['10']);
    ok(await cinder(SRC, 'quota-delete', SRC));
    assert.deepEqual(rows(ok(await cinder(SRC, 'quota-show', SRC))).get('volumes'), ['10']);

    ok(await cinder(SRC, 'quota-class-update', '--snapshots', '11', 'default'));
    assert.deepEqual(rows(ok(await cinder(SRC, 'quota-class-show', 'default'))).get('snapshots'), ['11']);
    ok(await cinder(SRC, 'quota-class-update', '--snapshots', '10', 'default'));

    ok(await cinder(SRC, 'delete', id));
  });

  it('openstack volume transfer request create / list / accept, and cinder transfer-create / transfer-accept', async () => {
    const created = rows(ok(await cinder(SRC, 'create', '--name', 'moving', '3')));
    const vol = created.get('id')![0];
    await waitStatus(SRC, vol, 'available');

    const req = JSON.parse(ok(await osc(SRC, 'volume', 'transfer', 'request', 'create', vol, '--name', 'to-dst', '-f', 'json')));
    assert.equal(req.volume_id, vol);
    assert.match(req.auth_key, /^[A-Za-z0-9]{16}$/);
    const listed = JSON.parse(ok(await osc(SRC, 'volume', 'transfer', 'request', 'list', '-f', 'json'))) as { ID: string }[];
    assert.ok(listed.some((x) => x.ID === req.id), JSON.stringify(listed));

    const wrong = await osc(DST, 'volume', 'transfer', 'request', 'accept', '--auth-key', 'not-the-key', req.id);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Invalid auth key/);

    const accepted = JSON.parse(ok(await osc(DST, 'volume', 'transfer', 'request', 'accept', '--auth-key', req.auth_key, req.id, '-f', 'json')));
    assert.equal(accepted.volume_id, vol);
    await waitStatus(DST, vol, 'available');
    assert.deepEqual(rows(ok(await cinder(DST, 'quota-usage', DST))).get('gigabytes')!.slice(0, 1), ['3']);
    assert.deepEqual(rows(ok(await cinder(SRC, 'quota-usage', SRC))).get('gigabytes')!.slice(0, 1), ['0']);

    // And back with cinderclient.
    const t = rows(ok(await cinder(DST, 'transfer-create', vol)));
    const tid = t.get('id')![0];
    const key = t.get('auth_key')![0];
    assert.ok(rows(ok(await cinder(DST, 'transfer-list'))).has(tid));
    ok(await cinder(SRC, 'transfer-accept', tid, key));
    await waitStatus(SRC, vol, 'available');
    assert.deepEqual(rows(ok(await cinder(SRC, 'quota-usage', SRC))).get('volumes')!.slice(0, 1), ['1']);
    assert.deepEqual(rows(ok(await cinder(DST, 'quota-usage', DST))).get('volumes')!.slice(0, 1), ['0']);
    ok(await cinder(SRC, 'delete', vol));
  });
});
