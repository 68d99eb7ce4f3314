// Every error leaves as Cinder's fault body; anything unexpected is a logged 500 without details.
import type { FastifyError, FastifyInstance } from 'fastify';
import { CinderFault, StoreUnavailable } from '../errors.js';
import type { Logger } from '../log.js';

/** Seconds a client is told to wait when the database is unreachable: about one reconnect attempt. */
export const STORE_RETRY_AFTER_SECONDS = 5;

export const SERVER_ERROR_MESSAGE = 'The server has either erred or is incapable of performing the requested operation.';

/** Maps fastify's own client errors (parsing, limits) to Cinder's wording. */
export function toFault(err: unknown): CinderFault | null {
  if (err instanceof CinderFault) return err;
  const e = err as FastifyError;
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? new CinderFault(415, 'Unsupported Content-Type') : new CinderFault(400, 'Malformed request body');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CinderFault(413, 'Request is too large.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new CinderFault(400, 'Malformed request body');
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // A client error from the framework we did not name above: keep its status, never its internals.
    return new CinderFault(e.statusCode, e.statusCode === 404 ? 'The resource could not be found.' : 'Malformed request body');
  }
  return null;
}

export function installFaultHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof StoreUnavailable) {
      // Nothing was committed (a transaction without its COMMIT rolls back), so the same request may simply be
      // sent again; Retry-After says when, the header Cinder's faults carry when a later retry may succeed
      // (cinder/api/openstack/wsgi.py Fault, OverLimitFault).
      logger.warn({ reqId: request.id, err: err.cause }, 'database unavailable');
      const f = new CinderFault(503, err.message);
      return reply.code(503).header('retry-after', String(STORE_RETRY_AFTER_SECONDS)).type('application/json').send(f.body());
    }
    const fault = toFault(err);
    if (fault) {
      if (fault.status >= 500) logger.error({ reqId: request.id, err }, 'request failed');
      return reply.code(fault.status).headers(fault.headers()).type('application/json').send(fault.body());
    }
    logger.error({ reqId: request.id, err }, 'unexpected error');
    const f = new CinderFault(500, SERVER_ERROR_MESSAGE);
    return reply.code(500).type('application/json').send(f.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const f = new CinderFault(404, 'The resource could not be found.');
    return reply.code(404).type('application/json').send(f.body());
  });
}
