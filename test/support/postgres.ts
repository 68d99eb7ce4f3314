// A private PostgreSQL cluster for tests (Debian's `postgresql` package): initdb into a temp dir, pg_ctl start on
// 127.0.0.1 and a free port, one database per call to createDatabase(), everything removed by stop().
//
//   const pg = await startPostgres();            // ~2-4 s
//   const url = await pg.createDatabase();        // postgres://embervol@127.0.0.1:PORT/test_<random>
//   await pg.stop();                              // pg_ctl stop -m immediate, then the dir is removed
//
// initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user that the package
// creates; otherwise it belongs to the caller. The cluster trusts local connections (it listens on loopback
// only and lives as long as the test file) and runs with fsync off: tests check behaviour, never durability of
// the PostgreSQL files themselves. Benchmarks pass { durable: true } for PostgreSQL's own defaults (fsync,
// synchronous_commit, full_page_writes on), so that a commit costs what it costs in production.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findFreePort } from '../../src/util/ports.js';

const run = promisify(execFile);
const SUPERUSER = 'embervol';

export interface PostgresCluster {
  port: number;
  /** URL of the cluster's `postgres` database, for administrative statements. */
  adminUrl: string;
  /** A fresh, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (pg_ctl stop -m fast) and keeps its data, to test an outage; start() brings it back on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop(), synchronously: for a process 'exit' handler, where nothing asynchronous runs any more. */
  stopSync(): void;
}

/** The directory of initdb and pg_ctl, the newest installed major version; null when the package is missing. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length > 0 ? join(root, majors[0]!, 'bin') : null;
}

export interface PostgresOptions {
  /** fsync, synchronous_commit and full_page_writes as PostgreSQL ships them (on); default off, for tests. */
  durable?: boolean;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed: run scripts/install-peers.sh (apt-get install postgresql)');
  const dir = await mkdtemp(join(tmpdir(), 'embervol-pg-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const command = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
  const asOwner = (cmd: string, args: string[]) => run(...command(cmd, args));
  const data = join(dir, 'data');
  await asOwner('initdb', ['-D', data, '-U', SUPERUSER, '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await findFreePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ${opts.durable ? '' : '-c fsync=off -c synchronous_commit=off -c full_page_writes=off '}-c max_connections=200`;
  const pgStart = () => asOwner('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
  await pgStart();
  const adminUrl = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    port,
    adminUrl,
    async createDatabase() {
      const name = `test_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${name}`;
    },
    async pause() {
      await asOwner('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    async start() {
      await pgStart();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await asOwner('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
    stopSync() {
      if (stopped) return;
      stopped = true;
      try {
        execFileSync(...command('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
      } catch {
        // Already stopped (a paused cluster): the directory still goes.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
