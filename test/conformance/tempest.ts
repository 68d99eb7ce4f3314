// Tempest's volume API tests against `embervol serve --auth keystone` and a real Keystone: the library behind
// test/conformance/run-tempest.ts (by hand) and test/conformance/tempest.test.ts (the ratchet in `npm test`).
//
//   const r = await runTempest({ regex, concurrency: 2, outDir });
//   r.passed / r.failed / r.skipped   sorted test ids, `[...]` attributes stripped
//   r.serverErrors                    every request embervol answered with a 5xx during the run
//   failureReason(o), failedCall(tb)  why a test failed (kind + cause) and which tempest client call failed
//
// What a run does:
//   1. starts Keystone (test/support/keystone.ts: threaded, writes one at a time, bcrypt rounds 4) and `embervol serve --auth keystone`
//      (builtin target, temp data dir, free ports), and registers embervol in the catalog as `volumev3` and
//      `block-storage` at http://127.0.0.1:PORT/v3/%(project_id)s, region RegionOne;
//   2. `tempest init` in a temp workspace (its workspace registry too, so ~/.tempest is not touched) and writes
//      etc/tempest.conf: only cinder available; snapshot, clone and volume_revert on; backup, manage and
//      extend_attached off; api_extensions = all; microversions 3.0 to 3.70; dynamic credentials made by
//      Keystone's admin (the settings of /work/shared/cinder-reference/run_tempest.sh, under which real
//      Cinder 21 passes the 192 ids of test/conformance/cinder21-passed.txt);
//   3. `tempest run --regex R --concurrency N` in its own process group (killed as a group on abort, or with
//      embervol on SIGTERM/SIGINT/SIGHUP when the caller passed no AbortSignal), then
//      `stestr last --subunit`, parsed by subunit_summary.py with Debian's /usr/bin/python3 (python3-subunit);
//   4. stops embervol and Keystone and removes their temp dirs and the workspace (TEMPEST_KEEP_WORKSPACE=1 keeps
//      the workspace), and writes to outDir:
//        passed.txt failed.txt skipped.txt   sorted ids (failed/skipped ones also in results.jsonl with reasons)
//        results.jsonl                        one {id, rawId, status, reason, traceback, requests} per test
//        summary.txt                          the summary line and per-module counts; run.json the run's facts
//        tempest-run.log tempest.log tempest.conf last.subunit
//        embervol.log                         embervol's JSON log; http-5xx.txt its 5xx answers (method, url, status)
//        keystone.log                         Keystone's log and access log
//   A run's time is mostly tempest's: per test class it creates a project and users in Keystone (dynamic
//   credentials) and waits for volumes and snapshots to reach their states (build_interval 1 s).
//
// Needs: tempest, cinder-tempest-plugin, keystone, python3-subunit (scripts/install-peers.sh).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKeystone, type KeystoneFixture } from '../support/keystone.js';
import { startServiceProcess, type ServiceProcess } from '../interop/service-process.js';

