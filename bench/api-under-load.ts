// Does data-path load slow the HTTP API? GET /volumes latency, sequential, while qemu-img bench drives 4 KiB reads at
// QD32, with the builtin iSCSI target (a) inside `embervol serve` (one event loop for HTTP and iSCSI) and (b) in a
// separate Node process running the same target code (bench/target-standalone.ts --serve): the stand-in for a
// worker thread or child process, whose event loop, heap and GC are its own. Each mode also gets an idle baseline.
// Usage: npm run bench -- api-under-load [--count 60000] [--rounds 2] [--large]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { runChecked } from '../src/util/exec.js';
import { qemuIscsiJson } from '../test/support/qemu.js';
import { CinderApi } from '../test/interop/api-client.js';
import { startServiceProcess, type ServiceProcess } from '../test/interop/service-process.js';
import { percentile, printTable } from './table.js';

const SCATTER_STEP = 1024 * 1024 + 4096;
const INITIATOR = 'iqn.2020-01.org.embervol:bench';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

interface Sampled {
  latencies: number[];
  kiops?: number;
}

/** GET /volumes back to back until `until` settles (or for `ms` when idle). */
async function sampleApi(api: CinderApi, until: Promise<unknown> | number): Promise<number[]> {
  const out: number[] = [];
  let done = false;
  if (typeof until === 'number') setTimeout(() => (done = true), until);
  else void until.finally(() => (done = true));
  while (!done) {
    const t0 = performance.now();
    const r = await api.call('GET', '/volumes');
    if (r.status !== 200) throw new Error(`GET /volumes: ${r.status}`);
    out.push(performance.now() - t0);
  }
  return out;
}

/** 4 KiB scattered reads at QD32 (k IOPS), or with --large 1 MiB sequential reads at QD4 (GB/s). */
async function load(url: string, count: number): Promise<number> {
  const large = process.argv.includes('--large');
  const args = large
    ? ['bench', '-t', 'none', '-c', String(Math.ceil(count / 16)), '-d', '4', '-s', String(1 << 20), url]
    : ['bench', '-t', 'none', '-c', String(count), '-d', '32', '-s', '4096', '-S', String(SCATTER_STEP), url];
  const r = await runChecked('qemu-img', args, { timeoutMs: 600_000 });
  const secs = Number(/Run completed in ([\d.]+) seconds/.exec(r.stdout)![1]);
  return large ? (Math.ceil(count / 16) * (1 << 20)) / secs / 1e9 : count / secs / 1000;
}

async function fill(url: string): Promise<void> {
  await runChecked('qemu-img', ['bench', '-t', 'none', '-w', '--pattern=90', '-c', '1024', '-d', '4', '-s', String(1 << 20), url], { timeoutMs: 600_000 });
}

async function exportedUrl(svc: ServiceProcess): Promise<{ api: CinderApi; url: string }> {
  const api = new CinderApi(svc.url);
  const id = await api.createVolume(1);
  const r = await api.action(id, 'os-initialize_connection', { connector: { initiator: INITIATOR, host: 'bench' } });
  const d = r.body.connection_info.data;
  const url = qemuIscsiJson({ portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: INITIATOR });
  return { api, url };
}

async function standaloneTarget(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./target-standalone.ts', import.meta.url).pathname, '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`standalone target exited with ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { url, stop: () => (child.kill('SIGINT'), exited) };
}

async function measure(mode: 'in-process' | 'separate process', count: number): Promise<{ idle: Sampled; loaded: Sampled }> {
  const svc = await startServiceProcess({ target: 'builtin' });
  const other = mode === 'separate process' ? await standaloneTarget() : undefined;
  try {
    const exp = await exportedUrl(svc);
    const url = other?.url ?? exp.url;
    await fill(url);
    const idle = { latencies: await sampleApi(exp.api, 3000) };
    const run = load(url, count);
    const latencies = await sampleApi(exp.api, run);
    return { idle, loaded: { latencies, kiops: await run } };
  } finally {
    await other?.stop();
    await svc.stop();
  }
}

export async function main() {
  const count = Number(arg('count', '60000'));
  const rounds = Number(arg('rounds', '2'));
  const large = process.argv.includes('--large');
  const rows: string[][] = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['in-process', 'separate process'] as const) {
      const { idle, loaded } = await measure(mode, count);
      const f = (xs: number[], p: number) => percentile(xs, p).toFixed(1);
      rows.push([
        mode,
        loaded.kiops!.toFixed(large ? 2 : 1),
        f(idle.latencies, 50),
        f(idle.latencies, 99),
        f(loaded.latencies, 50),
        f(loaded.latencies, 99),
        Math.max(...loaded.latencies).toFixed(1),
        String(loaded.latencies.length),
      ]);
    }
  }
  console.log(`\nGET /volumes latency (ms) while qemu-img bench runs ${large ? '1 MiB sequential reads at QD4' : '4 KiB scattered reads at QD32'} against the builtin target`);
  printTable(['data path', large ? 'load GB/s' : 'load k IOPS', 'idle p50', 'idle p99', 'loaded p50', 'loaded p99', 'loaded max', 'requests'], rows);
}
