// Property-based fuzzing of every API route (fast-check): wrong types, boundary and huge values, bad UUIDs,
// unicode, truncated JSON, odd headers and query strings. The properties: never a 5xx, and a 4xx never changes
// state (every table, every backing file, every target compared before and after). Bounded by
// EMBERVOL_FUZZ_RUNS (default 400) so it fits CI; raise it for longer runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import { makeReliabilityEnv, type ReliabilityEnv } from './env.js';
import { waitFor } from '../support/wait.js';

const RUNS = Number(process.env.EMBERVOL_FUZZ_RUNS ?? 400);
const PROJECT = 'fuzzproj';
let e: ReliabilityEnv;
/** Ids the fuzzer aims at: live volumes in various states, plus types; refreshed as the run changes them. */
const pool = { volumes: [] as string[], types: [] as string[], attachments: [] as string[], transfers: [] as string[] };

async function admin(method: string, url: string, payload?: unknown) {
  const r = await e.app!.inject({
    method: method as 'GET',
    url: `/v3/${PROJECT}${url}`,
    headers: { 'x-auth-token': `fuzzer:${PROJECT}`, 'content-type': 'application/json', 'openstack-api-version': 'volume 3.70' },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  });
  return r;
}

async function refreshPool(): Promise<void> {
  await e.workflow.drain();
  const vols = await e.store.db.selectFrom('volumes').select(['id', 'status']).where('deleted', '=', 0).execute();
  if (vols.length < 4) {
    for (let i = vols.length; i < 4; i++) await admin('POST', '/volumes', { volume: { size: 1, name: `fuzz-${i}` } });
    await e.workflow.drain();
  }
  pool.volumes = (await e.store.db.selectFrom('volumes').select('id').where('deleted', '=', 0).execute()).map((r) => r.id);
  pool.types = (await e.store.db.selectFrom('volume_types').select('id').where('deleted', '=', 0).execute()).map((r) => r.id);
  pool.attachments = (await e.store.db.selectFrom('volume_attachment').select('id').where('deleted', '=', 0).execute()).map((r) => r.id);
  pool.transfers = (await e.store.db.selectFrom('transfers').select('id').where('deleted', '=', 0).execute()).map((r) => r.id);
}

/** Everything a request could change: every table's rows, the backing files, the targets. */
async function snapshot(): Promise<string> {
  await e.workflow.drain();
  const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(e.store.db);
  const out: Record<string, unknown> = {};
  for (const { name } of tables.rows) {
    out[name] = (await sql.raw(`select * from "${name}" order by rowid`).execute(e.store.db)).rows;
  }
  out.files = await e.backend.list();
  out.exports = await e.host.listExports!();
  return JSON.stringify(out);
}

before(async () => {
  e = await makeReliabilityEnv({ http: true, leases: { attachingMs: 3_600_000 } });
  // A world with something to break: a multiattach type, an available, an attached, a reserved volume.
  await admin('POST', '/types', { volume_type: { name: 'multi', extra_specs: { multiattach: '<is> True' } } });
  await refreshPool();
  const [attached, reserved] = pool.volumes;
  await admin('POST', `/volumes/${attached}/action`, { 'os-reserve': null });
  await admin('POST', `/volumes/${attached}/action`, { 'os-initialize_connection': { connector: { initiator: 'iqn.2004-10.com.ubuntu:01:fuzz' } } });
  await admin('POST', `/volumes/${attached}/action`, { 'os-attach': { instance_uuid: randomUUID(), mountpoint: '/dev/vdb' } });
  await admin('POST', `/volumes/${reserved}/action`, { 'os-reserve': null });
  await refreshPool();
});
after(async () => {
  await e.close();
});

const ACTIONS = [
  'os-reserve', 'os-unreserve', 'os-begin_detaching', 'os-roll_detaching', 'os-force_delete', 'os-initialize_connection',
  'os-terminate_connection', 'os-attach', 'os-detach', 'os-force_detach', 'os-reset_status', 'os-update_readonly_flag',
  'os-set_bootable', 'os-extend', 'os-complete', 'os-frobnicate',
];

const nasty = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', '../../etc/passwd', '%00', '☃', '\u{1F4A9}', 'null', 'true', '-1', '0', '1e309', 'NaN', 'x'.repeat(300),
    '00000000-0000-0000-0000-000000000000', 'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ', "'; drop table volumes; --"),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.uuid().map(String),
);
const scalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1.5, 1e308, '', '1', 'true', 'rw', 'ro', 'in-use', 'available'),
  fc.integer(),
  fc.double(),
  nasty,
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.oneof(nasty, fc.constantFrom('size', 'status', 'connector', 'initiator', 'attachment_id', 'mountpoint', 'mode', 'instance_uuid', 'host_name', 'new_size', 'volume_type', 'name', 'metadata', 'readonly', 'bootable')), tie('v'), { maxKeys: 4 })),
})).v;