export const FULL_REGEX = '^(tempest\\.api\\.volume|cinder_tempest_plugin\\.api\\.volume)\\.';
const HERE = new URL('.', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const PEER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export type Status = 'passed' | 'failed' | 'skipped';

export interface TestOutcome {
  /** The id with its `[...]` attribute suffix stripped. */
  id: string;
  /** The id as tempest reported it. */
  rawId: string;
  status: Status;
  /** Skip reason, when subunit carried one. */
  reason: string;
  /** Failure traceback (tempest puts the HTTP response body in it). */
  traceback: string;
  /** "STATUS METHOD URL" of each API call the test made, from its captured log (failed tests; not setUpClass). */
  requests: string[];
}

export interface ModuleCount {
  module: string;
  passed: number;
  failed: number;
  skipped: number;
}

export interface ServerError {
  method: string;
  url: string;
  status: number;
}

export interface TempestResult {
  regex: string;
  concurrency: number;
  passed: string[];
  failed: string[];
  skipped: string[];
  outcomes: TestOutcome[];
  modules: ModuleCount[];
  /** Every request embervol answered with a 5xx status during the run. */
  serverErrors: ServerError[];
  /** Keystone's 5xx answers (access log lines): a harness problem, not embervol's, but it fails tests too. */
  keystoneErrors: string[];
  /** Exit code of `tempest run` (non-zero whenever a test failed). */
  tempestExitCode: number | null;
  /** Seconds the whole run took (start of Keystone to the end of parsing), and `tempest run` alone. */
  wallSeconds: number;
  tempestSeconds: number;
  outDir: string;
}

export interface TempestOptions {
  regex?: string;
  concurrency?: number;
  /** Where the lists and logs go (created). Default: a new temp dir, kept. */
  outDir?: string;
  /** Called with each line `tempest run` prints (progress). */
  onLine?: (line: string) => void;
  /** Called with each phase of the run (starting Keystone, ...). */
  onPhase?: (what: string) => void;
  signal?: AbortSignal;
  /** Keystone serves requests on threads (default; writes still one at a time) or strictly one at a time. */
  keystoneThreaded?: boolean;
}

/** null when tempest can run here; otherwise what is missing. */
export function tempestSkipReason(): string | null {
  for (const f of ['/usr/bin/tempest', '/usr/bin/stestr', PYTHON]) if (!existsSync(f)) return `${f} is missing (run scripts/install-peers.sh as root)`;
  const probe = spawnSync(PYTHON, ['-c', 'import subunit, testtools, cinder_tempest_plugin'], { encoding: 'utf8' });
  if (probe.status !== 0) return `python3-subunit or cinder-tempest-plugin is missing: ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}

/** Plain code-unit order, as `LC_ALL=C sort` (id lists are compared and diffed as sorted files). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Strips tempest's `[id-...,smoke]` attribute suffix. */
export function stripAttributes(id: string): string {
  return id.replace(/\[[^\]]*\]$/, '');
}

/** "module.Class" of a test id, or of a class-level id such as "setUpClass (module.Class)". */
export function classOf(id: string): string {
  const m = /^\w+ \(([^)]+)\)$/.exec(id);
  if (m) return m[1]!;
  return id.split('.').slice(0, -1).join('.');
}

/** The module of a test id ("tempest.api.volume.test_volumes_get"). */
export function moduleOf(id: string): string {
  return classOf(id).split('.').slice(0, -1).join('.');
}

export function countByModule(outcomes: readonly TestOutcome[]): ModuleCount[] {
  const by = new Map<string, ModuleCount>();
  for (const o of outcomes) {
    const module = moduleOf(o.id);
    let c = by.get(module);
    if (!c) by.set(module, (c = { module, passed: 0, failed: 0, skipped: 0 }));
    c[o.status]++;
  }
  return [...by.values()].sort((a, b) => byCodeUnits(a.module, b.module));
}

/** Reads a list of ids (one per line; blank lines and `#` comments ignored). */
export async function readIdList(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .map(stripAttributes);
}

/** The ids real Cinder 21 passes on this machine under the same tempest.conf. */
export const CINDER21_PASSED = join(HERE, 'cinder21-passed.txt');

export function summaryLine(r: Pick<TempestResult, 'passed' | 'failed' | 'skipped'>, cinderPassed: number): string {
  return `tempest: ${r.passed.length} passed, ${r.failed.length} failed, ${r.skipped.length} skipped (real Cinder 21: ${cinderPassed} passed)`;
}

/** "of the 192 ids real Cinder 21 passes, N pass here (M failed or did not run)"; failed counts class-level results once. */
export function cinderOverlap(r: Pick<TempestResult, 'passed'>, cinder: readonly string[]): string {
  const passed = new Set(r.passed);
  const n = cinder.filter((id) => passed.has(id)).length;
  return `of the ${cinder.length} ids real Cinder 21 passes, ${n} pass here (${cinder.length - n} failed, or did not run because their class's setUpClass failed)`;
}

export function moduleTable(modules: readonly ModuleCount[]): string {
  const w = Math.max(6, ...modules.map((m) => m.module.length));
  const lines = [`${'module'.padEnd(w)}  passed  failed  skipped`];
  for (const m of modules) {
    lines.push(`${m.module.padEnd(w)}  ${String(m.passed).padStart(6)}  ${String(m.failed).padStart(6)}  ${String(m.skipped).padStart(7)}`);
  }
  return lines.join('\n');
}

function tempestConf(ws: string, ks: KeystoneFixture): string {
  return `[DEFAULT]
log_dir = ${ws}/logs
log_file = tempest.log
debug = False

[oslo_concurrency]
lock_path = ${ws}/locks

[auth]
use_dynamic_credentials = True
create_isolated_networks = False
admin_username = admin
admin_password = ${ks.users.admin.password}
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = ${ks.authUrl}
auth_version = v3
region = RegionOne
v3_endpoint_type = public
disable_ssl_certificate_validation = True

[identity-feature-enabled]
api_v2 = False

[service_available]
cinder = True
nova = False
glance = False
neutron = False
swift = False
horizon = False

[volume]
catalog_type = volumev3
endpoint_type = publicURL
region = RegionOne
storage_protocol = iSCSI
vendor_name = Open Source
min_microversion = 3.0
max_microversion = 3.70
build_timeout = 120
build_interval = 1
volume_size = 1

[volume-feature-enabled]
api_v3 = True
backup = False
snapshot = True
clone = True
multi_backend = False
manage_volume = False
manage_snapshot = False
extend_attached_volume = False
extend_attached_encrypted_volume = False
api_extensions = all
consistency_group = False
volume_revert = True
`;
}

const peerEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: PEER_PATH, PYTHON, PYTHONDONTWRITEBYTECODE: '1' });

