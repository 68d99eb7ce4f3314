// OpenStack-API-Version negotiation (docs/cinder-compatibility.md#microversions).
import { CinderFault } from '../errors.js';
import { MAX_VERSION, MIN_VERSION, type Microversion } from '../workflow/context.js';

export const VERSION_HEADER = 'openstack-api-version';

export function formatVersion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

/** No header means 3.0; `latest` means the maximum; out of range is 406; unreadable is 400. */
export function negotiateVersion(header: string | string[] | undefined): Microversion {
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (raw === undefined || raw.trim() === '') return MIN_VERSION;
  // The header may name several services ("compute 2.1, volume 3.44"); only ours counts.
  const entry = raw
    .split(',')
    .map((s) => s.trim().split(/\s+/))
    .find((parts) => parts[0]?.toLowerCase() === 'volume');
  if (!entry) return MIN_VERSION;
  const value = entry[1] ?? '';
  if (value.toLowerCase() === 'latest') return MAX_VERSION;
  const m = /^([1-9]\d*)\.(0|[1-9]\d*)$/.exec(value);
  if (!m) {
    throw new CinderFault(400, `API Version String ${value} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  const v: Microversion = { major: Number(m[1]) as 3, minor: Number(m[2]) };
  if (v.major !== 3 || v.minor < MIN_VERSION.minor || v.minor > MAX_VERSION.minor) {
    throw new CinderFault(
      406,
      `Version ${value} is not supported by the API. Minimum is ${formatVersion(MIN_VERSION)} and maximum is ${formatVersion(MAX_VERSION)}.`,
    );
  }
  return v;
}
