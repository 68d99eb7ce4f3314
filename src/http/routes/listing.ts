// What the list routes share: reading query parameters (the last of a repeated one wins, as in Cinder),
// the paging parameters every list accepts, and links: the request's origin and the `..._links` next link.
import type { FastifyRequest } from 'fastify';
import { CinderFault, invalidInput } from '../../errors.js';
import type { SortDir } from '../../workflow/model.js';

export type Query = Record<string, string | string[] | undefined>;

export function one(q: Query, key: string): string | undefined {
  const v = q[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function parseBoolParam(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (['true', 't', '1', 'yes', 'y', 'on'].includes(l)) return true;
  if (['false', 'f', '0', 'no', 'n', 'off'].includes(l)) return false;
  throw invalidInput(`'${key} = ${v}'`);
}

export function parseIntParam(key: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new CinderFault(400, `${key} param must be an integer`);
  const n = Number(v);
  if (n < 0) throw new CinderFault(400, `${key} param must be positive`);
  // Past 2^53 the number is no longer exact, and SQLite refuses anything past 2^63: a client error, not a 500.
  if (!Number.isSafeInteger(n)) throw new CinderFault(400, `${key} param is too large`);
  return n;
}

export function parseSort(q: Query): { key: string; dir: SortDir }[] | undefined {
  const sort = one(q, 'sort');
  const sortKey = one(q, 'sort_key');
  const sortDir = one(q, 'sort_dir');
  if (sort && (sortKey || sortDir)) throw invalidInput("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.");
  const dirOf = (d: string | undefined): SortDir => {
    const l = (d ?? 'desc').trim().toLowerCase();
    if (l !== 'asc' && l !== 'desc') throw invalidInput("Unknown sort direction, must be 'desc' or 'asc'");
    return l;
  };
  if (sort) {
    return sort.split(',').map((part) => {
      const [key, dir] = part.split(':');
      return { key: key.trim(), dir: dirOf(dir) };
    });
  }
  if (sortKey) return sortKey.split(',').map((k, i) => ({ key: k.trim(), dir: dirOf(sortDir?.split(',')[i] ?? sortDir?.split(',')[0]) }));
  return undefined;
}

/** all_tenants: a bare `?all_tenants` means true; absent is undefined. */
export function parseAllTenants(q: Query): boolean | undefined {
  const v = one(q, 'all_tenants');
  if (v === undefined) return undefined;
  return v === '' ? true : parseBoolParam('all_tenants', v);
}

export interface PageParams {
  sort?: { key: string; dir: SortDir }[];
  limit?: number;
  offset?: number;
  marker?: string;
}

/** sort (or sort_key/sort_dir), limit, offset and marker, checked in that order. */
export function parsePage(q: Query): PageParams {
  const page: PageParams = {
    sort: parseSort(q),
    limit: parseIntParam('limit', one(q, 'limit')),
    offset: parseIntParam('offset', one(q, 'offset')),
  };
  const marker = one(q, 'marker');
  if (marker) page.marker = marker;
  return page;
}

/** "scheme://host" as the client reached us, for the links in a response. */
export function requestOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? req.hostname}`;
}

/** The `next` link of a list page: the same query with the marker replaced. `path` is below /v3/{project_id}/. */
export function nextLink(req: FastifyRequest, path: string, q: Query, marker: string): { rel: 'next'; href: string }[] {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (k !== 'marker' && v !== undefined) params.set(k, Array.isArray(v) ? v[v.length - 1] : v);
  params.set('marker', marker);
  return [{ rel: 'next', href: `${requestOrigin(req)}/v3/${req.ctx.projectId}/${path}?${params}` }];
}