/** Runs a short command to completion; throws with its output when it fails. */
async function run(cmd: string, args: string[], cwd: string, signal?: AbortSignal): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    let err = '';
    p.stdout!.on('data', (d: Buffer) => out.push(d));
    p.stderr!.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4000)));
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

/** The commit embervol ran from ("abc1234", "+dirty" when the worktree has changes). */
function gitDescribe(): string {
  const root = join(HERE, '..', '..');
  const rev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (rev.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  return rev.stdout.trim() + (dirty.stdout.trim() ? '+dirty' : '');
}

/** Kills a detached child's whole process group (tempest and its stestr workers). */
function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Synchronous killers of what a run started (tempest's process group, embervol), for a fatal signal. */
const children = new Set<() => void>();

/**
 * Without an AbortSignal from the caller (the ratchet test), a SIGTERM/SIGINT/SIGHUP (the test runner giving up, Ctrl-C)
 * kills tempest's process group and embervol at once and then lets the signal end the process as it would have.
 * Keystone exits by itself when its stdin (a pipe from this process) closes.
 */
function killChildrenOnSignal(): () => void {
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const handler = (sig: NodeJS.Signals) => {
    for (const kill of children) kill();
    for (const s of signals) process.removeListener(s, handler);
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.removeListener(s, handler);
  };
}

/** `tempest run` in its own process group; resolves with its exit code once the group is gone. */
async function tempestRun(ws: string, regex: string, concurrency: number, logPath: string, opts: TempestOptions): Promise<number | null> {
  const log = await import('node:fs').then((fs) => fs.createWriteStream(logPath));
  const p = spawn('/usr/bin/tempest', ['run', '--regex', regex, '--concurrency', String(concurrency)], {
    cwd: ws,
    env: peerEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const onExit = () => killGroup(p, 'SIGKILL');
  process.once('exit', onExit);
  children.add(onExit);
  const onAbort = () => {
    killGroup(p, 'SIGTERM');
    setTimeout(() => killGroup(p, 'SIGKILL'), 5000).unref();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let partial = '';
  const onData = (d: Buffer) => {
    log.write(d);
    if (!opts.onLine) return;
    partial += d.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) opts.onLine(l);
  };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  try {
    return await new Promise<number | null>((resolve, reject) => {
      p.once('error', reject);
      p.once('close', (code) => resolve(code));
    });
  } finally {
    killGroup(p, 'SIGKILL'); // stray workers, if any
    process.removeListener('exit', onExit);
    children.delete(onExit);
    opts.signal?.removeEventListener('abort', onAbort);
    await new Promise<void>((resolve) => log.end(() => resolve()));
  }
}

function toStatus(subunitStatus: string): Status {
  if (subunitStatus === 'success' || subunitStatus === 'xfail') return 'passed';
  if (subunitStatus === 'skip') return 'skipped';
  return 'failed'; // fail, uxsuccess, unknown (a worker died mid-test)
}

async function parseSubunit(subunitPath: string, cwd: string): Promise<TestOutcome[]> {
  const out = await run(PYTHON, [join(HERE, 'subunit_summary.py'), subunitPath], cwd);
  const byId = new Map<string, TestOutcome>();
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { id: string; status: string; reason: string; traceback: string; requests?: string[] };
    const o: TestOutcome = {
      id: stripAttributes(r.id),
      rawId: r.id,
      status: toStatus(r.status),
      reason: r.reason,
      traceback: r.traceback,
      requests: r.requests ?? [],
    };
    // A class-level id can repeat (setUpClass and tearDownClass both report); a failure wins over a pass.
    const prev = byId.get(o.id);
    if (!prev || (prev.status !== 'failed' && o.status === 'failed')) byId.set(o.id, o);
  }
  return [...byId.values()].sort((a, b) => byCodeUnits(a.id, b.id));
}

export interface FailureReason {
  /** Coarse kind: 'schema mismatch', 'endpoint missing (404)', 'not found (404)', 'refused (4xx)', 'server error (5xx)',
   *  'wrong success status', 'timeout', 'assertion', 'skipped', or 'other'. */
  kind: string;
  /** What exactly: the validation error, the fault message, the assertion. Ids and hosts are replaced by placeholders. */
  detail: string;
}

const HTTP_ERRORS: Record<string, string> = {
  BadRequest: '400',
  Unauthorized: '401',
  Forbidden: '403',
  Conflict: '409',
  OverLimit: '413',
  RequestEntityTooLarge: '413',
  InvalidContentType: '415',
  UnprocessableEntity: '422',
  NotImplemented: '501',
};

/** Ids, hosts and ports replaced by placeholders, so equal causes group together. */
export function genericText(text: string): string {
  return text
    .replace(/https?:\/\/127\.0\.0\.1:\d+/g, 'http://HOST')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{id}')
    .replace(/\b[0-9a-f]{32}\b/gi, '{id}')
    .replace(/tempest-[\w-]+?-\d{6,}/g, 'tempest-NAME')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Why a test did not pass, from its skip reason or its traceback (tempest's exception line and its Details). */
export function failureReason(o: Pick<TestOutcome, 'status' | 'reason' | 'traceback'>): FailureReason {
  if (o.status === 'skipped') return { kind: 'skipped', detail: genericText(o.reason.split('\n')[0] ?? '') };
  const lines = o.traceback.split('\n');
  // The last exception line: "pkg.mod.SomeError: message" at column 0 (traceback frames are indented).
  let i = -1;
  for (let k = lines.length - 1; k >= 0; k--) {
    if (/^[A-Za-z_][\w.]*(Error|Exceptions?|Failure|Mismatch|NotFound|BadRequest|Forbidden|Conflict|Unauthorized|Fault|Timeout|OverLimit|NotImplemented|Code|Body|Entity|Type)\b.*:/.test(lines[k]!) || /^[A-Za-z_][\w.]*(Error|Exception)$/.test(lines[k]!)) {
      i = k;
      break;
    }
  }
  // A schema failure is a jsonschema ValidationError re-raised as tempest's InvalidHTTPResponseBody: use the former.
  const v = lines.findIndex((l) => l.startsWith('jsonschema.exceptions.ValidationError:'));
  if (v >= 0) i = v;
  if (i < 0) return { kind: 'other', detail: genericText(lines.filter((l) => l.trim()).slice(-1)[0] ?? 'no traceback') };
  const head = lines[i]!;
  const rest = lines.slice(i + 1).filter((l) => l.trim());
  const exc = head.slice(0, head.indexOf(':') < 0 ? head.length : head.indexOf(':'));
  const short = exc.split('.').pop()!;
  const message = head.slice(exc.length + 1).trim();
  const details = rest.find((l) => l.startsWith('Details:'))?.slice('Details:'.length).trim() ?? '';
  if (short === 'MultipleExceptions') {
    // testtools.MultipleExceptions: ((<class 'tempest.lib.exceptions.BadRequest'>, Bad request\nDetails: {...}, <traceback ...>), ...)
    // (a class's resource_cleanup collects its errors): classify the first one.
    const inner = /<class '([\w.]+)'>, ([^\n]*)(?:\n(Details: [^\n]*))?/.exec(lines.slice(i).join('\n'));
    if (inner) {
      const details = (inner[3] ?? '').replace(/, <traceback object at 0x[0-9a-f]+>\).*$/, '');
      const r = failureReason({ status: 'failed', reason: '', traceback: `${inner[1]}: ${inner[2]}\n${details}` });
      return r;
    }
  }
  const faultMessage = /'message': '((?:[^'\\]|\\.)*)'/.exec(details)?.[1] ?? /"message": "((?:[^"\\]|\\.)*)"/.exec(details)?.[1];
  if (short === 'ValidationError' || short === 'InvalidHTTPResponseBody') {
    const where = rest.find((l) => l.startsWith('Failed validating'))?.replace(/^Failed validating /, '').replace(/:$/, '') ?? '';
    return { kind: 'schema mismatch', detail: genericText(`${message}${where ? ` (${where})` : ''}`) };
  }
  if (short === 'NotFound') {
    if (faultMessage === 'The resource could not be found.') return { kind: 'endpoint missing (404)', detail: faultMessage };
    return { kind: 'not found (404)', detail: genericText(faultMessage ?? details ?? message) };
  }
  if (short === 'ServerFault') return { kind: 'server error (5xx)', detail: genericText(faultMessage ?? (details || message)) };
  if (HTTP_ERRORS[short]) return { kind: 'refused (4xx)', detail: genericText(`${HTTP_ERRORS[short]} ${faultMessage ?? (details || message)}`) };
  if (short === 'InvalidHttpSuccessCode' || short === 'UnexpectedResponseCode') {
    return { kind: 'wrong success status', detail: genericText(`${message} ${rest[0] ?? ''}`) };
  }
  if (/Timeout/.test(short) || /timed out|within the required time/i.test(message)) {
    return { kind: 'timeout', detail: genericText(`${message} ${rest[0] ?? ''}`.slice(0, 300)) };
  }
  if (/BuildError|ErrorException/.test(short)) return { kind: 'went to error', detail: genericText(`${short}: ${message}`) };
  if (short === 'AssertionError' || short === 'MismatchError' || /^testtools/.test(exc)) {
    return { kind: 'assertion', detail: genericText(`${message} ${rest[0] ?? ''}`.slice(0, 300)) };
  }
  return { kind: 'other', detail: genericText(`${short}: ${message}`.slice(0, 300)) };
}

/**
 * The API call a failure came from, from its traceback: the deepest frame in one of tempest's service clients and
 * the HTTP method of rest_client's frame, e.g. "GET scheduler_stats_client.list_pools". undefined when none.
 */
export function failedCall(traceback: string): string | undefined {
  let client: string | undefined;
  let method: string | undefined;
  for (const m of traceback.matchAll(/File "[^"]*\/(?:tempest\/lib\/services|cinder_tempest_plugin\/services)\/(?:[\w/]*\/)?(\w+)\.py", line \d+, in (\w+)/g)) {
    if (m[1] !== 'base_client') client = `${m[1]}.${m[2]}`; // base_client.request wraps every volume call
  }
  for (const m of traceback.matchAll(/File "[^"]*\/tempest\/lib\/common\/rest_client\.py", line \d+, in (get|post|put|delete|patch|head)\b/g)) {
    method = m[1]!.toUpperCase();
  }
  if (!client) return undefined;
  return method ? `${method} ${client}` : client;
}

/** The 5xx answers in embervol's JSON log ({msg: 'request', method, url, status}). */
export function serverErrorsIn(logLines: readonly string[]): ServerError[] {
  const errors: ServerError[] = [];
  for (const line of logLines) {
    let rec: { msg?: unknown; status?: unknown; method?: unknown; url?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      continue;
    }
    if (rec.msg === 'request' && typeof rec.status === 'number' && rec.status >= 500) {
      errors.push({ method: String(rec.method), url: String(rec.url), status: rec.status });
    }
  }
  return errors;
}

export async function runTempest(opts: TempestOptions = {}): Promise<TempestResult> {
  const skip = tempestSkipReason();
  if (skip) throw new Error(skip);
  const regex = opts.regex ?? FULL_REGEX;
  const concurrency = opts.concurrency ?? 2;
  const ownOutDir = opts.outDir === undefined;
  const outDir = opts.outDir ?? (await mkdtemp(join(tmpdir(), 'embervol-tempest-out-')));
  await mkdir(outDir, { recursive: true });
  const phase = opts.onPhase ?? (() => {});
  const t0 = Date.now();
  const root = await mkdtemp(join(tmpdir(), 'embervol-tempest-'));
  let ks: KeystoneFixture | undefined;
  let svc: ServiceProcess | undefined;
  const unhook = opts.signal ? () => {} : killChildrenOnSignal();
  // On a fatal signal: kill embervol, remove the temp dirs (Keystone's dir is removed once its process has gone).
  const abandonRun = () => {
    svc?.child.kill('SIGKILL');
    for (const d of [root, svc?.dataDir, ownOutDir ? outDir : undefined]) if (d) rmSync(d, { recursive: true, force: true });
    if (ks) {
      const dir = ks.dir;
      // Keystone exits when its stdin closes, i.e. as this process dies; its dir goes with a detached helper.
      spawn('/bin/sh', ['-c', `sleep 2; rm -rf '${dir}'`], { detached: true, stdio: 'ignore' }).unref();
    }
  };
  children.add(abandonRun);
  try {
    phase('starting Keystone');
    ks = await startKeystone({ threaded: opts.keystoneThreaded ?? true });
    const sc = ks.serviceCredentials();
    phase('starting embervol serve --auth keystone');
    svc = await startServiceProcess({
      target: 'builtin',
      extraArgs: ['--auth', 'keystone', '--keystone-auth-url', sc.authUrl, '--keystone-username', sc.username, '--keystone-project-name', sc.projectName],
      env: { EMBERVOL_KEYSTONE_PASSWORD: sc.password },
    });
    const endpoint = `${svc.url}/v3/%(project_id)s`;
    await ks.registerService('volumev3', 'cinderv3', endpoint);
    await ks.registerService('block-storage', 'cinder', endpoint);

    phase('tempest init');
    const ws = join(root, 'ws');
    await run('/usr/bin/tempest', ['init', '--workspace-path', join(root, 'workspace.yaml'), ws], root, opts.signal);
    await mkdir(join(ws, 'locks'), { recursive: true });
    await writeFile(join(ws, 'etc', 'tempest.conf'), tempestConf(ws, ks));

    phase(`tempest run --regex '${regex}' --concurrency ${concurrency}`);
    const tr0 = Date.now();
    const tempestExitCode = await tempestRun(ws, regex, concurrency, join(outDir, 'tempest-run.log'), opts);
    const tempestSeconds = Math.round((Date.now() - tr0) / 1000);
    opts.signal?.throwIfAborted();

    phase('parsing subunit');
    const subunit = join(outDir, 'last.subunit');
    const stream = await new Promise<Buffer>((resolve, reject) => {
      const p = spawn('/usr/bin/stestr', ['last', '--subunit'], { cwd: ws, env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      p.stdout!.on('data', (d: Buffer) => chunks.push(d));
      p.once('error', reject);
      p.once('close', () => resolve(Buffer.concat(chunks))); // exits 1 when a test failed
    });
    if (stream.length === 0) throw new Error(`tempest produced no results (exit ${tempestExitCode}); see ${join(outDir, 'tempest-run.log')}`);
    await writeFile(subunit, stream);
    const outcomes = await parseSubunit(subunit, ws);
    for (const f of ['tempest.conf']) await copyFile(join(ws, 'etc', f), join(outDir, f));
    // tempest's workers log into the directory they run in and/or log_dir: keep both, one after the other.
    const logs = [join(ws, 'tempest.log'), join(ws, 'logs', 'tempest.log')].filter((f) => existsSync(f));
    await writeFile(join(outDir, 'tempest.log'), Buffer.concat(await Promise.all(logs.map((f) => readFile(f)))));

    const pick = (s: Status) => outcomes.filter((o) => o.status === s).map((o) => o.id);
    const serverErrors = serverErrorsIn(svc.logs);
    const keystoneErrors = ks.logs().split('\n').filter((l) => /^"[A-Z]+ \S+ HTTP\/[\d.]+" 5\d\d /.test(l));
    const result: TempestResult = {
      regex,
      concurrency,
      passed: pick('passed'),
      failed: pick('failed'),
      skipped: pick('skipped'),
      outcomes,
      modules: countByModule(outcomes),
      serverErrors,
      keystoneErrors,
      tempestExitCode,
      wallSeconds: 0,
      tempestSeconds,
      outDir,
    };
    const list = (ids: string[]) => ids.map((i) => `${i}\n`).join('');
    await writeFile(join(outDir, 'passed.txt'), list(result.passed));
    await writeFile(join(outDir, 'failed.txt'), list(result.failed));
    await writeFile(join(outDir, 'skipped.txt'), list(result.skipped));
    await writeFile(join(outDir, 'results.jsonl'), outcomes.map((o) => `${JSON.stringify(o)}\n`).join(''));
    await writeFile(join(outDir, 'http-5xx.txt'), serverErrors.map((e) => `${e.status} ${e.method} ${e.url}\n`).join(''));
    await writeFile(join(outDir, 'embervol.log'), svc.logs.map((l) => `${l}\n`).join(''));
    result.wallSeconds = Math.round((Date.now() - t0) / 1000);
    await writeFile(
      join(outDir, 'run.json'),
      JSON.stringify(
        {
          regex,
          concurrency,
          finishedAt: new Date().toISOString(),
          commit: gitDescribe(),
          tempestSeconds,
          wallSeconds: result.wallSeconds,
          tempestExitCode,
          passed: result.passed.length,
          failed: result.failed.length,
          skipped: result.skipped.length,
          embervol5xx: serverErrors.length,
          keystone5xx: keystoneErrors.length,
        },
        null,
        2,
      ) + '\n',
    );
    const cinder = (await readIdList(CINDER21_PASSED)).length;
    await writeFile(
      join(outDir, 'summary.txt'),
      `${summaryLine(result, cinder)}\nregex ${regex}, concurrency ${concurrency}, tempest run ${tempestSeconds} s, whole run ${result.wallSeconds} s, ` +
        `embervol 5xx answers: ${serverErrors.length}, Keystone 5xx answers: ${keystoneErrors.length}\n\n${moduleTable(result.modules)}\n`,
    );
    return result;
  } finally {
    phase('stopping embervol and Keystone');
    if (ks) await writeFile(join(outDir, 'keystone.log'), ks.logs()).catch(() => {});
    await svc?.stop().catch(() => {});
    children.delete(abandonRun);
    unhook();
    await ks?.stop().catch(() => {});
    if (process.env.TEMPEST_KEEP_WORKSPACE === '1') phase(`workspace kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}
