// Service configuration: defaults < config file (JSON) < environment (EMBERVOL_*) < command-line flags.
// Every option has one name; the env var is EMBERVOL_ + the option in upper snake case.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_LEASES, type LeaseDurations } from './workflow/leases.js';
import { DEFAULT_BUSY_POLL_MICROSECONDS } from './iscsi/params.js';

export type TargetName = 'builtin' | 'tgt';
export type AuthMode = 'noauth' | 'keystone';
/** What one process runs (../shared/DESIGN.md "Scale-out"): everything, the Cinder API only, or a volume host only. */
export type Role = 'all' | 'api' | 'host';

export interface HostPort {
  host: string;
  port: number;
}

export interface Config {
  role: Role;
  dataDir: string;
  listen: HostPort;
  iscsiPortal: HostPort;
  target: TargetName;
  auth: AuthMode;
  /** SQLite file path (default <dataDir>/embervol.sqlite). */
  database: string;
  iqnPrefix: string;
  /** tgt only: start and supervise a private tgtd (true) or use a running one (false). */
  tgtManage: boolean;
  /** tgt only: tgtd control port (socket /var/run/tgtd/socket.N); a private tgtd must not share it with the system one. */
  tgtControlPort: number;
  /** builtin only: longest busy-poll window after iSCSI input, in microseconds; 0 turns polling off. */
  iscsiBusyPollMicroseconds: number;
  hostName: string;
  availabilityZone: string;
  logLevel: string;
  /** --auth keystone: where to validate tokens, and embervol's own service account there. */
  keystone: KeystoneConfig | null;
  /** Deadlines of interim states and how often the reconciler looks for expired ones. */
  leases: LeaseDurations;
  /** Where this process serves its volume host's internal RPC (role host; optional with role all), or null. */
  rpcListen: HostPort | null;
  /** The shared secret of the internal RPC (env or config file only, never a flag); null when unused. */
  rpcSecret: string | null;
  /** How often services heartbeat, and after how long without one a service is down (Cinder's report_interval, service_down_time). */
  reportIntervalMs: number;
  serviceDownMs: number;
}

export interface KeystoneConfig {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
}

export const TARGETS: readonly TargetName[] = ['builtin', 'tgt'];
export const AUTH_MODES: readonly AuthMode[] = ['noauth', 'keystone'];
export const ROLES: readonly Role[] = ['all', 'api', 'host'];

/** The raw option values as strings, whichever source they came from. */
export type OptionName = Exclude<keyof Config, 'keystone' | 'leases' | 'reportIntervalMs' | 'serviceDownMs'> | KeystoneOption | LeaseOption | ServiceTimingOption;
type ServiceTimingOption = 'reportIntervalSeconds' | 'serviceDownSeconds';
type LeaseOption = 'leaseAttachingSeconds' | 'leaseReservedSeconds' | 'leaseDetachingSeconds' | 'leaseTaskSeconds' | 'reconcileIntervalSeconds';
type KeystoneOption = 'keystoneAuthUrl' | 'keystoneUsername' | 'keystonePassword' | 'keystoneProjectName' | 'keystoneUserDomainName' | 'keystoneProjectDomainName';
export type RawOptions = Partial<Record<OptionName, string | number | boolean>>;

