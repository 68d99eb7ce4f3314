// Keyset paging shared by the list queries: a total order (id breaks ties), rows strictly after the marker
// row in that order, then limit and offset. The caller's filters are already on the query.
import type { SelectQueryBuilder } from 'kysely';

/** 2^53 - 1: within both engines' 64-bit LIMIT, and exact as a JavaScript number. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export interface PageQuery {
  sort: { key: string; dir: 'asc' | 'desc' }[];
  /** Rows strictly after this one in the sort order. */
  markerRow?: Record<string, unknown>;
  limit?: number;
  offset?: number;
}

/** Orders and pages `q`; `table` is the alias the sort columns belong to when the query joins ("a"). */
export function paged<QB extends SelectQueryBuilder<any, any, any>>(q: QB, page: PageQuery, table?: string): QB {
  const col = (key: string) => (table ? `${table}.${key}` : key);
  let out: SelectQueryBuilder<any, any, any> = q;
  // id is the final tie-breaker so the order, and with it marker paging, is total.
  const sort = [...page.sort];
  if (!sort.some((s) => s.key === 'id')) sort.push({ key: 'id', dir: sort[0]?.dir ?? 'desc' });
  if (page.markerRow) {
    const m = page.markerRow;
    out = out.where((eb) => {
      // Lexicographic "after the marker" over the sort keys: (k1 > m1) or (k1 = m1 and k2 > m2) ...
      // NULL sorts below every value (the ORDER BY below says so to both engines), and SQL's = and > are never
      // true for NULL, so a NULL on either side is spelled out: otherwise a marker row with a NULL sort value
      // (an unnamed volume sorted by name) would end the listing.
      const same = (key: string) => (m[key] === null ? eb(col(key), 'is', null) : eb(col(key), '=', m[key]));
      const after = (key: string, dir: 'asc' | 'desc') => {
        const v = m[key];
        if (dir === 'asc') return v === null ? eb(col(key), 'is not', null) : eb(col(key), '>', v);
        return v === null ? eb.lit(false) : eb.or([eb(col(key), '<', v), eb(col(key), 'is', null)]);
      };
      const ors = sort.map((s, i) => eb.and([...sort.slice(0, i).map((p) => same(p.key)), after(s.key, s.dir)]));
      return eb.or(ors);
    });
  }
  for (const s of sort) out = out.orderBy(col(s.key), (ob) => (s.dir === 'asc' ? ob.asc().nullsFirst() : ob.desc().nullsLast()));
  // SQLite takes no OFFSET without a LIMIT, and PostgreSQL refuses SQLite's "LIMIT -1": a limit no table
  // reaches says "no limit" to both.
  if (page.limit !== undefined || page.offset !== undefined) out = out.limit(page.limit ?? NO_LIMIT);
  if (page.offset !== undefined) out = out.offset(page.offset);
  return out as QB;
}
