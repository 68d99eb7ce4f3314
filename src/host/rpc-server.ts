// A volume host's RPC endpoint (`embervol serve --role host --rpc-listen`): serves the host's VolumeHost to API
// processes (rpc-protocol.ts). A call without a valid signature is refused with 401 before anything runs.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { VolumeHost } from './types.js';
import { RPC_METHODS, SIGNATURE_HEADER, encodeError, verifyRequest, type RpcMethod } from './rpc-protocol.js';

export interface RpcServerOptions {
  host: VolumeHost;
  secret: string;
  logger: Logger;
  /** Calls wait for it (the host's startup reconciliation), while the port is already known. */
  ready?: Promise<void>;
}

export interface RpcServer {
  /** "HOST:PORT" it listens on (the port the system gave for port 0). */
  listen(address: { host: string; port: number }): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
  readonly app: FastifyInstance;
}

const methods = new Set<string>(RPC_METHODS);

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const log = opts.logger.child({ component: 'rpc-server', host: opts.host.hostName });
  // Request bodies (connect carries CHAP credentials) are never logged: fastify's own logger stays off.
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.post<{ Params: { method: string }; Body: string }>('/rpc/:method', async (req, reply) => {
    const { method } = req.params;
    const raw = typeof req.body === 'string' ? req.body : '';
    const header = req.headers[SIGNATURE_HEADER];
    if (!verifyRequest(opts.secret, method, raw, typeof header === 'string' ? header : undefined)) {
      log.warn({ method, remote: req.ip }, 'RPC call refused: missing or bad signature');
      return reply.code(401).send({ error: { kind: 'invalid', message: 'RPC call not authenticated' } });
    }
    if (!methods.has(method)) return reply.code(404).send({ error: { kind: 'invalid', message: `no RPC method ${method}` } });
    let args: unknown[];
    try {
      const parsed = JSON.parse(raw) as { args?: unknown };
      if (!Array.isArray(parsed.args)) throw new Error('args must be an array');
      args = parsed.args;
    } catch (err) {
      return reply.code(400).send({ error: { kind: 'invalid', message: `bad RPC body: ${(err as Error).message}` } });
    }
    try {
      await opts.ready;
      const fn = opts.host[method as RpcMethod] as (...a: unknown[]) => Promise<unknown>;
      const result = await fn.apply(opts.host, args);
      return reply.code(200).send({ result: result ?? null });
    } catch (err) {
      log.error({ err, method }, 'RPC call failed');
      return reply.code(500).send(encodeError(err));
    }
  });

  return {
    app,
    async listen(address) {
      await app.listen({ host: address.host, port: address.port });
      const a = app.server.address();
      const port = a && typeof a === 'object' ? a.port : address.port;
      return { host: address.host, port };
    },
    async close() {
      await app.close();
    },
  };
}
