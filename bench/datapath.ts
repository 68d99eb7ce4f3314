// Data path: the builtin target and tgtd side by side in one run, exported by `embervol serve` through the API as a
// host would get them, driven by the same client (qemu-img bench, cache=none) with the same volume size and pattern.
// Prints IOPS / throughput and target CPU time per I/O (from /proc/<pid>/stat of the process serving the I/O).
// Usage: npm run bench -- datapath [--scale 1] [--repeat 1] [--targets builtin,tgt] [--cases 0,1,...] [--verbose]
// Targets: builtin, tgt, and builtin-nopoll (the builtin target with its busy-poll window off, to show what it buys).
import { readFileSync } from 'node:fs';
import { runChecked, runProcess } from '../src/util/exec.js';
import { qemuIscsiJson } from '../test/support/qemu.js';
import { CinderApi } from '../test/interop/api-client.js';
import { startServiceProcess, type ServiceProcess } from '../test/interop/service-process.js';
import { printTable } from './table.js';

const CLK_TCK = 100;
const VOLUME_GIB = 1;
/** 1 MiB + 4 KiB: consecutive requests land far apart and wrap around the volume, so 4 KiB I/O is scattered. */
const SCATTER_STEP = 1024 * 1024 + 4096;
const WRITE_PATTERN = 0x5a;

interface Case {
  name: string;
  size: number;
  depth: number;
  count: number;
  write: boolean;
  step?: number;
}

function cases(scale: number): Case[] {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return [
    // Ten thousand at depth 1 (one to two seconds): shorter samples scattered too much on a shared machine.
    { name: '4 KiB scattered read, QD1', size: 4096, depth: 1, count: n(10000), write: false, step: SCATTER_STEP },
    { name: '4 KiB scattered write, QD1', size: 4096, depth: 1, count: n(10000), write: true, step: SCATTER_STEP },
    { name: '4 KiB scattered read, QD32', size: 4096, depth: 32, count: n(40000), write: false, step: SCATTER_STEP },
    { name: '4 KiB scattered write, QD32', size: 4096, depth: 32, count: n(40000), write: true, step: SCATTER_STEP },
    { name: '1 MiB sequential read, QD4', size: 1 << 20, depth: 4, count: n(2048), write: false },
    { name: '1 MiB sequential write, QD4', size: 1 << 20, depth: 4, count: n(2048), write: true },
  ];
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
}

async function qemuBench(url: string, c: Case, pid: number): Promise<Measured> {
  const args = ['bench', '-t', 'none', '-c', String(c.count), '-d', String(c.depth), '-s', String(c.size)];
  if (c.step) args.push('-S', String(c.step));
  // qemu-img bench writes zeroes unless told otherwise; zeroes read back as "deallocated" through GET LBA STATUS on a
  // thin-provisioning target (LBPRZ), and qemu then skips the read entirely. Non-zero data keeps reads honest.
  if (c.write) args.push('-w', `--pattern=${WRITE_PATTERN}`);
  args.push(url);
  const cpu0 = cpuSeconds(pid);
  const r = await runChecked('qemu-img', args, { timeoutMs: 600_000 });
  const cpu1 = cpuSeconds(pid);
  const m = /Run completed in ([\d.]+) seconds/.exec(r.stdout);
  if (!m) throw new Error(`qemu-img bench printed no timing: ${r.stdout}`);
  return { seconds: Number(m[1]), cpuSeconds: cpu1 - cpu0 };
}

type BenchTarget = 'builtin' | 'builtin-nopoll' | 'tgt';
const BENCH_TARGETS: readonly BenchTarget[] = ['builtin', 'builtin-nopoll', 'tgt'];

async function servingPid(svc: ServiceProcess, target: BenchTarget): Promise<number> {
  if (target !== 'tgt') return svc.child.pid!;
  const r = await runProcess('pgrep', ['-P', String(svc.child.pid), 'tgtd']);
  const pid = Number(r.stdout.trim().split('\n')[0]);
  if (!pid) throw new Error('tgtd child of embervol serve not found');
  return pid;
}

