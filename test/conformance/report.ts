// Turns the output dir of a whole tempest run into docs/conformance.md: per tempest class, the ids that pass on
// embervol next to real Cinder 21 (test/conformance/cinder21-passed.txt), the totals, and what still fails and why
// (failures grouped by kind and cause, with the request that failed from tempest.log).
//
//   node --import tsx test/conformance/run-tempest.ts --out /tmp/tempest-run
//   node --import tsx test/conformance/report.ts /tmp/tempest-run [--out docs/conformance.md]
//
// Or from the ratchet test: TEMPEST_OUT=/tmp/tempest-run npm test -- test/conformance/tempest, then report.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CINDER21_PASSED, byCodeUnits, classOf, failedCall, failureReason, genericText, moduleOf, readIdList, type TestOutcome } from './tempest.js';

const { values, positionals } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true });
const dir = positionals[0];
if (!dir || positionals.length !== 1) {
  process.stderr.write('usage: node --import tsx test/conformance/report.ts RUN_DIR [--out docs/conformance.md]\n');
  process.exit(2);
}
const outPath = values.out ?? new URL('../../docs/conformance.md', import.meta.url).pathname;
const read = (f: string) => readFileSync(join(dir, f), 'utf8');

const outcomes: TestOutcome[] = read('results.jsonl')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as TestOutcome);
const run = existsSync(join(dir, 'run.json')) ? (JSON.parse(read('run.json')) as Record<string, unknown>) : {};
const cinder = await readIdList(CINDER21_PASSED);
const baseline = Object.fromEntries(
  [...(/^# baseline: (.*)$/m.exec(readFileSync(CINDER21_PASSED, 'utf8'))?.[1] ?? '').matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]),
) as Record<string, number>;
const cinderSet = new Set(cinder);
const passed = new Set(outcomes.filter((o) => o.status === 'passed').map((o) => o.id));
const isClassLevel = (id: string) => /^\w+ \(/.test(id);
const phaseOf = (id: string) => (isClassLevel(id) ? id.slice(0, id.indexOf(' ')) : 'test');
const shortClass = (cls: string) => cls.split('.').pop()!;
const shortModule = (m: string) => m.replace(/^tempest\.api\.volume\./, '').replace(/^cinder_tempest_plugin\.api\.volume\./, 'plugin: ');

// ---------------------------------------------------------------------------------------------------------
// The requests each test made, from tempest.log: "Request (Class:test): 404 GET http://...".

interface Req {
  status: number;
  method: string;
  url: string;
}
const requests = new Map<string, Req[]>();
let identityHost = '';
if (existsSync(join(dir, 'tempest.conf'))) identityHost = /uri_v3 = (https?:\/\/[^/\s]+)/.exec(read('tempest.conf'))?.[1] ?? '';
if (existsSync(join(dir, 'tempest.log'))) {
  for (const line of read('tempest.log').split('\n')) {
    const m = /Request \((\w+):(\w+)\): (\d{3}) (\w+) (\S+)/.exec(line);
    if (!m || (identityHost && m[5]!.startsWith(identityHost))) continue;
    const key = `${m[1]}:${m[2]}`;
    let list = requests.get(key);
    if (!list) requests.set(key, (list = []));
    list.push({ status: Number(m[3]), method: m[4]!, url: m[5]! });
  }
}
const route = (r: Req) =>
  `${r.method} ${genericText(r.url)
    .replace(/^http:\/\/HOST/, '')
    .replace(/^\/v3\/\{id\}/, '/v3/{project}')}`;

/** The first request of the test that answered `status` (the one that made it fail, for HTTP errors). */
function failingRequest(o: TestOutcome, status: (s: number) => boolean): string | undefined {
  const own = (o.requests ?? [])
    .map((line) => line.split(' '))
    .map(([s, method, url]) => ({ status: Number(s), method: method!, url: url! }))
    .filter((x) => !identityHost || !x.url.startsWith(identityHost));
  const cls = shortClass(classOf(o.id));
  const test = isClassLevel(o.id) ? phaseOf(o.id) : o.id.split('.').pop()!;
  const r = own.find((x) => status(x.status)) ?? requests.get(`${cls}:${test}`)?.find((x) => status(x.status));
  return r ? route(r) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Why each non-passing result failed

interface Failure {
  outcome: TestOutcome;
  kind: string;
  detail: string;
  /** Test ids the failure stands for: itself, or for a setUpClass failure every test of the class Cinder 21 passes. */
  affects: string[];
  /** The failing request ("GET /v3/{project}/os-hosts"), when tempest.log recorded it. */
  request?: string;
}

const failures: Failure[] = [];
for (const o of outcomes.filter((x) => x.status === 'failed')) {
  const reason = failureReason(o);
  let { kind, detail } = reason;
  let request: string | undefined;
  if (kind === 'endpoint missing (404)' || kind === 'not found (404)' || kind === 'refused (4xx)' || kind === 'server error (5xx)') {
    // The call that failed, from the traceback (always there), and the request itself when tempest.log has it.
    const code = kind.includes('404') ? 404 : Number(/^\d{3}/.exec(detail)?.[0] ?? 0);
    request = failingRequest(o, (s) => (code ? s === code : s >= 500));
    const call = failedCall(o.traceback);
    if (kind === 'endpoint missing (404)') detail = call ?? request ?? detail;
    else if (call) detail = `${call}: ${detail}`;
  } else if (kind === 'other' && /has no attribute 'images_client'/.test(detail)) {
    kind = 'tempest bug (fails on real Cinder 21 too)';
    detail = `${detail} (the test creates a volume from an image without checking that glance is available)`;
  }
  const cls = classOf(o.id);
  const affects =
    phaseOf(o.id) === 'setUpClass' ? cinder.filter((id) => classOf(id) === cls && !passed.has(id)) : phaseOf(o.id) === 'test' ? [o.id] : [];
  failures.push({ outcome: o, kind, detail, affects, request });
}

// ---------------------------------------------------------------------------------------------------------
// Per class

interface ClassRow {
  cls: string;
  cinder: number;
  embervol: number;
  both: number;
  notes: string[];
}
const classes = new Map<string, ClassRow>();
const rowOf = (cls: string) => {
  let r = classes.get(cls);
  if (!r) classes.set(cls, (r = { cls, cinder: 0, embervol: 0, both: 0, notes: [] }));
  return r;
};
for (const id of cinder) rowOf(classOf(id)).cinder++;
for (const id of passed) {
  const r = rowOf(classOf(id));
  r.embervol++;
  if (cinderSet.has(id)) r.both++;
}
for (const f of failures) {
  const r = rowOf(classOf(f.outcome.id));
  const phase = phaseOf(f.outcome.id);
  r.notes.push(phase === 'test' ? `${f.outcome.id.split('.').pop()}: ${f.kind}` : `${phase}: ${f.kind}`);
}
for (const o of outcomes.filter((x) => x.status === 'skipped' && isClassLevel(x.id))) {
  rowOf(classOf(o.id)).notes.push(`skipped: ${genericText(o.reason.split('\n')[0] ?? '')}`);
}
for (const o of outcomes.filter((x) => x.status === 'skipped' && !isClassLevel(x.id))) {
  const r = rowOf(classOf(o.id));
  if (!r.notes.some((n) => n.startsWith('skipped'))) r.notes.push(`skipped: ${genericText(o.reason.split('\n')[0] ?? '')}`);
}

const byModule = new Map<string, ClassRow[]>();
for (const r of [...classes.values()].sort((a, b) => byCodeUnits(a.cls, b.cls))) {
  const m = moduleOf(`${r.cls}.x`);
  if (!byModule.has(m)) byModule.set(m, []);
  byModule.get(m)!.push(r);
}

// ---------------------------------------------------------------------------------------------------------

const counts = (s: string) => outcomes.filter((o) => o.status === s).length;
const cinderPassing = [...cinderSet].filter((id) => passed.has(id));
const extra = [...passed].filter((id) => !cinderSet.has(id)).sort();
const md: string[] = [];
const esc = (t: string) => t.replace(/\|/g, '\\|');

md.push('# Tempest conformance', '');
md.push(
  'Tempest 33.0.0 `tempest.api.volume` and cinder-tempest-plugin 1.7.2 `cinder_tempest_plugin.api.volume` against',
  '`embervol serve --auth keystone` with a real Keystone, next to real Cinder 21 under the same tempest.conf',
  '(/work/shared/cinder-reference: only cinder available; snapshot, clone, volume_revert on; backup, manage,',
  'extend_attached off; microversions 3.0-3.70; dynamic credentials). The ids are tempest\'s, without `[...]` attributes.',
  '',
  '_Generated by `node --import tsx test/conformance/report.ts RUN_DIR` from a run of',
  '`node --import tsx test/conformance/run-tempest.ts --out RUN_DIR` (or of the ratchet,',
  '`TEMPEST_OUT=RUN_DIR npm test -- test/conformance/tempest`); do not edit by hand._',
  '',
);
const facts: string[] = [];
if (run.finishedAt) facts.push(`run finished ${String(run.finishedAt).replace(/\.\d+Z$/, 'Z')}`);
if (run.commit) facts.push(`embervol at ${run.commit}`);
if (run.concurrency) facts.push(`concurrency ${run.concurrency}`);
if (run.tempestSeconds !== undefined) {
  facts.push(
    `\`tempest run\` ${run.tempestSeconds} s, whole run with Keystone and embervol start ${run.wallSeconds} s on a shared, busy 2-CPU machine ` +
      `(real Cinder 21: ${baseline.wall_s ?? '?'} s)`,
  );
}
if (facts.length) md.push(`${facts.join('; ')}.`, '');

md.push('## Totals', '');
md.push('| | embervol | real Cinder 21 |', '|---|---:|---:|');
md.push(`| passed | **${passed.size}** | **${cinder.length}** |`);
md.push(`| failed results (a failed setUpClass or tearDownClass is one result for its class) | ${counts('failed')} | ${baseline.failed ?? '?'} |`);
md.push(`| skipped results | ${counts('skipped')} | ${baseline.skipped ?? '?'} |`);
md.push(`| of the ${cinder.length} ids real Cinder 21 passes, passing on embervol | ${cinderPassing.length} | ${cinder.length} |`);
if (run.embervol5xx !== undefined) md.push(`| requests embervol answered with a 5xx | ${run.embervol5xx} | |`);
md.push('');
md.push(
  `The ratchet \`test/conformance/tempest-passing.txt\` holds the ids that pass on embervol; \`npm test\` fails when one of`,
  'them stops passing, and when embervol answers any request of the run with a 5xx.',
  '',
);
if (extra.length) md.push('Passing on embervol but not on real Cinder 21:', '', ...extra.map((id) => `- \`${id}\``), '');

md.push('## Per module and class', '');
md.push(
  'Ids passing per tempest class, module by module (`tempest.api.volume.` is left out of module names; the plugin\'s are',
  '`plugin: ...`). "Cinder 21" counts the class\'s ids in the baseline; notes say what failed or was skipped (the causes are',
  'in the next section).',
  '',
);
md.push('| module | class | embervol | Cinder 21 | notes |', '|---|---|---:|---:|---|');
for (const [m, rows] of byModule) {
  const c = rows.reduce((n, r) => n + r.cinder, 0);
  const e = rows.reduce((n, r) => n + r.embervol, 0);
  rows.forEach((r, i) => {
    const notes = [...new Set(r.notes)];
    const moduleCell = i === 0 ? `**${shortModule(m)}** (${e} / ${c})` : '';
    md.push(`| ${moduleCell} | ${shortClass(r.cls)} | ${r.embervol} | ${r.cinder} | ${esc(notes.join('; '))} |`);
  });
}
md.push('');

md.push('## What still fails, and why', '');
md.push(
  'Every failed result, grouped by kind and cause. "Tests" counts the test ids a failure stands for: the test itself, or for',
  'a failed setUpClass the ids of that class real Cinder 21 passes (none of them ran). A failed tearDownClass stands for',
  'no test (the tests had finished), but it is a failure all the same. For HTTP errors the failing request is taken from',
  'tempest.log (the first request of the test with that status).',
  '',
);
const kinds = new Map<string, Map<string, Failure[]>>();
for (const f of failures) {
  if (!kinds.has(f.kind)) kinds.set(f.kind, new Map());
  const d = kinds.get(f.kind)!;
  if (!d.has(f.detail)) d.set(f.detail, []);
  d.get(f.detail)!.push(f);
}
const tests = (fs: Failure[]) => new Set(fs.flatMap((f) => f.affects)).size;
const sortedKinds = [...kinds].sort((a, b) => tests([...b[1].values()].flat()) - tests([...a[1].values()].flat()));
md.push('| kind | failed results | tests |', '|---|---:|---:|');
for (const [kind, details] of sortedKinds) {
  const all = [...details.values()].flat();
  md.push(`| ${kind} | ${all.length} | ${tests(all)} |`);
}
md.push('');
for (const [kind, details] of sortedKinds) {
  const all = [...details.values()].flat();
  md.push(`### ${kind}: ${all.length} results, ${tests(all)} tests`, '');
  const withRequests = all.some((f) => f.request);
  md.push(`| cause | results | tests | where |${withRequests ? ' request |' : ''}`, `|---|---:|---:|---|${withRequests ? '---|' : ''}`);
  for (const [detail, fs] of [...details].sort((a, b) => tests(b[1]) - tests(a[1]) || b[1].length - a[1].length)) {
    const where = [...new Set(fs.map((f) => (phaseOf(f.outcome.id) === 'test' ? shortClass(classOf(f.outcome.id)) + '.' + f.outcome.id.split('.').pop() : `${shortClass(classOf(f.outcome.id))} (${phaseOf(f.outcome.id)})`)))];
    const shown = where.length > 8 ? `${where.slice(0, 8).join(', ')}, and ${where.length - 8} more` : where.join(', ');
    const reqs = [...new Set(fs.map((f) => f.request).filter(Boolean))].join(', ');
    md.push(`| ${esc(detail)} | ${fs.length} | ${tests(fs)} | ${esc(shown)} |${withRequests ? ` ${esc(reqs)} |` : ''}`);
  }
  md.push('');
}

const skips = new Map<string, number>();
for (const o of outcomes.filter((x) => x.status === 'skipped')) {
  const d = genericText(o.reason.split('\n')[0] ?? '');
  skips.set(d, (skips.get(d) ?? 0) + 1);
}
md.push('## Skipped', '');
md.push('Skips follow from tempest.conf (the same services and features are off for real Cinder 21).', '');
md.push('| reason | results |', '|---|---:|');
for (const [d, n] of [...skips].sort((a, b) => b[1] - a[1])) md.push(`| ${esc(d)} | ${n} |`);
md.push('');

writeFileSync(outPath, md.join('\n'));
process.stdout.write(`wrote ${outPath}: embervol ${passed.size} passed (${cinderPassing.length} of Cinder 21's ${cinder.length}), ${counts('failed')} failed results, ${counts('skipped')} skipped\n`);
