// CHAP for iSCSI (RFC 7143 section 12.1.3, RFC 1994) with MD5, the only algorithm
// every initiator implements. Binary values travel as "0x<hex>" or "0b<base64>".

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const CHAP_MD5 = '5';
const CHALLENGE_LENGTH = 16;

/** Decodes a CHAP binary value; null for anything that is not valid hex or base64. */
export function decodeChapBinary(value: string): Buffer | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) {
    const hex = value.slice(2);
    // Odd-length hex is legal: the first nibble is implied zero.
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  }
  if (/^0[bB][A-Za-z0-9+/]+={0,2}$/.test(value)) {
    const b64 = value.slice(2);
    if (b64.length % 4 !== 0) return null;
    return Buffer.from(b64, 'base64');
  }
  return null;
}

export function encodeHex(buf: Buffer): string {
  return `0x${buf.toString('hex')}`;
}

export function chapResponse(id: number, secret: string, challenge: Buffer): Buffer {
  return createHash('md5')
    .update(Buffer.from([id & 0xff]))
    .update(Buffer.from(secret, 'utf8'))
    .update(challenge)
    .digest();
}

export function newChallenge(): { id: number; challenge: Buffer } {
  const r = randomBytes(CHALLENGE_LENGTH + 1);
  return { id: r[0], challenge: r.subarray(1) };
}

export function responseMatches(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** CHAP_I is a decimal (or hex) number 0..255. */
export function parseChapId(value: string): number | null {
  if (!/^(0x[0-9a-fA-F]{1,2}|[0-9]{1,3})$/.test(value)) return null;
  const n = Number(value);
  return n >= 0 && n <= 255 ? n : null;
}
