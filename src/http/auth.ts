// noauth mode, like Cinder's NoAuthMiddleware (docs/cinder-compatibility.md#noauth), plus a way to act as a non-admin.
//
// Who is who in noauth mode:
// - `X-Auth-Token: <user>:<project>` names the caller. A token without ':' (OSC sends "notused") names the
//   user only; the project then comes from the URL, or is DEFAULT_PROJECT on project-less URLs.
// - A URL project that differs from the token's project is 400 "Malformed request url" (Cinder's rule).
// - Every caller is admin, exactly like Cinder's noauth, unless the request carries `X-Roles`
//   (comma-separated, e.g. "member" or "reader"): then the caller has just those roles and is admin
//   only if "admin" is among them. So `X-Roles: member` tests project isolation and admin-only actions.
// - Service requests (the CVE-2023-2088 detach guard): every noauth caller without X-Roles is one, as
//   there is no Nova to protect; with X-Roles, only when "service" is listed.
// - No X-Auth-Token at all: Cinder answers 204 with a ready-made token; so do we.
import { CinderFault } from '../errors.js';
import type { Microversion, RequestContext } from '../workflow/context.js';

export const DEFAULT_PROJECT = 'admin';

export class AuthHandshake {
  constructor(readonly token: string) {}
}

export function noauthContext(opts: {
  requestId: string;
  headers: Record<string, string | string[] | undefined>;
  urlProject: string | undefined;
  version: Microversion;
}): RequestContext | AuthHandshake {
  const header = (name: string) => {
    const v = opts.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const token = header('x-auth-token');
  if (token === undefined) {
    const user = header('x-auth-user') ?? 'admin';
    const project = header('x-auth-project-id') ?? opts.urlProject ?? DEFAULT_PROJECT;
    // The token goes back in a response header: a name that cannot travel in one is a malformed request, not a 500.
    if (!/^[\x21-\x7e]*$/.test(`${user}:${project}`)) throw new CinderFault(400, 'Malformed request url');
    return new AuthHandshake(`${user}:${project}`);
  }
  const sep = token.indexOf(':');
  const userId = sep >= 0 ? token.slice(0, sep) : token;
  const tokenProject = sep >= 0 ? token.slice(sep + 1) : '';
  const projectId = tokenProject || opts.urlProject || DEFAULT_PROJECT;
  if (opts.urlProject !== undefined && opts.urlProject !== projectId) throw new CinderFault(400, 'Malformed request url');
  const rolesHeader = header('x-roles');
  const roles =
    rolesHeader === undefined
      ? ['admin', 'member', 'reader']
      : rolesHeader
          .split(',')
          .map((r) => r.trim().toLowerCase())
          .filter(Boolean);
  return {
    requestId: opts.requestId,
    userId: userId || 'admin',
    projectId,
    roles,
    isAdmin: roles.includes('admin'),
    isService: rolesHeader === undefined || roles.includes('service'),
    version: opts.version,
  };
}
