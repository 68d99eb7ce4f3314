// Runs tempest's volume API tests against `embervol serve --auth keystone` with a real Keystone, by hand:
//
//   node --import tsx test/conformance/run-tempest.ts [--regex R] [--concurrency N] [--out DIR] [--quiet]
//
//   --regex R        tempest's --regex (default: the whole suite,
//                    '^(tempest\.api\.volume|cinder_tempest_plugin\.api\.volume)\.')
//                    e.g. --regex 'tempest\.api\.volume\.test_volumes_get' or --regex 'test_volume_revert'
//   --concurrency N  tempest workers (default 2)
//   --out DIR        where the results go (default: a new /tmp/embervol-tempest-out-* dir, printed at the end)
//   --quiet          do not echo tempest's per-test lines
//   --keystone-single-threaded   Keystone serves one request at a time (for comparison; default: threaded)
//
// It starts Keystone and embervol on free loopback ports (temp dirs), writes tempest.conf into a temp tempest
// workspace, runs `tempest run`, parses the subunit stream into passed/failed/skipped id lists, prints a summary
// line, per-module counts, the failed ids and embervol's 5xx answers, and stops everything (also on Ctrl-C).
// DIR then holds passed.txt failed.txt skipped.txt results.jsonl (reasons and tracebacks) summary.txt
// tempest-run.log tempest.log tempest.conf last.subunit embervol.log http-5xx.txt; see tempest.ts.
// `node --import tsx test/conformance/report.ts DIR` turns DIR into docs/conformance.md.
//
// Exit code: 0 when the run completed (whatever the tests did), 1 when the harness itself failed, 2 usage.
import { parseArgs } from 'node:util';
import { CINDER21_PASSED, FULL_REGEX, moduleTable, readIdList, runTempest, summaryLine, cinderOverlap } from './tempest.js';

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: node --import tsx test/conformance/run-tempest.ts [--regex R] [--concurrency N] [--out DIR] [--quiet] [--keystone-single-threaded]\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      regex: { type: 'string', default: FULL_REGEX },
      concurrency: { type: 'string', default: '2' },
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'keystone-single-threaded': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  usage((e as Error).message);
}
if (args.help) usage('Runs tempest against embervol + Keystone.');
const concurrency = Number(args.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) usage(`--concurrency must be a positive integer, not ${args.concurrency}`);

const ac = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping tempest, embervol and Keystone\n`);
    ac.abort(new Error(`interrupted by ${sig}`));
  });
}

const t0 = Date.now();
const stamp = () => `[${String(Math.round((Date.now() - t0) / 1000)).padStart(4)} s]`;
try {
  const r = await runTempest({
    regex: args.regex,
    concurrency,
    outDir: args.out,
    signal: ac.signal,
    keystoneThreaded: !args['keystone-single-threaded'],
    onPhase: (what) => process.stderr.write(`${stamp()} ${what}\n`),
    onLine: args.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  const cinder = await readIdList(CINDER21_PASSED);
  const out: string[] = ['', moduleTable(r.modules), ''];
  if (r.failed.length) out.push(`failed (${r.failed.length}):`, ...r.failed.map((i) => `  ${i}`), '');
  if (r.serverErrors.length) {
    out.push(`embervol answered ${r.serverErrors.length} request(s) with 5xx:`, ...r.serverErrors.map((e) => `  ${e.status} ${e.method} ${e.url}`), '');
  }
  out.push(`regex ${r.regex}, concurrency ${r.concurrency}; tempest run ${r.tempestSeconds} s, whole run ${r.wallSeconds} s`);
  out.push(`results in ${r.outDir}`);
  let inScope = cinder;
  try {
    const re = new RegExp(r.regex); // tempest's regex is Python's; the common subset reads the same in JavaScript
    inScope = cinder.filter((id) => re.test(id));
  } catch {
    /* not a JavaScript regex: compare with the whole baseline */
  }
  out.push(cinderOverlap(r, inScope));
  out.push(summaryLine(r, cinder.length));
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(0);
} catch (e) {
  process.stderr.write(`run-tempest: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
}
