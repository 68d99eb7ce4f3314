// Text keys (RFC 7143 section 6): "key=value" pairs, each terminated by a NUL byte.

export type KeyValues = Array<[string, string]>;

export class TextFormatError extends Error {}

const MAX_KEY_LENGTH = 63;
const KEY_PATTERN = /^[A-Za-z0-9.\-+@_:]+$/;

/** Parses a text data segment. Throws TextFormatError for pairs without '=' or bad keys. */
export function parseKeyValues(data: Buffer): KeyValues {
  const out: KeyValues = [];
  const text = data.toString('utf8');
  for (const item of text.split('\0')) {
    if (item.length === 0) continue; // padding or a trailing NUL
    const eq = item.indexOf('=');
    if (eq <= 0) throw new TextFormatError(`malformed key=value item`);
    const key = item.slice(0, eq);
    if (key.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(key)) throw new TextFormatError('malformed key');
    out.push([key, item.slice(eq + 1)]);
  }
  return out;
}

export function encodeKeyValues(pairs: KeyValues): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/**
 * Cuts a response text into segments of at most `max` bytes for the continue bit.
 * A pair may straddle two segments; the receiver concatenates before parsing.
 */
export function splitSegments(data: Buffer, max: number): Buffer[] {
  if (data.length <= max) return [data];
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += max) out.push(data.subarray(i, Math.min(data.length, i + max)));
  return out;
}
