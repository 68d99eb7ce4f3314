// Runs `embervol serve` as a real child process, as a user would, on ports it picks, and stops it afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { findFreePort } from '../../src/util/ports.js';
import { MAX_CONTROL_PORT } from '../../src/targets/tgtd-daemon.js';

/** A tgtd control port whose socket is not taken by another tgtd on this machine. */
export function freeTgtControlPort(): number {
  for (;;) {
    const n = 20000 + Math.floor(Math.random() * (MAX_CONTROL_PORT - 20000));
    if (!existsSync(`/var/run/tgtd/socket.${n}`)) return n;
  }
}

export interface ServiceProcess {
  url: string;
  /** "127.0.0.1:PORT" of the iSCSI portal */
  portal: string;
  dataDir: string;
  child: ChildProcess;
  /** Every log line the service printed (JSON strings), for assertions on redaction. */
  logs: string[];
  stop(opts?: { keepData?: boolean }): Promise<void>;
  kill9(): Promise<void>;
}

const repoRoot = new URL('../..', import.meta.url).pathname;

export interface ServiceProcessOptions {
  target?: 'tgt' | 'builtin';
  dataDir?: string;
  iscsiPort?: number;
  tgtControlPort?: number;
  extraArgs?: string[];
  /** Extra environment for the service (e.g. secrets that should not appear in argv). */
  env?: NodeJS.ProcessEnv;
  /** Options for node itself, before the script (benchmarks: --cpu-prof). */
  nodeArgs?: string[];
  /** The checkout whose src/cli/main.ts runs (benchmarks compare two checkouts); default this one. */
  repoRoot?: string;
  /** How long the service may take to listen (default 60 s; a start-up reconcile over a large database takes longer). */
  startTimeoutMs?: number;
}

/**
 * Starts `embervol serve`. When this function picked the iSCSI port itself and another process took it between the
 * probe and the bind, it tries again with another port instead of failing the test.
 */
export async function startServiceProcess(opts: ServiceProcessOptions = {}): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      const raced = opts.iscsiPort === undefined && /EADDRINUSE/.test((e as Error).message);
      if (!raced || attempt >= 3) throw e;
    }
  }
}

async function startOnce(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'embervol-it-'));
  const iscsiPort = opts.iscsiPort ?? (await findFreePort());
  const root = opts.repoRoot ?? repoRoot;
  const args = [
    ...(opts.nodeArgs ?? []),
    '--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve',
    '--data-dir', dataDir,
    '--listen', '127.0.0.1:0',
    '--iscsi-portal', `127.0.0.1:${iscsiPort}`,
    '--target', opts.target ?? 'tgt',
    '--tgt-control-port', String(opts.tgtControlPort ?? freeTgtControlPort()),
    '--log-level', process.env.EMBERVOL_TEST_LOG_LEVEL ?? 'info',
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const logs: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`embervol serve did not start within ${startTimeoutMs / 1000} s\n${stderr}\n${logs.join('\n')}`)),
      startTimeoutMs,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'embervol listening' && rec.url) {
          clearTimeout(timer);
          resolve(rec.url);
        }
      } catch {
        /* not JSON: keep it in logs */
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`embervol serve exited with ${code}\n${stderr}\n${logs.join('\n')}`));
    });
  });
  let url: string;
  try {
    url = await started;
  } catch (e) {
    child.kill('SIGKILL');
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const svc: ServiceProcess = {
    url,
    portal: `127.0.0.1:${iscsiPort}`,
    dataDir,
    child,
    logs,
    async stop({ keepData = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      if (!keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
  return svc;
}
