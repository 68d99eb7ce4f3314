// A real Keystone (Debian's `keystone` package) on loopback for auth tests.
//
//   const ks = await startKeystone();          // ~7 s (see Speed)
//   const token = await ks.token('alice');      // project-scoped token (project A, role member)
//   ks.authUrl                                  // http://127.0.0.1:<port>/v3 (through a counting proxy)
//   ks.requests / ks.countRequests(...)         // what reached Keystone through that proxy
//   ks.setReachable(false)                      // the proxy resets every connection (Keystone "down")
//   await ks.stop();                            // kills Keystone, closes the proxy, removes the temp dir
//
// How it runs: Keystone's WSGI app (keystone.server.wsgi.initialize_public_application, the same entry point
// as /usr/bin/keystone-wsgi-public) is served by python3's wsgiref on 127.0.0.1 port 0, single-threaded,
// with its own keystone.conf, an SQLite database and fernet/credential keys in a temp dir. In front of it
// sits a small Node proxy; authUrl points at the proxy so that tests can count requests and simulate an
// outage. The catalog's identity endpoint is the proxy URL too.
//
// Speed (~7 s on an idle 2-CPU box, ~20 s under heavy load): fernet/credential keys are written by Node (what
// fernet_setup does), db_sync + bootstrap run in one Python process instead of two keystone-manage runs,
// SQLite runs in WAL mode without fsync, bcrypt uses 4 rounds, and Keystone's in-process cache is on.
// Start one fixture per test file (before/after), not one per test. EMBERVOL_KEYSTONE_TRACE=1 prints phase
// timings; EMBERVOL_KEYSTONE_KEEP=1 keeps the temp dir of a failed start.
//
// Needs: `scripts/install-peers.sh` (apt-get install keystone). keystoneSkipReason() says why not.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


/** Version of layout.json, the record of ids and passwords a started fixture writes into its dir. */
const LAYOUT_VERSION = 3;
const PYTHON = '/usr/bin/python3';
const KEYSTONE_APP = '/usr/lib/python3/dist-packages/keystone/server/wsgi.py';
const DEFAULT_DOMAIN = 'default';

export type KeystoneUser = 'admin' | 'adminuser' | 'alice' | 'bob' | 'rita' | 'nova' | 'embervol';
export type KeystoneProject = 'admin' | 'A' | 'B' | 'service';

export interface UserInfo {
  name: string;
  id: string;
  password: string;
  /** The project the user's token is scoped to by default. */
  project: KeystoneProject;
  /** Roles assigned directly on that project (Keystone adds implied ones: admin -> member -> reader). */
  roles: string[];
}

interface Layout {
  version: number;
  adminPassword: string;
  projects: Record<KeystoneProject, { id: string; name: string }>;
  users: Record<KeystoneUser, UserInfo>;
  roles: Record<string, string>;
  identityEndpointId: string;
}

/** Users, their passwords and role assignments. embervol is the validator's own service account. */
const USERS: Array<{ name: KeystoneUser; project: KeystoneProject; roles: string[] }> = [
  { name: 'adminuser', project: 'A', roles: ['admin'] },
  { name: 'alice', project: 'A', roles: ['member'] },
  { name: 'bob', project: 'B', roles: ['member'] },
  { name: 'rita', project: 'A', roles: ['reader'] },
  { name: 'nova', project: 'service', roles: ['service'] },
  { name: 'embervol', project: 'service', roles: ['service'] },
];
const PROJECT_NAMES: Record<KeystoneProject, string> = { admin: 'admin', A: 'project-a', B: 'project-b', service: 'service' };
const passwordFor = (user: string) => `pw-${user}-test`;

export interface ProxyRecord {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Response status, or 0 when the proxy dropped the request. */
  status: number;
  at: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  /** The token body Keystone returned ({token: {...}}). */
  body: any;
}

