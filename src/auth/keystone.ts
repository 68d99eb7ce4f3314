// Keystone v3 token validation for `--auth keystone`, the part of keystonemiddleware's auth_token that
// embervol needs: the HTTP layer passes X-Auth-Token (and X-Service-Token when present) and gets back who
// the caller is, or an AuthError it can render as Cinder's fault body.
//
// How it works
//  - The validator logs in with its own service credentials (password, project-scoped) and keeps that
//    token; it renews it when half its lifetime or 5 minutes (whichever is less) remain, and at once when
//    Keystone answers 401 to it (then retries the validation once).
//  - A user token is validated with GET /v3/auth/tokens?nocatalog (X-Auth-Token = service token,
//    X-Subject-Token = user token). Keystone answers 404 for an unknown, expired or revoked token -> 401.
//  - X-Service-Token (docs/cinder-compatibility.md#deletion-guard, CVE-2023-2088): validated the same way. A valid one whose roles meet
//    serviceTokenRoles (default ['service'], Cinder's [keystone_authtoken] service_token_roles) makes the
//    request a service request (isService). An invalid one rejects the request with 401, as keystonemiddleware
//    does. A valid one without the role is accepted but isService stays false.
//  - Keystone unreachable, timing out or answering 5xx -> 503 (reason 'keystone-unavailable'); Keystone
//    refusing our own credentials or our right to validate -> 503 ('keystone-misconfigured', logged as error).
//
// Cache rules (documented for the API: these decide when a revoked token stops working)
//  - Successful validations are cached per token (key: SHA-256 of the token; tokens themselves are not kept)
//    until min(token expires_at, validation time + cacheTtlMs). cacheTtlMs defaults to 300 s, the default
//    token_cache_time of keystonemiddleware; pass Infinity to cache until expiry.
//  - A revoked token (DELETE /v3/auth/tokens) is therefore still accepted from the cache until that entry
//    ends, at most cacheTtlMs after it was validated. forget(token) drops it at once.
//  - An expired token is never served from the cache: a cached entry past expires_at is rejected locally as
//    'expired-token' (401) without asking Keystone.
//  - Failures (401) are not cached; every retry of a bad token asks Keystone again.
//  - Concurrent validations of the same token share one Keystone request.
//  - The cache is a bounded LRU (cacheSize entries, default 10 000).
//
// Secrets: tokens and the password never reach the logger; log lines identify a token by the first 12 hex
// digits of its SHA-256 only.
import { createHash } from 'node:crypto';
import { CinderFault } from '../errors.js';
import type { Logger } from '../log.js';

export interface AuthResult {
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  /** Role names on the project, implied roles included (Keystone expands admin -> member -> reader). */
  roles: string[];
  /** The admin role (Cinder's rule:admin_api). */
  isAdmin: boolean;
  /** A valid X-Service-Token carrying one of serviceTokenRoles came with the request. */
  isService: boolean;
  /** When the user token expires. */
  expiresAt: Date;
}

export type AuthFailureReason =
  | 'missing-token'
  | 'invalid-token'
  | 'expired-token'
  | 'unscoped-token'
  | 'invalid-service-token'
  | 'keystone-unavailable'
  | 'keystone-misconfigured';

/** A rejected request: 401 (the client must get a new token) or 503 (Keystone cannot answer). */
export class AuthError extends CinderFault {
  /** Value for the WWW-Authenticate header of a 401 (keystonemiddleware sends `Keystone uri="..."`). */
  readonly wwwAuthenticate: string | undefined;
  constructor(
    readonly reason: AuthFailureReason,
    status: 401 | 503,
    message: string,
    authUrl?: string,
  ) {
    super(status, message);
    this.name = 'AuthError';
    this.wwwAuthenticate = status === 401 && authUrl ? `Keystone uri="${authUrl}"` : undefined;
  }
}

