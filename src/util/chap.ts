// CHAP credentials generated the way Cinder does (volume_utils.generate_username/password), so that
// credentials we hand out look like Cinder's and survive any client that validates them the same way.
import { randomBytes } from 'node:crypto';

/** A CHAP secret pair: the target's per-volume credentials (provider_auth) and what the iSCSI login checks. */
export interface ChapCredentials {
  username: string;
  password: string;
}

/** Cinder leaves out characters that are easy to confuse when read aloud or typed: 0, 1, I, O, l. */
export const CHAP_ALPHABET_GROUPS: readonly string[] = [
  '23456789',
  'ABCDEFGHJKLMNPQRSTUVWXYZ',
  'abcdefghijkmnopqrstuvwxyz',
];
export const CHAP_ALPHABET = CHAP_ALPHABET_GROUPS.join('');
export const CHAP_USERNAME_LENGTH = 20;
export const CHAP_PASSWORD_LENGTH = 16;

/** Uniform random integer in [0, n) without modulo bias (Cinder has the bias; we need not copy it). */
function randomIndex(n: number): number {
  const limit = 256 - (256 % n);
  for (;;) {
    const b = randomBytes(1)[0]!;
    if (b < limit) return b % n;
  }
}

function pick(chars: string): string {
  return chars[randomIndex(chars.length)]!;
}

/** One character of each group first (so every group is present), then fill, then a Fisher-Yates shuffle. */
export function generateChapSecret(length: number): string {
  if (length < CHAP_ALPHABET_GROUPS.length) throw new RangeError(`CHAP secret length must be >= ${CHAP_ALPHABET_GROUPS.length}`);
  const out = CHAP_ALPHABET_GROUPS.map(pick);
  while (out.length < length) out.push(pick(CHAP_ALPHABET));
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomIndex(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.join('');
}

export function generateChapCredentials(): ChapCredentials {
  return { username: generateChapSecret(CHAP_USERNAME_LENGTH), password: generateChapSecret(CHAP_PASSWORD_LENGTH) };
}
