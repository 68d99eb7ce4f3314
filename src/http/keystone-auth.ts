// --auth keystone: the caller is whoever Keystone says the X-Auth-Token belongs to (keystonemiddleware's job in
// Cinder). The validator caches; this module only maps its answer onto a RequestContext and Cinder's URL rule.
import type { FastifyReply } from 'fastify';
import { AuthError, type KeystoneValidator } from '../auth/keystone.js';
import { CinderFault } from '../errors.js';
import type { Microversion, RequestContext } from '../workflow/context.js';

export async function keystoneContext(
  validator: KeystoneValidator,
  opts: { requestId: string; headers: Record<string, string | string[] | undefined>; urlProject: string | undefined; version: Microversion },
): Promise<RequestContext> {
  const header = (name: string) => {
    const v = opts.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const auth = await validator.validate(header('x-auth-token'), header('x-service-token'));
  if (opts.urlProject !== undefined && opts.urlProject !== auth.projectId) throw new CinderFault(400, 'Malformed request url');
  return {
    requestId: opts.requestId,
    userId: auth.userId,
    projectId: auth.projectId,
    roles: auth.roles,
    isAdmin: auth.isAdmin,
    isService: auth.isService,
    version: opts.version,
  };
}

/**
 * A 401 looks the way keystonemiddleware answers it before Cinder ever sees the request, so clients re-authenticate
 * as they would against Cinder; a 503 (Keystone unreachable) uses Cinder's fault body.
 */
export function sendAuthError(reply: FastifyReply, e: AuthError): FastifyReply {
  if (e.status === 401) {
    if (e.wwwAuthenticate) reply.header('WWW-Authenticate', e.wwwAuthenticate);
    return reply.code(401).send({ error: { code: 401, title: 'Unauthorized', message: e.message } });
  }
  return reply.code(e.status).send(e.body());
}
