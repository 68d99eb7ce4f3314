// The Cinder v3 HTTP API as a fastify instance (not listening; the caller does that).
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CinderFault } from '../errors.js';
import type { Logger } from '../log.js';
import type { Workflow } from '../workflow/model.js';
import { AuthHandshake, noauthContext } from './auth.js';
import { AuthError, type KeystoneValidator } from '../auth/keystone.js';
import { keystoneContext, sendAuthError } from './keystone-auth.js';
import type { RequestContext } from '../workflow/context.js';
import './context.js';
import { installFaultHandlers } from './faults.js';
import { formatVersion, negotiateVersion, VERSION_HEADER } from './microversion.js';
import { registerActionRoutes } from './routes/actions.js';
import { registerEventRoutes } from './routes/events.js';
import { registerAttachmentRoutes } from './routes/attachments.js';
import { requestOrigin } from './routes/listing.js';
import { registerTypeRoutes } from './routes/types.js';
import { registerTypeAccessRoutes } from './routes/type-access.js';
import { registerEncryptionTypeRoutes } from './routes/encryption-types.js';
import { registerServiceRoutes } from './routes/services.js';
import { registerVolumeRoutes } from './routes/volumes.js';
import { registerSnapshotRoutes } from './routes/snapshots.js';
import { registerGroupTypeRoutes } from './routes/group-types.js';
import { registerGroupRoutes } from './routes/groups.js';
import { registerQosSpecsRoutes } from './routes/qos-specs.js';
import { registerQuotaRoutes } from './routes/quotas.js';
import { registerTransferRoutes } from './routes/transfers.js';
import { registerVolumeMetadataRoutes } from './routes/volume-metadata.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerDiscoveryRoutes } from './routes/discovery.js';
import { cinderValidatorCompiler } from './validation.js';
import { versionEntry } from './views/versions.js';
import { runTimed, timingsEnabled, type PhaseTimings } from '../util/phase-timings.js';

/**
 * A client that stalls cannot hold a connection forever: an idle socket is closed after CONNECTION_TIMEOUT_MS,
 * and a request whose headers and body have not all arrived after REQUEST_TIMEOUT_MS is answered 408 and closed.
 */
export const CONNECTION_TIMEOUT_MS = 60_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/** Cinder's osapi_max_request_body_size default: larger bodies are refused before they are parsed. */
export const MAX_BODY_BYTES = 114688;

const JSON_TYPES = ['application/json', 'application/vnd.openstack.volume+json'];

declare module 'fastify' {
  interface FastifyRequest {
    /** "volume 3.x" once negotiated, echoed on every v3 response including faults. */
    apiVersionHeader?: string;
  }
}

export interface AppDeps {
  workflow: Workflow;
  logger: Logger;
  /** 'noauth' (Cinder's NoAuthMiddleware rules, see auth.ts) or a Keystone token validator. */
  auth: 'noauth' | { keystone: KeystoneValidator };
  /** HTTP timeouts (defaults CONNECTION_TIMEOUT_MS / REQUEST_TIMEOUT_MS); tests use short ones. */
  timeouts?: { connectionMs?: number; requestMs?: number };
}

/**
 * EMBERVOL_DEBUG_TIMINGS=1 (util/phase-timings.ts): one "timings" line per request, from the first hook to the
 * response sent, with the SQL, commit and volume-host time spent in between. The accumulator rides the request's
 * async context, so everything the handler awaits is counted.
 */