/** Bodies shaped like each resource's, with any field swapped for junk. */
const body = fc.oneof(
  value,
  fc.record({ volume: fc.dictionary(fc.constantFrom('size', 'name', 'description', 'volume_type', 'metadata', 'availability_zone', 'multiattach', 'snapshot_id', 'source_volid', 'imageRef', 'backup_id', 'bootable', 'junk'), value, { maxKeys: 4 }) }),
  fc.record({ volume_type: fc.dictionary(fc.constantFrom('name', 'description', 'extra_specs', 'os-volume-type-access:is_public', 'junk'), value, { maxKeys: 3 }) }),
  fc.record({ extra_specs: fc.dictionary(nasty, value, { maxKeys: 3 }) }),
  fc.record({ attachment: fc.dictionary(fc.constantFrom('volume_uuid', 'instance_uuid', 'connector', 'mode', 'junk'), value, { maxKeys: 3 }) }),
  fc.record({ quota_set: fc.dictionary(fc.constantFrom('volumes', 'gigabytes', 'snapshots', 'per_volume_gigabytes', 'volumes___DEFAULT__', 'gigabytes_multi', 'id', 'junk'), value, { maxKeys: 3 }) }),
  fc.record({ quota_class_set: fc.dictionary(fc.constantFrom('volumes', 'gigabytes', 'backups', 'snapshots_multi', 'junk'), value, { maxKeys: 3 }) }),
  fc.record({ transfer: fc.dictionary(fc.constantFrom('volume_id', 'name', 'no_snapshots', 'junk'), value, { maxKeys: 3 }) }),
  fc.record({ accept: fc.dictionary(fc.constantFrom('auth_key', 'junk'), value, { maxKeys: 2 }) }),
  fc.tuple(fc.constantFrom(...ACTIONS), value).map(([k, v]) => ({ [k]: v })),
  fc.tuple(fc.constantFrom(...ACTIONS), fc.dictionary(fc.constantFrom('connector', 'attachment_id', 'mountpoint', 'instance_uuid', 'host_name', 'mode', 'status', 'attach_status', 'new_size', 'readonly', 'bootable'), value, { maxKeys: 3 })).map(([k, v]) => ({ [k]: v })),
);

