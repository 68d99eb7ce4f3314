// A pg client that runs the store's parameterised statements as named prepared statements: PostgreSQL parses
// and plans each statement text once per connection instead of on every call. kysely hands pg the SQL text and its
// parameters; pg prepares a statement when the query carries a name (pg's query.js: a name it has parsed on this
// connection is bound and executed without a new Parse). Measured with the six-call cycle: PostgreSQL's CPU per
// cycle about halves (docs/benchmarks.md, "PostgreSQL: prepared statements").
import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * Most statement texts one connection prepares. Prepared statements live in the server's memory until the
 * connection closes; texts beyond this (an IN list of a length not seen before, say) run unnamed as before.
 */
export const MAX_PREPARED_PER_CONNECTION = 256;

/**
 * PostgreSQL's answer when a prepared statement's result columns changed under it (a migration by another process
 * added a column to a `select *`): SQLSTATE 0A000, "cached plan must not change result type".
 */
export function isStalePreparedStatement(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}

function statementName(text: string): string {
  return `ev_${createHash('sha1').update(text).digest('base64url').slice(0, 22)}`;
}

export class PreparingClient extends pg.Client {
  readonly #prepared = new Set<string>();
  /** Names whose server-side statement went stale; their text runs unnamed from then on. */
  readonly #stale = new Set<string>();

  // pg's overloads (callbacks, config objects, streams) pass through untouched; only kysely's form is prepared:
  // query(text, values) with at least one value and no callback.
  override query(...args: unknown[]): any {
    const [text, values, callback] = args;
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined) {
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const name = statementName(text);
    if (this.#stale.has(name) || (!this.#prepared.has(name) && this.#prepared.size >= MAX_PREPARED_PER_CONNECTION)) {
      return super.query(text, values);
    }
    this.#prepared.add(name);
    return super.query({ name, text, values }).catch((err: unknown) => {
      if (!isStalePreparedStatement(err)) throw err;
      this.#stale.add(name);
      // Outside a transaction the statement simply runs again, unnamed. Inside one the transaction is aborted:
      // the store runs the whole transaction again (postgres.ts counts this error as retryable).
      if (this.getTransactionStatus() === 'I') return super.query(text, values);
      throw err;
    });
  }
}
