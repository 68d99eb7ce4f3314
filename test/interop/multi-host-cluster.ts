// A multi-host deployment on one machine, as README "Multi-host deployment" describes it: volume hosts
// (`embervol serve --role host`, each with its own data dir, iSCSI portal and RPC port on loopback) and API
// processes (`--role api`), all on one shared database, every one a real child process. Heartbeats are fast so
// that a killed host shows down quickly; the shared RPC secret travels in the environment, never in argv.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findFreePort } from '../../src/util/ports.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

export const REPORT_INTERVAL_SECONDS = 1;
export const SERVICE_DOWN_SECONDS = 4;

export interface HostProcess {
  name: string;
  dataDir: string;
  iscsiPort: number;
  proc: ServiceProcess;
}

export interface Cluster {
  hosts: HostProcess[];
  apis: ServiceProcess[];
  /** Starts a host again after it was killed or stopped: same name, data dir and portal. */
  restartHost(host: HostProcess): Promise<void>;
  /** Starts an API process again in the place of apis[i]. */
  restartApi(i: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Database URL every process shares. */
  database: string;
  /** Where the hosts' data dirs go. */
  root: string;
  hostNames: string[];
  apiCount: number;
  /** More serve options for every process (leases, reconcile interval). */
  extraArgs?: string[];
  /** More environment for every process (EMBERVOL_* options). */
  env?: NodeJS.ProcessEnv;
  /** Run the processes from another checkout (a benchmark's before/after). */
  repoRoot?: string;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const env = { ...opts.env, EMBERVOL_RPC_SECRET: randomBytes(24).toString('hex') };
  const common = [
    '--database', opts.database,
    '--report-interval-seconds', String(REPORT_INTERVAL_SECONDS),
    '--service-down-seconds', String(SERVICE_DOWN_SECONDS),
    ...(opts.extraArgs ?? []),
  ];
  const startHost = (h: Omit<HostProcess, 'proc'>) =>
    startServiceProcess({
      target: 'builtin',
      dataDir: h.dataDir,
      iscsiPort: h.iscsiPort,
      env,
      repoRoot: opts.repoRoot,
      extraArgs: ['--role', 'host', '--host-name', h.name, '--rpc-listen', '127.0.0.1:0', ...common],
    });
  const startApi = (i: number) => {
    const dataDir = join(opts.root, `api-${i}`);
    mkdirSync(dataDir, { recursive: true });
    return startServiceProcess({ target: 'builtin', dataDir, env, repoRoot: opts.repoRoot, extraArgs: ['--role', 'api', '--host-name', `api-${i}`, ...common] });
  };
  const hosts: HostProcess[] = [];
  const apis: ServiceProcess[] = [];
  const cluster: Cluster = {
    hosts,
    apis,
    async restartHost(host) {
      host.proc = await startHost(host);
    },
    async restartApi(i) {
      apis[i] = await startApi(i);
    },
    async stop() {
      await Promise.all([...apis.map((a) => a.stop()), ...hosts.map((h) => h.proc.stop())]);
    },
  };
  try {
    // The first process migrates the database; the others find it current.
    for (const name of opts.hostNames) {
      const dataDir = join(opts.root, name);
      mkdirSync(dataDir, { recursive: true });
      const h = { name, dataDir, iscsiPort: await findFreePort() };
      hosts.push({ ...h, proc: await startHost(h) });
    }
    for (let i = 0; i < opts.apiCount; i++) apis.push(await startApi(i));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
