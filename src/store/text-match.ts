// Cinder's inexact filters (`key~=value`, 3.34) are `column LIKE '%value%'` (cinder/db/sqlalchemy/api.py
// _process_model_like_filter), case-insensitive on Cinder's MySQL (its default collation) and on SQLite, but
// case-sensitive on PostgreSQL. lower() on both sides gives one answer on both engines.
import { sql, type Expression, type RawBuilder } from 'kysely';

/** `expr` contains `value`, ignoring case. */
export function containsAnyCase(expr: Expression<unknown> | RawBuilder<unknown>, value: string): RawBuilder<boolean> {
  return sql<boolean>`lower(${expr}) like lower(${`%${value}%`})`;
}
