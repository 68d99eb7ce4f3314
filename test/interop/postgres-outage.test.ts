// `embervol serve --database postgres://...` through a PostgreSQL outage: while the private cluster is stopped
// (pg_ctl stop) every request that needs the database is answered 503 with Cinder's fault body and a Retry-After
// hint, the process stays up, and once the cluster is started again the same process serves requests by itself.
// Nothing half-written remains from the outage: the only volumes are the ones whose create was acknowledged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { CinderApi } from './api-client.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

let cluster: PostgresCluster;
let svc: ServiceProcess | undefined;
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await svc?.stop();
  await cluster?.stop();
});

test('a lost database gives 503 with Retry-After, never a half-written volume; the service recovers when PostgreSQL returns', async () => {
  const url = await cluster.createDatabase();
  svc = await startServiceProcess({ target: 'builtin', extraArgs: ['--database', url] });
  const api = new CinderApi(svc.url);
  const before = await api.createVolume(1, { name: 'before' });

  await cluster.pause();
  for (const [method, path, body] of [
    ['GET', '/volumes/detail', undefined],
    ['GET', `/volumes/${before}`, undefined],
    ['POST', '/volumes', { volume: { size: 1, name: 'during' } }],
    ['POST', `/volumes/${before}/action`, { 'os-reserve': null }],
  ] as const) {
    const r = await api.call(method, path, body);
    assert.equal(r.status, 503, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body, { serviceUnavailable: { code: 503, message: 'The database is unavailable; retry the request later.' } });
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
  }
  assert.equal(svc.child.exitCode, null, 'the service is still running');

  await cluster.start();
  const after = await api.createVolume(1, { name: 'after' });
  const list = await api.call('GET', '/volumes/detail');
  assert.equal(list.status, 200);
  const byName = Object.fromEntries(list.body.volumes.map((v: { name: string; id: string; status: string }) => [v.name, v]));
  assert.deepEqual(Object.keys(byName).sort(), ['after', 'before'], 'the create refused during the outage left no row');
  assert.equal(byName.before.id, before);
  assert.equal(byName.before.status, 'available', 'the reserve refused during the outage changed nothing');
  assert.equal(byName.after.id, after);
});