export interface KeystoneFixture {
  /** Identity v3 URL through the counting proxy, e.g. http://127.0.0.1:41234/v3 */
  readonly authUrl: string;
  /** Identity v3 URL of Keystone itself (bypasses the proxy: not counted, never "down"). */
  readonly directUrl: string;
  readonly dir: string;
  readonly users: Record<KeystoneUser, UserInfo>;
  readonly projects: Record<KeystoneProject, { id: string; name: string }>;
  readonly tokenExpirationSeconds: number;
  /** The validator's service credentials (user embervol, role service, project service). */
  serviceCredentials(): { authUrl: string; username: string; password: string; projectName: string; userDomainName: string; projectDomainName: string };
  /** A token for the user, scoped to their project unless `project` or `unscoped` says otherwise. Direct, not counted. */
  issue(user: KeystoneUser, opts?: { project?: KeystoneProject; unscoped?: boolean }): Promise<IssuedToken>;
  token(user: KeystoneUser, opts?: { project?: KeystoneProject; unscoped?: boolean }): Promise<string>;
  /** DELETE /v3/auth/tokens (revokes the token), with an admin token. Direct, not counted. */
  revoke(token: string): Promise<void>;
  /** Registers a service and its public endpoint in the catalog (e.g. volumev3 -> embervol). */
  registerService(type: string, name: string, url: string): Promise<void>;
  /** Requests that went through the proxy, oldest first. */
  readonly requests: readonly ProxyRecord[];
  countRequests(filter?: { method?: string; path?: string }): number;
  resetRequests(): void;
  /** false: the proxy resets every new connection, as if Keystone were down. */
  setReachable(up: boolean): void;
  /** Keystone's own log (keystone.log) and the wsgiref access log, for debugging a failed test. */
  logs(): string;
  stop(): Promise<void>;
}

/** null when the fixture can run here; otherwise why not (so a missing package fails with a clear message). */
export function keystoneSkipReason(): string | null {
  if (!existsSync(KEYSTONE_APP)) return 'keystone is not installed (run scripts/install-peers.sh as root)';
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// keystone.conf and processes

function keystoneConf(dir: string, tokenExpirationSeconds: number): string {
  return `[DEFAULT]
log_dir = ${dir}
log_file = keystone.log
use_stderr = false
debug = false

[database]
connection = sqlite:///${dir}/keystone.db
# No fsync per commit: the database dies with the test anyway.
sqlite_synchronous = false

[fernet_tokens]
key_repository = ${dir}/fernet-keys
max_active_keys = 3

[fernet_receipts]
key_repository = ${dir}/fernet-keys

[credential]
key_repository = ${dir}/credential-keys

[identity]
# bcrypt's minimum: every password check costs ~1 ms instead of ~250 ms.
password_hash_rounds = 4

[token]
expiration = ${tokenExpirationSeconds}

[catalog]
driver = sql

[cache]
# In-process cache: token validation and role lookups stop costing several SQL queries each. Keystone
# invalidates it itself on writes and revocations (single process, so never stale).
enabled = true
backend = dogpile.cache.memory

[oslo_policy]
policy_file = ${dir}/policy.yaml
policy_dirs = ${dir}/policy.d
`;
}

/**
 * What `keystone-manage db_sync` and `keystone-manage bootstrap` do, in one Python process (each keystone-manage
 * run costs ~3 s of imports). It must be its own process: the WSGI app started in the same interpreter after a
 * bootstrap finds the SQLite database locked on its first write.
 */
const SETUP_PY = `
import json, sys
conf = sys.argv[1]
boot = json.loads(sys.argv[2])
sys.argv[1:] = ['--config-file', conf]
import keystone.server
from keystone.common.sql import upgrades
from keystone.cmd.bootstrap import Bootstrapper
keystone.server.configure(config_files=None)
upgrades.offline_sync_database_to_version()
b = Bootstrapper()
b.admin_password = boot['password']
b.admin_username = 'admin'
b.project_name = 'admin'
b.admin_role_name = 'admin'
b.service_name = 'keystone'
b.public_url = boot['public_url']
b.region_id = 'RegionOne'
b.immutable_roles = True
b.bootstrap()
import sqlite3
db = sqlite3.connect(boot['db'])
db.execute('PRAGMA journal_mode=WAL')
db.close()
`;

/**
 * Serves the app like /usr/bin/keystone-wsgi-public, but binds port 0, reports it on stdout and exits when stdin closes.
 * A second argument `threaded` serves each request on its own thread (socketserver.ThreadingMixIn), for many clients;
 * requests other than GET/HEAD/OPTIONS still run one at a time (SQLite has one writer).
 */
const SERVER_PY = `
import json, os, sys, threading
import wsgiref.simple_server as wss
conf = sys.argv[1]
threaded = sys.argv[2:] == ['threaded']
sys.argv[1:] = ['--config-file', conf]
from keystone.server.wsgi import initialize_public_application
class Handler(wss.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write('%s\\n' % (fmt % args)); sys.stderr.flush()
import socketserver
class Server(wss.WSGIServer):
    request_queue_size = 128
class ThreadedServer(socketserver.ThreadingMixIn, Server):
    daemon_threads = True
app = initialize_public_application()
if threaded:
    # SQLite takes one writer at a time, and a transaction that read before it writes fails at once with
    # "database is locked" when another thread wrote meanwhile (no busy wait helps). So requests that may
    # write run one at a time; reads (token validation, lists) stay concurrent.
    write_lock = threading.Lock()
    inner_app = app
    def app(environ, start_response):
        if environ.get('REQUEST_METHOD') in ('GET', 'HEAD', 'OPTIONS'):
            return inner_app(environ, start_response)
        with write_lock:
            return list(inner_app(environ, start_response))
srv = wss.make_server('127.0.0.1', 0, app, server_class=ThreadedServer if threaded else Server, handler_class=Handler)
def watch_parent():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
print(json.dumps({'port': srv.server_port}), flush=True)
srv.serve_forever()
`;

async function setupDatabase(dir: string, bootstrap: { password: string; public_url: string; db: string }): Promise<void> {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const proc = spawn(PYTHON, ['-c', SETUP_PY, join(dir, 'keystone.conf'), JSON.stringify(bootstrap)], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-20_000)));
    proc.once('error', reject);
    proc.once('exit', (code) => resolve({ code, stderr }));
  });
  if (code !== 0) {
    const tail = stderr.split('\n').filter((l) => l && !l.startsWith(' ')).slice(-8).join('\n');
    throw new Error(`Keystone db_sync/bootstrap failed (exit ${code}):\n${tail}`);
  }
}