export const optionHelp: Record<OptionName, string> = {
  role: `what this process runs: all (API, scheduler and a volume host, one process) | api (the Cinder v3 API only; any number, sharing one database) | host (a volume host only: backend, target and reconciler for its own volumes, served to API processes over --rpc-listen) (default all)`,
  rpcListen: 'HOST:PORT of the internal RPC a volume host serves to API processes (needed with --role host); callers prove the shared secret of EMBERVOL_RPC_SECRET (or rpcSecret in the config file)',
  rpcSecret: 'shared secret of the internal RPC between API processes and volume hosts; env or config file only',
  reportIntervalSeconds: 'seconds between two heartbeats of this process in the services table (default 10)',
  serviceDownSeconds: 'a service whose last heartbeat is older than this many seconds is shown down and gets no new volumes (default 60)',
  dataDir: 'directory for volume files and the SQLite database (default ~/.local/share/embervol)',
  listen: 'HOST:PORT of the Cinder v3 API (default 127.0.0.1:8776)',
  iscsiPortal: 'HOST:PORT of the iSCSI portal that initiators connect to (default 127.0.0.1:3260)',
  target: `iSCSI target: ${TARGETS.join(' | ')} (default builtin)`,
  auth: 'authentication: noauth (X-Auth-Token "user:project"; see README) | keystone (needs the keystone* options)',
  database: 'database URL: postgres://USER@HOST:PORT/DB[?pool_size=N], sqlite:PATH or a SQLite file path (default <data-dir>/embervol.sqlite)',
  iqnPrefix: 'prefix of target IQNs (default iqn.2010-10.org.openstack:)',
  tgtManage: 'tgt target: start and supervise a private tgtd (default true)',
  tgtControlPort: 'tgt target: tgtd control port (default 3261 for a private tgtd)',
  iscsiBusyPollMicroseconds:
    `builtin target: longest time the event loop keeps polling for the next iSCSI command instead of sleeping; it adapts below this and costs CPU only while I/O flows; 0 turns it off (default ${DEFAULT_BUSY_POLL_MICROSECONDS})`,
  hostName: 'name of this volume host; os-vol-host-attr:host shows it as <name>@file#file (default embervol)',
  availabilityZone: 'availability zone reported on volumes (default nova)',
  logLevel: 'log level: fatal|error|warn|info|debug|trace (default info)',
  keystoneAuthUrl: 'keystone: identity v3 URL, e.g. http://keystone:5000/v3',
  keystoneUsername: "keystone: embervol's service user (validates tokens)",
  keystonePassword: 'keystone: its password (prefer the env var or the config file to a flag)',
  keystoneProjectName: 'keystone: its project (default service)',
  keystoneUserDomainName: 'keystone: user domain (default Default)',
  keystoneProjectDomainName: 'keystone: project domain (default Default)',
  leaseAttachingSeconds: `seconds a volume may stay attaching (os-reserve, or an attachment not completed) before it is rolled back (default ${DEFAULT_LEASES.attachingMs / 1000})`,
  leaseReservedSeconds: `seconds an attachment may stay reserved without a connector before it is deleted (default ${DEFAULT_LEASES.reservedMs / 1000})`,
  leaseDetachingSeconds: `seconds a volume may stay detaching before os-roll_detaching is applied (default ${DEFAULT_LEASES.detachingMs / 1000})`,
  leaseTaskSeconds: `seconds a create, extend or delete may run before the reconciler finishes it (default ${DEFAULT_LEASES.taskMs / 1000})`,
  reconcileIntervalSeconds: `how often the reconciler runs (default ${DEFAULT_LEASES.reconcileIntervalMs / 1000})`,
};

export class ConfigError extends Error {}

export function parseHostPort(value: string, what: string): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(value) ?? /^([^:\s]+):(\d+)$/.exec(value);
  if (!m) throw new ConfigError(`${what} must be HOST:PORT (IPv6 as [ADDR]:PORT), got "${value}"`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${what} port must be 0-65535, got "${m[2]}"`);
  return { host: m[1], port };
}

function envName(key: string): string {
  return 'EMBERVOL_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function fromEnv(env: NodeJS.ProcessEnv): RawOptions {
  const out: RawOptions = {};
  for (const key of Object.keys(optionHelp) as OptionName[]) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

function fromFile(path: string): RawOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object of options`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in optionHelp)) throw new ConfigError(`config file ${path}: unknown option "${key}" (known: ${Object.keys(optionHelp).join(', ')})`);
  }
  return parsed as RawOptions;
}

function asBool(v: string | number | boolean, what: string): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(`${what} must be true or false, got "${v}"`);
}

