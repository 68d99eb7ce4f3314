// Which engine the store, workflow and HTTP tests run on, chosen in this one place:
//
//   EMBERVOL_TEST_DATABASE=postgres npm test -- test/store test/workflow test/http
//
// Unset (or "sqlite"): each database is a file in the test's temp dir. "postgres": the first database a test file
// asks for starts a private cluster (test/support/postgres.ts) that lives until that file's process exits, and
// every database is a new one in it. scripts/test.sh runs those suites once per engine.
import { join } from 'node:path';
import { startPostgres, type PostgresCluster } from './postgres.js';

export type TestEngine = 'sqlite' | 'postgres';

export const testEngine: TestEngine = (() => {
  const v = process.env.EMBERVOL_TEST_DATABASE ?? 'sqlite';
  if (v !== 'sqlite' && v !== 'postgres') throw new Error(`EMBERVOL_TEST_DATABASE must be sqlite or postgres, not "${v}"`);
  return v;
})();

let cluster: Promise<PostgresCluster> | undefined;

/** This test file's private PostgreSQL cluster, started on first use and removed when the process exits. */
export function testCluster(): Promise<PostgresCluster> {
  cluster ??= startPostgres().then((c) => {
    process.once('exit', () => c.stopSync());
    return c;
  });
  return cluster;
}

/**
 * The URL of a fresh, empty database on the engine under test. On SQLite a file `<name>.sqlite` in `dir`, so the
 * same (dir, name) names the same database again (for reopen tests); on PostgreSQL a new database every call.
 */
export async function freshDatabaseUrl(dir: string, name = 'embervol'): Promise<string> {
  if (testEngine === 'sqlite') return join(dir, `${name}.sqlite`);
  return (await testCluster()).createDatabase();
}
