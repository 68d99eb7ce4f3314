// The fault harness's multi-process mode (fault-harness.ts, --processes): the same clients and invariants against a
// multi-host deployment (test/interop/multi-host-cluster.ts: two API processes and two volume hosts on a private
// PostgreSQL), where each kill takes down one process chosen at random, an API process or a volume host, with
// SIGKILL, and starts it again. Clients reach the API processes through a small front that spreads their requests
// over them, as a load balancer would; a request cut off by a killed API process loses its connection.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../interop/multi-host-cluster.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import type { FaultDeployment } from './fault-harness.js';

const HOSTS = ['fault-host-a', 'fault-host-b'];
const API_PROCESSES = 2;

export async function clusterDeployment(env: NodeJS.ProcessEnv): Promise<FaultDeployment> {
  const root = mkdtempSync(join(tmpdir(), 'embervol-fault-cluster-'));
  let pg: PostgresCluster | undefined;
  let cluster: Cluster | undefined;
  let front: Server | undefined;
  try {
    pg = await startPostgres();
    cluster = await startCluster({ database: await pg.createDatabase(), root, hostNames: HOSTS, apiCount: API_PROCESSES, env });
    const c = cluster;
    let next = 0;
    front = createServer((req, res) => {
      const target = new URL(c.apis[next++ % c.apis.length]!.url);
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      });
      // The API process died (or was dead): the client sees its connection drop, as behind a load balancer that
      // does not retry non-idempotent requests.
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => front!.listen(0, '127.0.0.1', resolve));
    const address = front.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const f = front;
    const p = pg;
    return {
      url: `http://127.0.0.1:${port}`,
      portals: () => c.hosts.map((h) => `127.0.0.1:${h.iscsiPort}`),
      volumesDirs: () => c.hosts.map((h) => join(h.dataDir, 'volumes')),
      async killAndRestart(rand) {
        const victims = [...c.hosts.map((h) => ({ name: h.name, kind: 'host' as const, i: 0, h })), ...c.apis.map((_, i) => ({ name: `api-${i}`, kind: 'api' as const, i, h: null }))];
        const v = victims[Math.floor(rand() * victims.length)]!;
        if (v.h) {
          await v.h.proc.kill9();
          await c.restartHost(v.h);
        } else {
          await c.apis[v.i]!.kill9();
          await c.restartApi(v.i);
        }
        return v.name;
      },
      async stop() {
        await new Promise<void>((resolve) => f.close(() => resolve()));
        await c.stop();
        await p.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (e) {
    front?.close();
    await cluster?.stop();
    await pg?.stop();
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