/** What `keystone-manage fernet_setup` / `credential_setup` write: keys 0 (staged) and 1 (primary), 32 random bytes, urlsafe base64. */
async function writeKeyRepository(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  for (const name of ['0', '1']) {
    await writeFile(join(path, name), randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'), { mode: 0o600 });
  }
}

interface Server {
  proc: ChildProcess;
  port: number;
}

async function startServer(dir: string, threaded: boolean): Promise<Server> {
  const errLog = await open(join(dir, 'access.log'), 'a');
  const proc = spawn(PYTHON, ['-c', SERVER_PY, join(dir, 'keystone.conf'), ...(threaded ? ['threaded'] : [])], {
    cwd: dir,
    stdio: ['pipe', 'pipe', errLog.fd],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  await errLog.close();
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('Keystone did not report its port within 60 s')), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      let log = '';
      try {
        log = readFileSync(join(dir, 'keystone.log'), 'utf8').split('\n').slice(-15).join('\n');
      } catch {
        /* no log yet */
      }
      reject(new Error(`${err.message}\n${log}`));
    };
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /\{"port": (\d+)\}/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', (code, sig) => fail(new Error(`Keystone exited during start (code ${code}, signal ${sig})`)));
    proc.once('error', fail);
  });
  proc.removeAllListeners('exit');
  proc.stdout!.resume();
  return { proc, port };
}

