// Assembles one embervol process: store -> volume host (backend + target) -> workflow -> HTTP.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.js';
import type { Config } from './config.js';
import { formatHostPort } from './util/ports.js';
import { openStore } from './store/index.js';
import { createWorkflow } from './workflow/index.js';
import { MESSAGE_REAP_INTERVAL_MS } from './workflow/message-record.js';
import { REPORT_INTERVAL_SECONDS } from './workflow/services.js';
import { buildApp } from './http/app.js';
import { installBusyPollMetrics, installCopyMethodMetric, installMetrics } from './http/metrics.js';
import { createKeystoneValidator } from './auth/keystone.js';
import { FileBackend } from './backends/file.js';
import { createVolumeHost } from './host/local-host.js';
import { localHostDirectory } from './host/directory.js';
import { createTargetDriver } from './targets/index.js';
import { timedHost } from './util/phase-timings.js';

export interface RunningService {
  /** Base URL of the API, e.g. http://127.0.0.1:8776 */
  url: string;
  stop(): Promise<void>;
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  mkdirSync(config.dataDir, { recursive: true });
  const volumesDir = join(config.dataDir, 'volumes');
  mkdirSync(volumesDir, { recursive: true });

  const leases = config.leases;
  const portal = formatHostPort(config.iscsiPortal.host, config.iscsiPortal.port);
  const store = await openStore({ url: config.database });
  const backend = new FileBackend(volumesDir);
  const target = createTargetDriver(config.target, {
    portal: config.iscsiPortal,
    iqnPrefix: config.iqnPrefix,
    logger,
    daemon: { manage: config.tgtManage, controlPort: config.tgtControlPort },
    busyPollMicroseconds: config.iscsiBusyPollMicroseconds,
  });
  const host = createVolumeHost({
    backend,
    target,
    logger,
    hostName: config.hostName,
    portals: [portal],
  });
  const stopped: (() => Promise<void>)[] = [];
  try {
    await host.start();
    stopped.push(() => host.stop());
    const workflow = createWorkflow({
      store,
      hosts: localHostDirectory(timedHost(host)),
      logger: logger.child({ component: 'workflow' }),
      availabilityZone: config.availabilityZone,
      leases,
    });
    // Before the API listens: finish host tasks a crash cut off, roll back expired leases, restore the export of
    // every volume with a live attachment, remove targets and files that have no row (workflow/reconciler.ts).
    await workflow.reconcile({ startup: true });
    stopped.push(() => workflow.drain());
    let pass: Promise<unknown> = Promise.resolve();
    const reconcileTimer = setInterval(() => {
      pass = workflow.reconcile().catch((err) => logger.error({ err }, 'reconcile pass failed'));
    }, leases.reconcileIntervalMs);
    reconcileTimer.unref();
    stopped.push(async () => {
      clearInterval(reconcileTimer);
      await pass;
    });
    // This process is a volume host and a scheduler: it registers both in the services table and heartbeats
    // them (Cinder's report_interval), so os-services shows them up until the process stops.
    await workflow.heartbeat();
    let beat: Promise<unknown> = Promise.resolve();
    const heartbeatTimer = setInterval(() => {
      beat = workflow.heartbeat().catch((err) => logger.error({ err }, 'service heartbeat failed'));
    }, REPORT_INTERVAL_SECONDS * 1000);
    heartbeatTimer.unref();
    stopped.push(async () => {
      clearInterval(heartbeatTimer);
      await beat;
    });
    // User messages past their guaranteed_until go, at start and then daily (Cinder's message_reap_interval).
    const reap = () => workflow.reapExpiredMessages().catch((err) => logger.error({ err }, 'message reaping failed'));
    await reap();
    const reapTimer = setInterval(reap, MESSAGE_REAP_INTERVAL_MS);
    reapTimer.unref();
    stopped.push(async () => clearInterval(reapTimer));
    const auth = config.keystone ? { keystone: createKeystoneValidator({ ...config.keystone, logger }) } : ('noauth' as const);
    if (auth !== 'noauth') stopped.push(async () => auth.keystone.close());
    const app = buildApp({ workflow, logger, auth });
    const registry = installMetrics(app);
    if (host.busyPollStats) installBusyPollMetrics(registry, host.busyPollStats);
    installCopyMethodMetric(registry, () => host.copyMethod());
    const address = await app.listen({ host: config.listen.host, port: config.listen.port });
    stopped.push(() => app.close());
    const url = address;
    logger.info({ url, target: config.target, dataDir: config.dataDir, portal }, 'embervol listening');
    return {
      url,
      async stop() {
        for (const s of stopped.reverse()) await s().catch((err) => logger.error({ err }, 'stop step failed'));
        await store.close();
      },
    };
  } catch (e) {
    for (const s of stopped.reverse()) await s().catch(() => undefined);
    await store.close();
    throw e;
  }
}
