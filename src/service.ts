// Assembles one embervol process: store -> volume host (backend + target) -> workflow -> HTTP. The role decides
// which parts run (../shared/DESIGN.md "Scale-out"): all of them, the API only (hosts reached over RPC), or the
// volume host only (its reconciler, its heartbeat and its RPC endpoint).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.js';
import type { Config } from './config.js';
import { formatHostPort } from './util/ports.js';
import { openStore } from './store/index.js';
import { createWorkflow } from './workflow/index.js';
import { MESSAGE_REAP_INTERVAL_MS } from './workflow/message-record.js';
import { buildApp } from './http/app.js';
import { installBusyPollMetrics, installCopyMethodMetric, installMetrics } from './http/metrics.js';
import { createKeystoneValidator } from './auth/keystone.js';
import { FileBackend } from './backends/file.js';
import { createVolumeHost } from './host/local-host.js';
import { remoteHostDirectory } from './host/directory.js';
import { createRpcServer } from './host/rpc-server.js';
import * as services from './store/services.js';
import { createTargetDriver } from './targets/index.js';
import { timedHost } from './util/phase-timings.js';

export interface RunningService {
  /** Base URL of the API, e.g. http://127.0.0.1:8776 */
  url: string;
  stop(): Promise<void>;
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const runsHost = config.role !== 'api';
  const runsApi = config.role !== 'host';
  mkdirSync(config.dataDir, { recursive: true });
  const leases = config.leases;
  const portal = formatHostPort(config.iscsiPortal.host, config.iscsiPortal.port);
  const store = await openStore({ url: config.database });
  const stopped: (() => Promise<void>)[] = [];
  const every = (ms: number, fn: () => Promise<unknown>, what: string) => {
    let run: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      run = fn().catch((err) => logger.error({ err }, `${what} failed`));
    }, ms);
    timer.unref();
    stopped.push(async () => {
      clearInterval(timer);
      await run;
    });
  };
  try {
    const host = runsHost ? createLocalHost(config, logger, portal) : null;
    if (host) {
      await host.start();
      stopped.push(() => host.stop());
    }
    // Volumes of other hosts are reached over their RPC endpoint, at the address they registered in the services table.
    const hosts = remoteHostDirectory({
      local: host ? timedHost(host) : null,
      secret: config.rpcSecret,
      lookup: (name) => services.volumeServiceAddress(store.db, name),
      cacheMs: config.reportIntervalMs,
    });
    // The RPC endpoint listens first (its port is what the host registers) but holds calls until the startup pass is done.
    let open = () => {};
    const ready = new Promise<void>((resolve) => (open = resolve));
    const rpc = host && config.rpcListen ? createRpcServer({ host, secret: config.rpcSecret!, logger, ready }) : null;
    let rpcAddress: string | null = null;
    if (rpc) {
      const bound = await rpc.listen(config.rpcListen!);
      stopped.push(() => rpc.close());
      // A wildcard listen address is no address to call: API processes reach the host where initiators do.
      const wildcard = ['0.0.0.0', '::', ''].includes(bound.host);
      rpcAddress = formatHostPort(wildcard ? config.iscsiPortal.host : bound.host, bound.port);
    }
    const workflow = createWorkflow({
      store,
      hosts,
      logger: logger.child({ component: 'workflow' }),
      availabilityZone: config.availabilityZone,
      leases,
      serviceTiming: { reportIntervalMs: config.reportIntervalMs, downAfterMs: config.serviceDownMs },
      registration: { name: config.hostName, scheduler: runsApi, rpcAddress },
    });
    stopped.push(() => workflow.drain());
    if (host) {
      // Before anyone can reach this host: finish host tasks a crash cut off, roll back expired leases, restore the export
      // of every volume with a live attachment, remove targets and files that have no row (workflow/reconciler.ts).
      await workflow.reconcile({ startup: true });
      every(leases.reconcileIntervalMs, () => workflow.reconcile(), 'reconcile pass');
    }
    open();
    // Registers this process's services (its volume host with its RPC address, its scheduler) and heartbeats them
    // (Cinder's report_interval), so os-services shows them up until the process stops.
    await workflow.heartbeat();
    every(config.reportIntervalMs, () => workflow.heartbeat(), 'service heartbeat');
    if (!runsApi) {
      const url = `http://${rpcAddress}`;
      logger.info({ url, role: config.role, host: config.hostName, dataDir: config.dataDir, portal }, 'embervol listening');
      return { url, stop: stopAll };
    }
    // The hosts that stopped heartbeating run no reconciler: the API processes expire their leases.
    every(leases.reconcileIntervalMs, () => workflow.expireLeasesOfDownHosts(), 'lease expiry of down hosts');
    // User messages past their guaranteed_until go, at start and then daily (Cinder's message_reap_interval).
    const reap = () => workflow.reapExpiredMessages();
    await reap().catch((err) => logger.error({ err }, 'message reaping failed'));
    every(MESSAGE_REAP_INTERVAL_MS, reap, 'message reaping');
    const auth = config.keystone ? { keystone: createKeystoneValidator({ ...config.keystone, logger }) } : ('noauth' as const);
    if (auth !== 'noauth') stopped.push(async () => auth.keystone.close());
    const app = buildApp({ workflow, logger, auth });
    const registry = installMetrics(app);
    if (host?.busyPollStats) installBusyPollMetrics(registry, host.busyPollStats);
    if (host) installCopyMethodMetric(registry, () => host.copyMethod());
    const url = await app.listen({ host: config.listen.host, port: config.listen.port });
    stopped.push(() => app.close());
    logger.info({ url, role: config.role, target: config.target, dataDir: config.dataDir, portal }, 'embervol listening');
    return { url, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }

  async function stopAll(): Promise<void> {
    for (const s of stopped.reverse()) await s().catch((err) => logger.error({ err }, 'stop step failed'));
    stopped.length = 0;
    await store.close();
  }
}

/** The volume host this process runs: file backend under <data-dir>/volumes, and the configured iSCSI target. */
function createLocalHost(config: Config, logger: Logger, portal: string) {
  const volumesDir = join(config.dataDir, 'volumes');
  mkdirSync(volumesDir, { recursive: true });
  const target = createTargetDriver(config.target, {
    portal: config.iscsiPortal,
    iqnPrefix: config.iqnPrefix,
    logger,
    daemon: { manage: config.tgtManage, controlPort: config.tgtControlPort },
    busyPollMicroseconds: config.iscsiBusyPollMicroseconds,
  });
  return createVolumeHost({ backend: new FileBackend(volumesDir), target, logger, hostName: config.hostName, portals: [portal] });
}
