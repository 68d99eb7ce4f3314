// The internal RPC between API processes and volume hosts (../shared/DESIGN.md "Scale-out"): the VolumeHost
// interface as JSON over HTTP. Every call is `POST /rpc/<method>` with `{ "args": [...] }`; the answer is
// `{ "result": ... }` or `{ "error": { "kind", "message" } }` with the HostError kind, so the workflow on the
// API side sees the same errors as with a host in its own process.
//
// Callers prove they hold the shared secret without sending it: the request carries an HMAC-SHA256 of the
// method, a timestamp and the body, keyed with the secret. The secret never travels and never reaches a log.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HostError, type HostErrorKind } from './types.js';

/** The VolumeHost methods served over RPC (capacity and qosSupport stay with the host's own heartbeat). */
export const RPC_METHODS = [
  'createVolume',
  'extendVolume',
  'deleteVolume',
  'connect',
  'disconnect',
  'syncExport',
  'listExports',
  'setQos',
  'listBackingVolumes',
  'createSnapshot',
  'deleteSnapshot',
  'createGroupSnapshot',
  'createVolumesFrom',
  'createVolumeFrom',
  'revertToSnapshot',
  'listBackingSnapshots',
  'copyMethod',
] as const;
export type RpcMethod = (typeof RPC_METHODS)[number];

export const SIGNATURE_HEADER = 'x-embervol-signature';
/** How far a request's timestamp may be from the host's clock (replays of an idempotent call are harmless within it). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

const HOST_ERROR_KINDS: readonly HostErrorKind[] = ['not-found', 'no-credentials', 'invalid', 'unavailable', 'backend'];

export interface RpcErrorBody {
  error: { kind: HostErrorKind; message: string };
}

function mac(secret: string, method: string, timestamp: string, body: string): Buffer {
  return createHmac('sha256', secret).update(`${method}\n${timestamp}\n`).update(body).digest();
}

/** The signature header value for one request: "t=<unix ms>,sig=<hex>". */
export function signRequest(secret: string, method: string, body: string, now = Date.now()): string {
  const t = String(now);
  return `t=${t},sig=${mac(secret, method, t, body).toString('hex')}`;
}

/** Whether the header proves the secret for this method and body, within the allowed clock skew. */
export function verifyRequest(secret: string, method: string, body: string, header: string | undefined, now = Date.now()): boolean {
  const m = header !== undefined ? /^t=(\d{1,16}),sig=([0-9a-f]{64})$/.exec(header) : null;
  if (!m) return false;
  if (Math.abs(now - Number(m[1])) > MAX_CLOCK_SKEW_MS) return false;
  const expected = mac(secret, method, m[1], body);
  return timingSafeEqual(expected, Buffer.from(m[2], 'hex'));
}

/** What a host sends back for a failed call: its HostError kind, or 'backend' for anything else. */
export function encodeError(err: unknown): RpcErrorBody {
  if (err instanceof HostError) return { error: { kind: err.kind, message: err.message } };
  return { error: { kind: 'backend', message: err instanceof Error ? err.message.split('\n')[0] : String(err) } };
}

/** The HostError a caller raises for an error body. */
export function decodeError(body: unknown, host: string): HostError {
  const e = (body as Partial<RpcErrorBody> | null)?.error;
  const kind = e && HOST_ERROR_KINDS.includes(e.kind) ? e.kind : 'backend';
  const message = e && typeof e.message === 'string' ? e.message : `volume host ${host} failed without a reason`;
  return new HostError(kind, message);
}
