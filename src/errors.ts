// The one error type that crosses layers towards the API. Its status and message are what the client sees,
// so the message must say what to fix and must never carry a secret.

/** Cinder's fault names by HTTP status (docs/cinder-compatibility.md#faults). */
export function faultName(status: number): string {
  switch (status) {
    case 400: return 'badRequest';
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'itemNotFound';
    case 405: return 'badMethod';
    case 409: return 'conflictingRequest';
    case 413: return 'overLimit';
    case 415: return 'badMediaType';
    case 501: return 'notImplemented';
    case 503: return 'serviceUnavailable';
    default: return 'computeFault';
  }
}

export class CinderFault extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'CinderFault';
  }
  body(): Record<string, { code: number; message: string; retryAfter?: string }> {
    return { [faultName(this.status)]: { code: this.status, message: this.message } };
  }
  /** Extra response headers the fault carries. */
  headers(): Record<string, string> {
    return {};
  }
}

/**
 * One of Cinder's QuotaError exceptions (cinder/exception.py: VolumeLimitExceeded, SnapshotLimitExceeded,
 * VolumeSizeExceedsAvailableQuota, VolumeSizeExceedsLimit, UnexpectedOverQuota, ...). They are not caught by the
 * API's ResourceExceptionHandler but by the FaultWrapper middleware (cinder/api/middleware/fault.py), which
 * answers 413 overLimit with the message "<exception class>: <message>" (QuotaError.safe), the header
 * `Retry-After: 0` (QuotaError.headers) and, from that header, `retryAfter` in the body (api/openstack/wsgi.py Fault).
 */
export class QuotaFault extends CinderFault {
  constructor(readonly exception: string, message: string) {
    super(413, `${exception}: ${message}`);
  }
  override body() {
    return { overLimit: { code: 413, message: this.message, retryAfter: '0' } };
  }
  override headers(): Record<string, string> {
    return { 'Retry-After': '0' };
  }
}

export const invalidVolume = (why: string) => new CinderFault(400, `Invalid volume: ${why}`);
export const invalidInput = (why: string) => new CinderFault(400, `Invalid input received: ${why}`);
export const volumeNotFound = (id: string) => new CinderFault(404, `Volume ${id} could not be found.`);
export const forbidden = (rule: string) => new CinderFault(403, `Policy doesn't allow ${rule} to be performed.`);

/**
 * The database cannot be reached (connection refused, dropped or timed out): nothing of the request was committed
 * and the same request may succeed later. The store throws it (store/dialects/postgres.ts); the API answers 503
 * with a Retry-After hint (http/faults.ts). It lives here, beside CinderFault, so the HTTP layer can name it
 * without importing the store.
 */
export class StoreUnavailable extends Error {
  constructor(cause: unknown, message = 'The database is unavailable; retry the request later.') {
    super(message, { cause });
    this.name = 'StoreUnavailable';
  }
}