const rawBody = fc.oneof(
  { weight: 6, arbitrary: body.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.tuple(body.map((b) => JSON.stringify(b)), fc.nat()).map(([s, n]) => s.slice(0, n % Math.max(1, s.length))) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

type PathFn = () => string;
const pick = (list: string[], n: number) => (list.length ? list[n % list.length] : randomUUID());
const idArb = fc.oneof(
  { weight: 5, arbitrary: fc.nat().map((n) => () => pick(pool.volumes, n)) },
  { weight: 1, arbitrary: fc.nat().map((n) => () => pick(pool.types, n)) },
  { weight: 1, arbitrary: fc.nat().map((n) => () => pick(pool.attachments, n)) },
  { weight: 1, arbitrary: fc.nat().map((n) => () => pick(pool.transfers, n)) },
  { weight: 2, arbitrary: nasty.map((s) => () => encodeURIComponent(s)) },
);

const route = fc.oneof(
  fc.constant<[string, PathFn]>(['GET', () => '/']),
  fc.constant<[string, PathFn]>(['GET', () => '/v3/']),
  ...(['GET', 'POST'] as const).map((m) => fc.constant<[string, PathFn]>([m, () => `/v3/${PROJECT}/volumes`])),
  fc.constant<[string, PathFn]>(['GET', () => `/v3/${PROJECT}/volumes/detail`]),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/volumes/${id()}`]),
  fc.tuple(fc.constant('POST'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/volumes/${id()}/action`]),
  fc.tuple(fc.constant('POST'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/volumes/${id()}/action`]),
  fc.tuple(fc.constant('GET'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/volumes/${id()}/events`]),
  ...(['GET', 'POST'] as const).map((m) => fc.constant<[string, PathFn]>([m, () => `/v3/${PROJECT}/types`])),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/types/${id()}`]),
  fc.tuple(fc.constantFrom('GET', 'POST'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/types/${id()}/extra_specs`]),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), idArb, nasty).map(([m, id, k]): [string, PathFn] => [m, () => `/v3/${PROJECT}/types/${id()}/extra_specs/${encodeURIComponent(k) || 'k'}`]),
  ...(['GET', 'POST'] as const).map((m) => fc.constant<[string, PathFn]>([m, () => `/v3/${PROJECT}/attachments`])),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/attachments/${id()}`]),
  fc.tuple(fc.constant('POST'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}/attachments/${id()}/action`]),
  fc.tuple(fc.constantFrom('GET', 'POST'), nasty).map(([m, s]): [string, PathFn] => [m, () => `/v3/${encodeURIComponent(s) || 'x'}/volumes`]),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), fc.oneof(fc.constant(PROJECT), nasty)).map(([m, p]): [string, PathFn] => [m, () => `/v3/${PROJECT}/os-quota-sets/${encodeURIComponent(p) || 'x'}`]),
  fc.constant<[string, PathFn]>(['GET', () => `/v3/${PROJECT}/os-quota-sets/${PROJECT}/defaults`]),
  fc.tuple(fc.constantFrom('GET', 'PUT'), fc.oneof(fc.constant('default'), nasty)).map(([m, c]): [string, PathFn] => [m, () => `/v3/${PROJECT}/os-quota-class-sets/${encodeURIComponent(c) || 'x'}`]),
  fc.constant<[string, PathFn]>(['GET', () => `/v3/${PROJECT}/limits`]),
  ...(['/os-volume-transfer', '/volume-transfers'] as const).flatMap((prefix) => [
    fc.constantFrom<[string, PathFn]>(['GET', () => `/v3/${PROJECT}${prefix}`], ['POST', () => `/v3/${PROJECT}${prefix}`], ['GET', () => `/v3/${PROJECT}${prefix}/detail`]),
    fc.tuple(fc.constantFrom('GET', 'DELETE'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}${prefix}/${id()}`]),
    fc.tuple(fc.constant('POST'), idArb).map(([m, id]): [string, PathFn] => [m, () => `/v3/${PROJECT}${prefix}/${id()}/accept`]),
  ]),
);

const query = fc.dictionary(
  fc.constantFrom('limit', 'marker', 'offset', 'sort', 'sort_key', 'sort_dir', 'all_tenants', 'with_count', 'metadata', 'name', 'status', 'bootable', 'force', 'cascade', 'volume_id', 'junk'),
  fc.oneof(nasty, fc.integer().map(String), fc.constantFrom('created_at:asc', 'id:sideways', "{'k': 'v'}", '{"k":1}', '99999999999999999999')),
  { maxKeys: 3 },
);

const headers = fc.record(
  {
    'x-auth-token': fc.oneof(fc.constantFrom(`fuzzer:${PROJECT}`, `member:${PROJECT}`, 'notused', `x:other`, ''), nasty),
    'x-roles': fc.oneof(fc.constantFrom('member', 'reader', 'admin', 'member,service', ''), nasty),
    'openstack-api-version': fc.oneof(fc.constantFrom('volume 3.0', 'volume 3.27', 'volume 3.44', 'volume 3.70', 'volume 3.71', 'volume latest', 'volume 4.0', 'compute 2.1', 'volume 3.'), nasty),
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.openstack.volume+json'),
  },
  { requiredKeys: ['x-auth-token', 'content-type'] },
);

test(`API fuzz: ${RUNS} random requests over every route, never a 5xx, a 4xx never changes state`, async () => {
  let counts = { ok: 0, client: 0 };
  await fc.assert(
    fc.asyncProperty(route, query, headers, rawBody, async ([method, path], q, h, payload) => {
      const qs = new URLSearchParams(q).toString();
      const url = path() + (qs ? `?${qs}` : '');
      const hdrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) if (v !== undefined && /^[\t\x20-\x7e]*$/.test(v)) hdrs[k] = v;
      const before = await snapshot();
      const res = await e.app!.inject({ method: method as 'GET', url, headers: hdrs, payload: method === 'GET' ? undefined : payload });
      assert.ok(res.statusCode < 500, `${method} ${url} ${JSON.stringify(hdrs)} ${payload} -> ${res.statusCode} ${res.body}`);
      if (res.statusCode >= 400) {
        counts.client++;
        // Cinder's fault body: one key, with code and message.
        const fault = res.json() as Record<string, { code: number; message: string }>;
        const [name] = Object.keys(fault);
        assert.equal(fault[name].code, res.statusCode, res.body);
        assert.equal(typeof fault[name].message, 'string');
        assert.equal(await snapshot(), before, `${method} ${url} answered ${res.statusCode} but changed state: ${res.body}`);
      } else {
        counts.ok++;
        await refreshPool();
      }
    }),
    { numRuns: RUNS },
  );
  // The run exercised both sides of the property.
  assert.ok(counts.client > RUNS / 4, JSON.stringify(counts));
  assert.ok(counts.ok > 0, JSON.stringify(counts));
});

test('an oversized body is refused from its Content-Length, before it is sent', async () => {
  const address = await e.app!.listen({ host: '127.0.0.1', port: 0 });
  const { port } = new URL(address);
  const sock = connect(Number(port), '127.0.0.1');
  let response = '';
  sock.on('data', (d) => (response += String(d)));
  sock.write(`POST /v3/${PROJECT}/volumes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: a:${PROJECT}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"volume":`);
  await waitFor('413 answer', async () => response.includes('\r\n\r\n') && response);
  assert.match(response, /^HTTP\/1\.1 413/);
  assert.match(response, /"overLimit"/);
  sock.destroy();
  await e.app!.close();
  // A fresh app for nothing else: close() above also stopped inject; the remaining tests use their own.
});
