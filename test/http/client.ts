// An inject-based client for the HTTP tests: real fastify routing, parsing and serialisation, no sockets.
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { makeEnv, type Env } from '../workflow/fixture.js';
import type { Logger } from '../../src/log.js';

export interface Res {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
  text: string;
}

export interface Api {
  env: Env;
  app: FastifyInstance;
  project: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  action(id: string, name: string, value?: unknown, headers?: Record<string, string>): Promise<Res>;
  create(extra?: Record<string, unknown>, headers?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export async function makeApi(opts: { real?: boolean; project?: string; cinderQuotas?: boolean; logger?: Logger } = {}): Promise<Api> {
  const env = await makeEnv({ real: opts.real, cinderQuotas: opts.cinderQuotas, logger: opts.logger });
  const app = buildApp({ workflow: env.workflow, logger: env.logger, auth: 'noauth' });
  await app.ready();
  const project = opts.project ?? '0a1b2c3d4e5f';
  const api: Api = {
    env,
    app,
    project,
    async call(method, path, body, headers = {}) {
      const url = path.startsWith('/') && !path.startsWith('/v3') && path !== '/' ? `/v3/${project}${path}` : path;
      const r = await app.inject({
        method: method as never,
        url,
        headers: {
          'x-auth-token': `tester:${project}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      let parsed: unknown;
      try {
        parsed = r.body ? JSON.parse(r.body) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: r.statusCode, headers: r.headers, body: parsed, text: r.body };
    },
    action(id, name, value = null, headers) {
      return api.call('POST', `/volumes/${id}/action`, { [name]: value }, headers);
    },
    async create(extra = {}, headers) {
      const r = await api.call('POST', '/volumes', { volume: { size: 1, ...extra } }, headers);
      if (r.status !== 202) throw new Error(`create: ${r.status} ${r.text}`);
      await env.workflow.drain();
      return r.body.volume.id as string;
    },
    async close() {
      await app.close();
      await env.close();
    },
  };
  return api;
}

export const fault = (status: number, name: string, message: string) => ({ [name]: { code: status, message } });
/** A Cinder QuotaError as the FaultWrapper middleware answers it: 413 overLimit, "<exception>: <message>", retryAfter "0". */
export const quotaFault = (exception: string, message: string) => ({ overLimit: { code: 413, message: `${exception}: ${message}`, retryAfter: '0' } });