/** The ERROR/CRITICAL lines of keystone.log (tracebacks included), for messages of failed starts. */
function errorLines(dir: string): string {
  try {
    const lines = readFileSync(join(dir, 'keystone.log'), 'utf8').split('\n');
    return lines.filter((l) => / (ERROR|CRITICAL) /.test(l)).slice(-30).join('\n');
  } catch {
    return '';
  }
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------------------
// v3 API helpers (direct to Keystone)

async function api(base: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['x-auth-token'] = token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`Keystone ${method} ${path} -> ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

function passwordAuthBody(name: string, password: string, scope?: { projectName: string } | null): unknown {
  const auth: any = {
    identity: { methods: ['password'], password: { user: { name, domain: { id: DEFAULT_DOMAIN }, password } } },
  };
  // Without a scope Keystone scopes to the user's default project; "unscoped" really asks for none.
  auth.scope = scope ? { project: { name: scope.projectName, domain: { id: DEFAULT_DOMAIN } } } : 'unscoped';
  return { auth };
}

async function issueToken(base: string, name: string, password: string, projectName: string | null): Promise<IssuedToken> {
  const res = await fetch(`${base}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(passwordAuthBody(name, password, projectName ? { projectName } : null)),
  });
  const text = await res.text();
  const token = res.headers.get('x-subject-token');
  if (res.status !== 201 || !token) throw new Error(`Keystone refused a token for ${name}: ${res.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text);
  return { token, expiresAt: new Date(body.token.expires_at), body };
}

async function waitForApi(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(base);
      await res.text();
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`Keystone at ${base} did not answer within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Creates the projects, roles, users and assignments through the v3 API (admin token from bootstrap). */
async function populate(base: string, adminPassword: string): Promise<Omit<Layout, 'version' | 'adminPassword'>> {
  // Tokens may live only a few seconds (tokenExpirationSeconds); renew the admin token when it gets old.
  let held: IssuedToken | undefined;
  const adminToken = async () => {
    if (!held || held.expiresAt.getTime() - Date.now() < 2500) held = await issueToken(base, 'admin', adminPassword, 'admin');
    return held.token;
  };
  const call = async (method: string, path: string, body?: unknown) => api(base, await adminToken(), method, path, body);
  const roles: Record<string, string> = {};
  for (const r of (await call('GET', '/roles')).roles) roles[r.name] = r.id;
  for (const name of ['admin', 'member', 'reader', 'service']) {
    if (!roles[name]) roles[name] = (await call('POST', '/roles', { role: { name } })).role.id;
  }
  const projects = {} as Layout['projects'];
  for (const [key, name] of Object.entries(PROJECT_NAMES) as Array<[KeystoneProject, string]>) {
    const found = (await call('GET', `/projects?name=${encodeURIComponent(name)}`)).projects[0];
    const id = found
      ? found.id
      : (await call('POST', '/projects', { project: { name, domain_id: DEFAULT_DOMAIN, enabled: true } })).project.id;
    projects[key] = { id, name };
  }
  const users = {} as Layout['users'];
  const adminUser = (await call('GET', '/users?name=admin')).users[0];
  users.admin = { name: 'admin', id: adminUser.id, password: adminPassword, project: 'admin', roles: ['admin'] };
  for (const u of USERS) {
    const password = passwordFor(u.name);
    const created = await call('POST', '/users', {
      user: { name: u.name, password, domain_id: DEFAULT_DOMAIN, enabled: true, default_project_id: projects[u.project].id },
    });
    const id: string = created.user.id;
    for (const role of u.roles) {
      await call('PUT', `/projects/${projects[u.project].id}/users/${id}/roles/${roles[role]}`);
    }
    users[u.name] = { name: u.name, id, password, project: u.project, roles: u.roles };
  }
  const endpoints = (await call('GET', '/endpoints?interface=public')).endpoints as Array<{ id: string; url: string }>;
  const identity = endpoints.find((e) => e.url.endsWith('/v3'));
  if (!identity) throw new Error('bootstrap created no public identity endpoint');
  return { projects, users, roles, identityEndpointId: identity.id };
}

// ---------------------------------------------------------------------------------------------------------
// template: a bootstrapped, populated Keystone state that later starts copy

async function writeConf(dir: string, tokenExpirationSeconds: number): Promise<void> {
  await writeFile(join(dir, 'keystone.conf'), keystoneConf(dir, tokenExpirationSeconds));
  await writeFile(join(dir, 'policy.yaml'), '{}\n');
  await mkdir(join(dir, 'policy.d'), { recursive: true });
}

/** A fresh Keystone in dir: keys, schema, bootstrap and the users/projects/roles above. Leaves it running. */
async function buildState(dir: string, tokenExpirationSeconds: number, threaded: boolean): Promise<{ layout: Layout; server: Server }> {
  const t0 = Date.now();
  const trace = (what: string) => {
    if (process.env.EMBERVOL_KEYSTONE_TRACE === '1') process.stderr.write(`keystone fixture: ${what} at ${Date.now() - t0} ms\n`);
  };
  await writeConf(dir, tokenExpirationSeconds);
  await writeKeyRepository(join(dir, 'fernet-keys'));
  await writeKeyRepository(join(dir, 'credential-keys'));
  const adminPassword = passwordFor('admin');
  await setupDatabase(dir, { password: adminPassword, public_url: 'http://127.0.0.1:5000/v3', db: join(dir, 'keystone.db') });
  trace('db_sync + bootstrap done');
  const server = await startServer(dir, threaded);
  trace('server listening');
  try {
    const base = `http://127.0.0.1:${server.port}/v3`;
    await waitForApi(base);
    const populated = await populate(base, adminPassword);
    trace('users, projects, roles created');
    const layout: Layout = { version: LAYOUT_VERSION, adminPassword, ...populated };
    await writeFile(join(dir, 'layout.json'), JSON.stringify(layout, null, 2));
    return { layout, server };
  } catch (err) {
    await stopProcess(server.proc);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// counting proxy

interface Proxy {
  port: number;
  records: ProxyRecord[];
  reachable: boolean;
  setReachable(up: boolean): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number, maxSockets: number): Promise<Proxy> {
  // Keystone's wsgiref server is single-threaded by default; one upstream socket at a time keeps its accept queue short.
  const agent = new http.Agent({ keepAlive: false, maxSockets });
  const sockets = new Set<Socket>();
  const state: Proxy = { port: 0, records: [], reachable: true, setReachable: () => {}, close: async () => {} };
  const server = http.createServer((req, res) => {
    const record: ProxyRecord = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, status: 0, at: Date.now() };
    state.records.push(record);
    if (!state.reachable) {
      req.socket.destroy();
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('keystone fixture proxy: upstream error');
    });
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    if (!state.reachable) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
      agent.destroy();
    });
  state.setReachable = (up: boolean) => {
    state.reachable = up;
    if (!up) for (const s of sockets) s.destroy();
  };
  return state;
}

// ---------------------------------------------------------------------------------------------------------

export interface StartOptions {
  /** [token] expiration in seconds (default 3600). Short values let tests watch tokens expire. */
  tokenExpirationSeconds?: number;
  /**
   * Serve each request on its own thread (default false: one at a time). For many concurrent clients, such as
   * tempest's workers creating projects and users while embervol validates their tokens.
   */
  threaded?: boolean;
}

export async function startKeystone(opts: StartOptions = {}): Promise<KeystoneFixture> {
  const skip = keystoneSkipReason();
  if (skip) throw new Error(skip);
  const tokenExpirationSeconds = opts.tokenExpirationSeconds ?? 3600;
  const dir = await mkdtemp(join(tmpdir(), 'embervol-keystone-'));
  let server: Server | undefined;
  let proxy: Proxy | undefined;
  try {
    const threaded = opts.threaded ?? false;
    const built = await buildState(dir, tokenExpirationSeconds, threaded);
    server = built.server;
    const layout = built.layout;
    const directUrl = `http://127.0.0.1:${server.port}/v3`;
    proxy = await startProxy(server.port, threaded ? 16 : 1);
    const authUrl = `http://127.0.0.1:${proxy.port}/v3`;
    const adminToken = async () => (await issueToken(directUrl, 'admin', layout.adminPassword, 'admin')).token;
    // The catalog's identity endpoint is the proxy, so clients that follow the catalog are counted too.
    await api(directUrl, await adminToken(), 'PATCH', `/endpoints/${layout.identityEndpointId}`, { endpoint: { url: authUrl } });

    const srv = server;
    const prx = proxy;
    let stopped = false;
    const onExit = () => srv.proc.kill('SIGKILL');
    process.once('exit', onExit);

    const fixture: KeystoneFixture = {
      authUrl,
      directUrl,
      dir,
      users: layout.users,
      projects: layout.projects,
      tokenExpirationSeconds,
      serviceCredentials: () => ({
        authUrl,
        username: 'embervol',
        password: layout.users.embervol.password,
        projectName: 'service',
        userDomainName: 'Default',
        projectDomainName: 'Default',
      }),
      async issue(user, o = {}) {
        const u = layout.users[user];
        const project = o.unscoped ? null : layout.projects[o.project ?? u.project].name;
        return issueToken(directUrl, u.name, u.password, project);
      },
      async token(user, o) {
        return (await fixture.issue(user, o)).token;
      },
      async revoke(token) {
        const res = await fetch(`${directUrl}/auth/tokens`, {
          method: 'DELETE',
          headers: { 'x-auth-token': await adminToken(), 'x-subject-token': token },
        });
        await res.text();
        if (res.status !== 204) throw new Error(`Keystone did not revoke the token: ${res.status}`);
      },
      async registerService(type, name, url) {
        const admin = await adminToken();
        const svc = (await api(directUrl, admin, 'POST', '/services', { service: { type, name, enabled: true } })).service;
        await api(directUrl, admin, 'POST', '/endpoints', {
          endpoint: { service_id: svc.id, interface: 'public', url, region_id: 'RegionOne', enabled: true },
        });
      },
      get requests() {
        return prx.records;
      },
      countRequests(filter = {}) {
        return prx.records.filter(
          (r) => (!filter.method || r.method === filter.method) && (!filter.path || r.path === filter.path),
        ).length;
      },
      resetRequests() {
        prx.records.length = 0;
      },
      setReachable(up) {
        prx.setReachable(up);
      },
      logs() {
        const read = (f: string) => {
          try {
            return readFileSync(join(dir, f), 'utf8');
          } catch {
            return '';
          }
        };
        return `--- keystone.log\n${read('keystone.log')}\n--- access.log\n${read('access.log')}`;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        await prx.close();
        await stopProcess(srv.proc);
        await rm(dir, { recursive: true, force: true });
      },
    };
    return fixture;
  } catch (err) {
    if (proxy) await proxy.close();
    if (server) await stopProcess(server.proc);
    const log = errorLines(dir);
    if (process.env.EMBERVOL_KEYSTONE_KEEP !== '1') await rm(dir, { recursive: true, force: true });
    if (err instanceof Error && log) err.message += `\n--- keystone.log (errors)\n${log}`;
    throw err;
  }
}