function installTimings(app: FastifyInstance, log: Logger): void {
  const started = new WeakMap<FastifyRequest, { t0: number; t: PhaseTimings }>();
  app.addHook('onRequest', (request, _reply, done) => {
    const t0 = performance.now();
    started.set(request, { t0, t: runTimed(done) });
  });
  app.addHook('onResponse', async (request, reply) => {
    const s = started.get(request);
    if (!s) return;
    const r2 = (v: number) => Math.round(v * 100) / 100;
    const t = s.t;
    log.info(
      {
        url: request.url,
        method: request.method,
        // The action of POST .../action, so a line says which call it measured.
        action: request.body && typeof request.body === 'object' ? Object.keys(request.body)[0] : undefined,
        status: reply.statusCode,
        ms: r2(performance.now() - s.t0),
        sqlCount: t.sqlCount,
        sqlMs: r2(t.sqlMs),
        commits: t.commits,
        commitMs: r2(t.commitMs),
        prepares: t.prepares,
        prepareMs: r2(t.prepareMs),
        hostCalls: t.hostCalls,
        hostMs: r2(t.hostMs),
      },
      'timings',
    );
  });
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.logger.child({ component: 'http' });
  // pino's Logger and fastify's logger type differ only in generics; the instance is the same pino.
  const app = Fastify({
    loggerInstance: log,
    // One line per request comes from our onResponse hook (with the request id clients see).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // Extra spec keys may be 255 characters; anything longer in a path segment cannot name a resource.
    routerOptions: { maxParamLength: 1024 },
    // Errors the router raises before any handler (bad percent-encoding, an overlong segment) leave as Cinder faults too.
    frameworkErrors: (err, _request, reply) => {
      const f = err.code === 'FST_ERR_BAD_URL' ? new CinderFault(400, 'Malformed request url') : new CinderFault(404, 'The resource could not be found.');
      void (reply as unknown as FastifyReply).code(f.status).type('application/json').send(f.body());
    },
    connectionTimeout: deps.timeouts?.connectionMs ?? CONNECTION_TIMEOUT_MS,
    requestTimeout: deps.timeouts?.requestMs ?? REQUEST_TIMEOUT_MS,
    genReqId: () => `req-${randomUUID()}`,
    // Inbound X-OpenStack-Request-Id is Nova's global id; it is not ours to echo (docs/cinder-compatibility.md#request-ids).
    requestIdHeader: false,
  }) as unknown as FastifyInstance;
  app.decorateRequest('ctx', null as unknown as RequestContext);
  app.setValidatorCompiler(cinderValidatorCompiler);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    // An empty JSON body reads as {} so the client hears which key is missing, not a type error.
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new CinderFault(400, 'Malformed request body'), undefined);
    }
  });

  installFaultHandlers(app, log);

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-openstack-request-id', request.id);
    if (request.url === '/v3' || request.url.startsWith('/v3/')) {
      reply.header('x-compute-request-id', request.id);
      if (request.apiVersionHeader) reply.header('OpenStack-API-Version', request.apiVersionHeader);
      reply.header('Vary', 'OpenStack-API-Version');
    }
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    log.info({ reqId: request.id, method: request.method, url: request.url, status: reply.statusCode }, 'request');
  });
  if (timingsEnabled) installTimings(app, log);

  app.get('/', async (request, reply) => reply.code(300).send({ versions: [versionEntry(requestOrigin(request))] }));
  // Absolute, as webob sends it: keystoneauth's discovery does not resolve a relative Location.
  app.get('/v3', async (request, reply) => reply.redirect(`${requestOrigin(request)}/v3/`, 302));
  app.get('/v3/', async (request) => ({ versions: [versionEntry(requestOrigin(request))] }));

  const v3 = async (scope: FastifyInstance) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const version = negotiateVersion(request.headers[VERSION_HEADER]);
      request.apiVersionHeader = `volume ${formatVersion(version)}`;
      const urlProject = (request.params as { project_id?: string } | undefined)?.project_id;
      const auth = deps.auth;
      if (auth !== 'noauth') {
        try {
          request.ctx = await keystoneContext(auth.keystone, { requestId: request.id, headers: request.headers, urlProject, version });
        } catch (e) {
          if (e instanceof AuthError) return sendAuthError(reply, e);
          throw e;
        }
        return;
      }
      const ctx = noauthContext({ requestId: request.id, headers: request.headers, urlProject, version });
      if (ctx instanceof AuthHandshake) {
        return reply
          .code(204)
          .header('X-Auth-Token', ctx.token)
          .header('X-Server-Management-Url', `${requestOrigin(request)}/v3/${ctx.token.split(':')[1]}`)
          .send();
      }
      request.ctx = ctx;
    });
    registerVolumeRoutes(scope, deps.workflow);
    registerActionRoutes(scope, deps.workflow);
    registerTypeRoutes(scope, deps.workflow);
    registerTypeAccessRoutes(scope, deps.workflow);
    registerEncryptionTypeRoutes(scope, deps.workflow);
    registerServiceRoutes(scope, deps.workflow);
    registerEventRoutes(scope, deps.workflow);
    registerAttachmentRoutes(scope, deps.workflow);
    registerSnapshotRoutes(scope, deps.workflow);
    registerGroupTypeRoutes(scope, deps.workflow);
    registerGroupRoutes(scope, deps.workflow);
    registerQosSpecsRoutes(scope, deps.workflow);
    registerQuotaRoutes(scope, deps.workflow);
    registerTransferRoutes(scope, deps.workflow);
    registerVolumeMetadataRoutes(scope, deps.workflow);
    registerMessageRoutes(scope, deps.workflow);
    registerDiscoveryRoutes(scope, deps.workflow);
  };
  // Every resource answers both with and without the project in the path (docs/cinder-compatibility.md#routing).
  app.register(v3, { prefix: '/v3' });
  app.register(v3, { prefix: '/v3/:project_id' });
  return app;
}