export interface KeystoneValidatorOptions {
  /** Identity v3 URL, e.g. http://keystone:5000/v3 (a URL without /v3 gets it appended). */
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName?: string;
  projectDomainName?: string;
  logger: Logger;
  /** Most cached validations (LRU). Default 10 000. */
  cacheSize?: number;
  /** Longest a validation is trusted without asking Keystone again. Default 300 000 ms; Infinity = until expiry. */
  cacheTtlMs?: number;
  /** Roles that make an X-Service-Token a service token. Default ['service']. */
  serviceTokenRoles?: string[];
  /** Per-request timeout towards Keystone. Default 10 000 ms. */
  timeoutMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface KeystoneValidator {
  validate(subjectToken: string | undefined, serviceToken?: string): Promise<AuthResult>;
  /** Drops a token's cached validation (e.g. after the API learns it was revoked). */
  forget(token: string): void;
  /** Counters for tests and metrics. */
  stats(): { cacheHits: number; cacheMisses: number; validations: number; serviceLogins: number; cached: number };
  /** Drops the cache and the service token. */
  close(): void;
}

interface TokenInfo {
  userId: string;
  userName: string;
  projectId: string | null;
  projectName: string;
  roles: string[];
  expiresAt: number;
}

interface CacheEntry {
  info: TokenInfo;
  until: number;
}

const UNAUTHORIZED = 'The request you have made requires authentication.';
const UNAVAILABLE = 'The Keystone service is temporarily unavailable.';
const MAX_RENEW_MARGIN_MS = 5 * 60_000;

function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function normaliseAuthUrl(url: string): string {
  const u = url.replace(/\/+$/, '');
  return /\/v3$/.test(u) ? u : `${u}/v3`;
}

class Unavailable extends Error {}

export function createKeystoneValidator(opts: KeystoneValidatorOptions): KeystoneValidator {
  const authUrl = normaliseAuthUrl(opts.authUrl);
  const log = opts.logger.child({ component: 'auth.keystone' });
  const cacheSize = Math.max(1, opts.cacheSize ?? 10_000);
  const cacheTtlMs = opts.cacheTtlMs ?? 300_000;
  const serviceRoles = new Set(opts.serviceTokenRoles ?? ['service']);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const rootUrl = authUrl.replace(/\/v3$/, '');

  const cache = new Map<string, CacheEntry>();
  const inflight = new Map<string, Promise<TokenInfo>>();
  const counters = { cacheHits: 0, cacheMisses: 0, validations: 0, serviceLogins: 0 };

  let service: { token: string; renewAt: number; expiresAt: number } | undefined;
  let serviceLogin: Promise<string> | undefined;

  const unauthorized = (reason: AuthFailureReason) => new AuthError(reason, 401, UNAUTHORIZED, rootUrl);
  const unavailable = () => new AuthError('keystone-unavailable', 503, UNAVAILABLE);
  const misconfigured = () => new AuthError('keystone-misconfigured', 503, UNAVAILABLE);

  async function request(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${authUrl}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // Network error or timeout; the message of a fetch error carries no header values.
      log.warn({ err: { message: (err as Error).message, cause: String((err as { cause?: unknown }).cause ?? '') }, method, path }, 'keystone unreachable');
      throw new Unavailable();
    }
  }

