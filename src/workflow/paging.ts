// What the list actions share: Cinder's page cap, the requested sort mapped onto a resource's own columns,
// and the one extra row that tells whether a next page exists without a second query.
import { CinderFault, invalidInput } from '../errors.js';
import type { SortDir } from './model.js';

/** Cinder caps every list at osapi_max_limit. */
export const MAX_LIMIT = 1000;

/** The page size to serve: the client's limit, never more than MAX_LIMIT. Fetch one row more than this. */
export function pageLimit(limit: number | undefined): number {
  return Math.min(limit ?? MAX_LIMIT, MAX_LIMIT);
}

/**
 * The requested sort (created_at desc when none) with each API key mapped to its column; an unknown key is a
 * 400 whose message names the valid keys when `listKeys` is set.
 */
export function resolveSort<K>(
  sort: { key: string; dir: SortDir }[] | undefined,
  keys: Record<string, K>,
  opts: { listKeys?: boolean } = {},
): { key: K; dir: SortDir }[] {
  return (sort?.length ? sort : [{ key: 'created_at', dir: 'desc' as const }]).map((s) => {
    const key = keys[s.key];
    if (!key) throw invalidInput(`Invalid sort key ${s.key}${opts.listKeys ? `; use one of ${Object.keys(keys).join(', ')}` : ''}`);
    return { key, dir: s.dir };
  });
}

/** Rows fetched with pageLimit + 1: the page itself, and the marker of the next page when there is one. */
export function splitPage<R extends { id: string }>(rows: R[], limit: number): { page: R[]; nextMarker: string | undefined } {
  const page = rows.slice(0, limit);
  return { page, nextMarker: rows.length > limit ? page[page.length - 1]?.id : undefined };
}

/** A marker that names no row the caller may list (Cinder's MarkerNotFound). */
export function markerNotFound(marker: string): CinderFault {
  return new CinderFault(404, `Marker ${marker} could not be found.`);
}
