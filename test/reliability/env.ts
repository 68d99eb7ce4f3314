// In-process embervol for reliability tests: a real SQLite file, the file backend, the builtin iSCSI target
// listening on a free loopback port, the real volume host, the workflow with short leases, and optionally
// the HTTP app. Nothing is mocked: leases expire on the clock, exports are real targets.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openStore, type Store } from '../../src/store/index.js';
import { createWorkflow } from '../../src/workflow/index.js';
import type { Workflow } from '../../src/workflow/model.js';
import type { LeaseDurations } from '../../src/workflow/leases.js';
import { createVolumeHost } from '../../src/host/local-host.js';
import { localHostDirectory } from '../../src/host/directory.js';
import type { HostLifecycle, VolumeHost } from '../../src/host/types.js';
import { FileBackend } from '../../src/backends/file.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { buildApp } from '../../src/http/app.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';

export interface ReliabilityEnv {
  dir: TempDir;
  store: Store;
  backend: FileBackend;
  target: BuiltinTarget;
  host: VolumeHost & HostLifecycle;
  workflow: Workflow;
  logger: Logger;
  app?: FastifyInstance;
  /** Stops everything but keeps the directory (a "restart" opens a new env on it). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function makeReliabilityEnv(
  opts: { leases?: Partial<LeaseDurations>; http?: boolean; dir?: TempDir; logger?: Logger; timeouts?: { connectionMs?: number; requestMs?: number } } = {},
): Promise<ReliabilityEnv> {
  const dir = opts.dir ?? (await makeTempDir('embervol-rel-'));
  const logger = opts.logger ?? silentLogger();
  const store = await openStore({ url: join(dir.path, 'embervol.sqlite') });
  const backend = new FileBackend(join(dir.path, 'volumes'));
  const target = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger });
  await target.start();
  const host = createVolumeHost({ backend, target, logger, hostName: 'rel-host', portals: [target.portal] });
  const workflow = createWorkflow({ store, hosts: localHostDirectory(host), logger, leases: opts.leases });
  let app: FastifyInstance | undefined;
  if (opts.http) {
    app = buildApp({ workflow, logger, auth: 'noauth', timeouts: opts.timeouts });
    await app.ready();
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app?.close();
    await workflow.drain();
    await host.stop();
    await store.close();
  };
  return {
    dir,
    store,
    backend,
    target,
    host,
    workflow,
    logger,
    app,
    stop,
    async close() {
      await stop();
      if (!opts.dir) await dir.cleanup();
    },
  };
}