function asWhole(v: string | number | boolean, what: string, min: number, max: number): number {
  const n = Number(v);
  if (typeof v === 'boolean' || v === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${what} must be a whole number ${min}-${max}, got "${v}"`);
  }
  return n;
}

/** Seconds (fractions allowed, at most a week) to milliseconds. */
function asMs(v: string | number | boolean | undefined, dfltMs: number, what: string): number {
  if (v === undefined) return dfltMs;
  const n = Number(v);
  if (typeof v === 'boolean' || !Number.isFinite(n) || n <= 0 || n > 7 * 24 * 3600) {
    throw new ConfigError(`${what} must be a number of seconds above 0 and at most a week, got "${v}"`);
  }
  return Math.round(n * 1000);
}

function oneOf<T extends string>(v: string | number | boolean, allowed: readonly T[], what: string): T {
  const s = String(v) as T;
  if (!allowed.includes(s)) throw new ConfigError(`${what} must be one of ${allowed.join(', ')}, got "${v}"`);
  return s;
}

function keystoneConfig(raw: RawOptions): KeystoneConfig {
  const missing = (['keystoneAuthUrl', 'keystoneUsername', 'keystonePassword'] as const).filter((k) => raw[k] === undefined || raw[k] === '');
  if (missing.length) {
    throw new ConfigError(`--auth keystone needs ${missing.map((k) => envName(k)).join(', ')} (or the matching flags / config keys)`);
  }
  return {
    authUrl: String(raw.keystoneAuthUrl),
    username: String(raw.keystoneUsername),
    password: String(raw.keystonePassword),
    projectName: String(raw.keystoneProjectName ?? 'service'),
    userDomainName: String(raw.keystoneUserDomainName ?? 'Default'),
    projectDomainName: String(raw.keystoneProjectDomainName ?? 'Default'),
  };
}

/** Merge the sources and validate; throws ConfigError with a message that says what to fix. */
export function loadConfig(flags: RawOptions, opts: { configFile?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.configFile ?? env.EMBERVOL_CONFIG;
  const raw: RawOptions = { ...(file ? fromFile(file) : {}), ...fromEnv(env), ...flags };
  const dataDir = resolve(String(raw.dataDir ?? join(homedir(), '.local', 'share', 'embervol')));
  const auth = oneOf(raw.auth ?? 'noauth', AUTH_MODES, 'auth');
  const role = oneOf(raw.role ?? 'all', ROLES, 'role');
  const rpcListen = raw.rpcListen !== undefined && raw.rpcListen !== '' ? parseHostPort(String(raw.rpcListen), 'rpc-listen') : null;
  const rpcSecret = raw.rpcSecret !== undefined && raw.rpcSecret !== '' ? String(raw.rpcSecret) : null;
  if (role === 'host' && rpcListen === null) throw new ConfigError('--role host needs --rpc-listen HOST:PORT (where API processes reach it)');
  if (rpcSecret === null && (role !== 'all' || rpcListen !== null)) {
    throw new ConfigError(`--role ${role}${rpcListen ? ' with --rpc-listen' : ''} needs the internal RPC secret: set EMBERVOL_RPC_SECRET (or rpcSecret in the config file)`);
  }
  if (rpcSecret !== null && rpcSecret.length < 16) throw new ConfigError('the internal RPC secret (EMBERVOL_RPC_SECRET) must be at least 16 characters');
  const reportIntervalMs = asMs(raw.reportIntervalSeconds, 10_000, 'report-interval-seconds');
  const serviceDownMs = asMs(raw.serviceDownSeconds, 60_000, 'service-down-seconds');
  if (serviceDownMs <= reportIntervalMs) throw new ConfigError('service-down-seconds must be longer than report-interval-seconds, or live services would show down');
  return {
    role,
    rpcListen,
    rpcSecret,
    reportIntervalMs,
    serviceDownMs,
    dataDir,
    listen: parseHostPort(String(raw.listen ?? '127.0.0.1:8776'), 'listen'),
    iscsiPortal: parseHostPort(String(raw.iscsiPortal ?? '127.0.0.1:3260'), 'iscsi-portal'),
    target: oneOf(raw.target ?? 'builtin', TARGETS, 'target'),
    auth,
    // A URL (postgres://..., sqlite:PATH) or a path; the store parses it (store/index.ts openStore).
    database: raw.database !== undefined ? String(raw.database) : join(dataDir, 'embervol.sqlite'),
    iqnPrefix: String(raw.iqnPrefix ?? 'iqn.2010-10.org.openstack:'),
    tgtManage: asBool(raw.tgtManage ?? true, 'tgt-manage'),
    tgtControlPort: asWhole(raw.tgtControlPort ?? 3261, 'tgt-control-port', 1, 32767),
    iscsiBusyPollMicroseconds: asWhole(raw.iscsiBusyPollMicroseconds ?? DEFAULT_BUSY_POLL_MICROSECONDS, 'iscsi-busy-poll-microseconds', 0, 1_000_000),
    hostName: String(raw.hostName ?? 'embervol'),
    availabilityZone: String(raw.availabilityZone ?? 'nova'),
    logLevel: oneOf(raw.logLevel ?? 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'log-level'),
    keystone: auth === 'keystone' ? keystoneConfig(raw) : null,
    leases: {
      attachingMs: asMs(raw.leaseAttachingSeconds, DEFAULT_LEASES.attachingMs, 'lease-attaching-seconds'),
      reservedMs: asMs(raw.leaseReservedSeconds, DEFAULT_LEASES.reservedMs, 'lease-reserved-seconds'),
      detachingMs: asMs(raw.leaseDetachingSeconds, DEFAULT_LEASES.detachingMs, 'lease-detaching-seconds'),
      taskMs: asMs(raw.leaseTaskSeconds, DEFAULT_LEASES.taskMs, 'lease-task-seconds'),
      reconcileIntervalMs: asMs(raw.reconcileIntervalSeconds, DEFAULT_LEASES.reconcileIntervalMs, 'reconcile-interval-seconds'),
    },
  };
}

export { envName };
