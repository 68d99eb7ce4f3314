// The six-call legacy attach/detach cycle over HTTP against a real `embervol serve`:
// sequential on one volume, then N clients on N volumes. Prints median and p95 per call and cycles per second.
// Usage: npm run bench -- http-cycle [--target tgt|builtin] [--cycles 50] [--clients 8]
import { randomUUID } from 'node:crypto';
import { CinderApi } from '../test/interop/api-client.js';
import { startServiceProcess } from '../test/interop/service-process.js';
import { percentile, printTable } from './table.js';

export const CALLS = ['os-reserve', 'os-initialize_connection', 'os-attach', 'os-begin_detaching', 'os-terminate_connection', 'os-detach'] as const;

export type Samples = Record<(typeof CALLS)[number] | 'cycle', number[]>;

export function emptySamples(): Samples {
  return Object.fromEntries([...CALLS, 'cycle'].map((k) => [k, []])) as unknown as Samples;
}

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  samples.push(performance.now() - t0);
  return r;
}

async function expect(status: number, p: Promise<{ status: number; body: unknown }>) {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r;
}

async function cycle(api: CinderApi, volumeId: string, initiator: string, s: Samples) {
  const connector = { initiator, host: `bench-${initiator.slice(-4)}`, ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false };
  const t0 = performance.now();
  await timed(s['os-reserve'], () => expect(202, api.action(volumeId, 'os-reserve')));
  await timed(s['os-initialize_connection'], () => expect(200, api.action(volumeId, 'os-initialize_connection', { connector })));
  await timed(s['os-attach'], () => expect(202, api.action(volumeId, 'os-attach', { instance_uuid: randomUUID(), mountpoint: '/dev/vdb', mode: 'rw' })));
  const vol = await api.volume(volumeId);
  await timed(s['os-begin_detaching'], () => expect(202, api.action(volumeId, 'os-begin_detaching')));
  await timed(s['os-terminate_connection'], () => expect(202, api.action(volumeId, 'os-terminate_connection', { connector })));
  await timed(s['os-detach'], () => expect(202, api.action(volumeId, 'os-detach', { attachment_id: vol.attachments[0].attachment_id })));
  s.cycle.push(performance.now() - t0);
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

export async function main() {
  const target = arg('target', 'tgt') as 'tgt' | 'builtin';
  const cycles = Number(arg('cycles', '40'));
  const clients = Number(arg('clients', '8'));
  const svc = await startServiceProcess({ target });
  try {
    const api = new CinderApi(svc.url);
    const seq = emptySamples();
    const v = await api.createVolume(1);
    await cycle(api, v, 'iqn.2020-01.bench:warmup', emptySamples());
    const t0 = performance.now();
    for (let i = 0; i < cycles; i++) await cycle(api, v, 'iqn.2020-01.bench:seq0', seq);
    const seqRate = cycles / ((performance.now() - t0) / 1000);

    const par = emptySamples();
    const vols = await Promise.all(Array.from({ length: clients }, () => api.createVolume(1)));
    const perClient = Math.max(1, Math.round(cycles / clients) * 2);
    const t1 = performance.now();
    await Promise.all(vols.map(async (vid, c) => {
      for (let i = 0; i < perClient; i++) await cycle(api, vid, `iqn.2020-01.bench:par${c}`, par);
    }));
    const parRate = (perClient * clients) / ((performance.now() - t1) / 1000);

    const rows = [...CALLS, 'cycle' as const].map((k) => [
      k,
      percentile(seq[k], 50).toFixed(2),
      percentile(seq[k], 95).toFixed(2),
      percentile(par[k], 50).toFixed(2),
      percentile(par[k], 95).toFixed(2),
    ]);
    console.log(`\nLegacy attach/detach cycle over HTTP, --target ${target} (${cycles} sequential cycles; ${clients} clients x ${perClient} cycles), ms`);
    printTable(['call', 'seq median', 'seq p95', `${clients} clients median`, `${clients} clients p95`], rows);
    printTable(['mode', 'cycles/s'], [['sequential, 1 volume', seqRate.toFixed(1)], [`${clients} clients, ${clients} volumes`, parRate.toFixed(1)]]);
  } finally {
    await svc.stop();
  }
}