  async function login(): Promise<string> {
    counters.serviceLogins++;
    const res = await request('POST', '/auth/tokens?nocatalog', {}, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: opts.username, domain: { name: opts.userDomainName ?? 'Default' }, password: opts.password } },
        },
        scope: { project: { name: opts.projectName, domain: { name: opts.projectDomainName ?? 'Default' } } },
      },
    });
    const text = await res.text().catch(() => '');
    if (res.status >= 500) {
      log.warn({ status: res.status }, 'keystone failed to issue the service token');
      throw new Unavailable();
    }
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) {
      log.error({ status: res.status, username: opts.username, projectName: opts.projectName }, 'keystone refused the service credentials');
      throw misconfigured();
    }
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Unavailable();
    }
    const issuedAt = Date.parse(body?.token?.issued_at) || now();
    const expiresAt = Date.parse(body?.token?.expires_at);
    if (!Number.isFinite(expiresAt)) throw new Unavailable();
    const margin = Math.min(MAX_RENEW_MARGIN_MS, (expiresAt - issuedAt) / 2);
    service = { token, expiresAt, renewAt: expiresAt - margin };
    log.info({ expiresAt: new Date(expiresAt).toISOString() }, 'obtained service token');
    return token;
  }

  async function serviceToken(forceRenew = false): Promise<string> {
    if (!forceRenew && service && now() < service.renewAt) return service.token;
    if (forceRenew) service = undefined;
    if (!serviceLogin) {
      serviceLogin = login().finally(() => {
        serviceLogin = undefined;
      });
    }
    return serviceLogin;
  }

  function parseToken(body: any): TokenInfo | null {
    const t = body?.token;
    const expiresAt = Date.parse(t?.expires_at);
    if (!t || typeof t.user?.id !== 'string' || !Number.isFinite(expiresAt)) return null;
    return {
      userId: t.user.id,
      userName: String(t.user.name ?? ''),
      projectId: typeof t.project?.id === 'string' ? t.project.id : null,
      projectName: String(t.project?.name ?? ''),
      roles: Array.isArray(t.roles) ? t.roles.map((r: { name?: unknown }) => String(r?.name ?? '')).filter(Boolean) : [],
      expiresAt,
    };
  }

  async function fetchValidation(token: string, id: string): Promise<TokenInfo> {
    counters.validations++;
    for (let attempt = 0; ; attempt++) {
      const svc = await serviceToken(attempt > 0);
      const res = await request('GET', '/auth/tokens?nocatalog', { 'x-auth-token': svc, 'x-subject-token': token });
      const text = await res.text().catch(() => '');
      if (res.status === 200) {
        let info: TokenInfo | null = null;
        try {
          info = parseToken(JSON.parse(text));
        } catch {
          info = null;
        }
        if (!info) {
          log.warn({ tokenId: id }, 'keystone returned an unreadable token body');
          throw unauthorized('invalid-token');
        }
        return info;
      }
      if (res.status === 404 || res.status === 400) {
        log.info({ tokenId: id, status: res.status }, 'keystone rejected the token');
        throw unauthorized('invalid-token');
      }
      if (res.status === 401 && attempt === 0) {
        log.info('service token refused by keystone; logging in again');
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        log.error({ status: res.status, username: opts.username }, 'keystone does not let the service user validate tokens (needs the service or admin role)');
        throw misconfigured();
      }
      log.warn({ status: res.status }, 'keystone failed to validate a token');
      throw new Unavailable();
    }
  }

  /** One token's identity, from the cache or Keystone. */
  async function check(token: string): Promise<TokenInfo> {
    const id = tokenKey(token);
    const t = now();
    const hit = cache.get(id);
    if (hit) {
      if (t >= hit.info.expiresAt) {
        cache.delete(id);
        throw unauthorized('expired-token');
      }
      if (t < hit.until) {
        counters.cacheHits++;
        cache.delete(id); // LRU: move to the end
        cache.set(id, hit);
        return hit.info;
      }
      cache.delete(id);
    }
    counters.cacheMisses++;
    let pending = inflight.get(id);
    if (!pending) {
      pending = fetchValidation(token, id).finally(() => inflight.delete(id));
      inflight.set(id, pending);
    }
    const info = await pending;
    const t2 = now();
    if (t2 >= info.expiresAt) throw unauthorized('expired-token');
    cache.set(id, { info, until: Math.min(info.expiresAt, t2 + cacheTtlMs) });
    while (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
    return info;
  }

  async function validate(subjectToken: string | undefined, serviceTokenHeader?: string): Promise<AuthResult> {
    const user = subjectToken?.trim();
    if (!user) throw unauthorized('missing-token');
    const svcHeader = serviceTokenHeader?.trim();
    try {
      let isService = false;
      if (svcHeader) {
        let svc: TokenInfo;
        try {
          svc = await check(svcHeader);
        } catch (err) {
          if (err instanceof AuthError && err.status === 401) throw unauthorized('invalid-service-token');
          throw err;
        }
        isService = svc.roles.some((r) => serviceRoles.has(r));
      }
      const info = await check(user);
      if (!info.projectId) throw unauthorized('unscoped-token');
      return {
        userId: info.userId,
        userName: info.userName,
        projectId: info.projectId,
        projectName: info.projectName,
        roles: [...info.roles],
        isAdmin: info.roles.includes('admin'),
        isService,
        expiresAt: new Date(info.expiresAt),
      };
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof Unavailable) throw unavailable();
      log.error({ err: { message: (err as Error).message } }, 'token validation failed unexpectedly');
      throw unavailable();
    }
  }

  return {
    validate,
    forget(token: string) {
      cache.delete(tokenKey(token.trim()));
    },
    stats: () => ({ ...counters, cached: cache.size }),
    close() {
      cache.clear();
      service = undefined;
    },
  };
}
