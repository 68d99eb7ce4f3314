import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Every secret the service handles travels under one of these keys; pino replaces them
 * before a line is written, so no code path can leak CHAP passwords or tokens into logs.
 */
export const redactPaths = [
  'password',
  'keystonePassword',
  '*.keystonePassword',
  'secret',
  'token',
  'auth_password',
  'providerAuth',
  'provider_auth',
  'chap.password',
  '*.password',
  '*.secret',
  '*.token',
  '*.auth_password',
  '*.providerAuth',
  '*.provider_auth',
  // Volume transfer keys (DESIGN.md: transfer keys never appear in logs) and what they are checked against.
  'auth_key',
  '*.auth_key',
  'authKey',
  '*.authKey',
  'rpcSecret',
  '*.rpcSecret',
  'crypt_hash',
  '*.crypt_hash',
  'req.headers["x-auth-token"]',
  'req.headers["x-service-token"]',
  'req.headers.authorization',
  'headers["x-auth-token"]',
  'headers["x-service-token"]',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.EMBERVOL_LOG_LEVEL ?? 'info';
  return pino({ level, redact: { paths: redactPaths, censor: '***' } }, opts.destination as never);
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