async function exportVolume(target: BenchTarget) {
  const svc = await startServiceProcess(
    target === 'builtin-nopoll' ? { target: 'builtin', extraArgs: ['--iscsi-busy-poll-microseconds', '0'] } : { target },
  );
  const api = new CinderApi(svc.url);
  const id = await api.createVolume(VOLUME_GIB);
  const initiator = 'iqn.2020-01.org.embervol:bench';
  const r = await api.action(id, 'os-initialize_connection', { connector: { initiator, host: 'bench' } });
  if (r.status !== 200) throw new Error(`initialize_connection: ${r.status} ${JSON.stringify(r.body)}`);
  const d = r.body.connection_info.data;
  const url = qemuIscsiJson({ portal: d.target_portal, iqn: d.target_iqn, lun: d.target_lun, user: d.auth_username, password: d.auth_password, initiatorName: initiator });
  return { svc, url, pid: await servingPid(svc, target) };
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

export async function main() {
  const scale = Number(arg('scale', '1'));
  const repeat = Math.max(1, Number(arg('repeat', '1')));
  const targets = arg('targets', 'builtin,tgt').split(',') as BenchTarget[];
  const verbose = process.argv.includes('--verbose');
  const all = cases(scale);
  const pick = arg('cases', '');
  const chosen = pick ? pick.split(',').map((i) => all[Number(i)]) : all;
  if (chosen.some((c) => !c)) throw new Error(`--cases takes indices 0-${all.length - 1}`);
  const unknown = targets.filter((t) => !BENCH_TARGETS.includes(t));
  if (unknown.length) throw new Error(`unknown target(s) ${unknown.join(', ')} (known: ${BENCH_TARGETS.join(', ')})`);
  // Each other target is compared with tgt when it runs too, else with the last one named.
  const peer = targets.includes('tgt') ? 'tgt' : targets[targets.length - 1];
  const compared = targets.filter((t) => t !== peer);
  // Both targets are up at once and every case runs on each in turn (order alternating between rounds), so load from
  // elsewhere on a shared machine drifts over both alike instead of over one target's whole series.
  const exported = new Map<string, Awaited<ReturnType<typeof exportVolume>>>();
  const samples = new Map<string, Measured[]>();
  try {
    for (const target of targets) exported.set(target, await exportVolume(target));
    for (const target of targets) {
      const { url, pid } = exported.get(target)!;
      // Fill the volume once so reads hit allocated blocks on both targets, not holes.
      await qemuBench(url, { name: 'fill', size: 1 << 20, depth: 4, count: VOLUME_GIB * 1024, write: true }, pid);
    }
    for (let round = 0; round < repeat; round++) {
      for (const c of chosen) {
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        for (const target of order) {
          const { url, pid } = exported.get(target)!;
          const key = `${target}|${c.name}`;
          const m = await qemuBench(url, c, pid);
          samples.set(key, [...(samples.get(key) ?? []), m]);
          if (verbose) console.error(`round ${round + 1} ${target} ${c.name}: ${m.seconds.toFixed(3)} s, CPU ${((m.cpuSeconds / c.count) * 1e6).toFixed(1)} µs/IO`);
        }
      }
    }
  } finally {
    await Promise.allSettled([...exported.values()].map((e) => e.svc.stop()));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = chosen.map((c) => {
    const row: string[] = [c.name];
    const rate = (seconds: number) => (c.size >= 1 << 20 ? (c.count * c.size) / seconds / 1e9 : c.count / seconds / 1000);
    const runs = (t: string) => samples.get(`${t}|${c.name}`)!;
    for (const t of targets) {
      row.push(rate(median(runs(t).map((m) => m.seconds))).toFixed(c.size >= 1 << 20 ? 2 : 1));
      row.push(((median(runs(t).map((m) => m.cpuSeconds)) / c.count) * 1e6).toFixed(1));
    }
    for (const t of compared) {
      // Median of the per-round ratios: each compares runs made back to back in one round.
      const ratios = runs(t).map((m, i) => runs(peer)[i].seconds / m.seconds);
      row.push(median(ratios).toFixed(2));
      row.push(`${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`);
    }
    return row;
  });
  console.log(
    `\nData path, qemu-img bench cache=none over iSCSI on loopback, ${VOLUME_GIB} GiB volume, median of ${repeat} round(s) ` +
      '(4 KiB rows: k IOPS; 1 MiB rows: GB/s; CPU: target µs per I/O)',
  );
  const header = ['case', ...targets.flatMap((t) => [t, `${t} CPU µs/IO`])];
  for (const t of compared) header.push(`${t}/${peer}`, 'per-round range');
  printTable(header, rows);
}
