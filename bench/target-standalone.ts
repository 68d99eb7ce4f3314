// The builtin target alone, in this process, over a 1 GiB file: runs the datapath bench's qemu-img cases against it
// and prints throughput and this process's CPU per I/O. Meant for quick iteration and for profiling the data path
// without the HTTP service around it:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/target-standalone.ts [--scale 0.2] [--cases 0,2,4]
//   node --import tsx bench/target-standalone.ts --serve     (prints a qemu URL and waits; drive it by hand)
//   add --busy-poll MICROSECONDS to set the target's busy-poll window (default: the server's)
//   add --sync-always to keep page-cache I/O synchronous however slow it looks (under valgrind every call is slow)
import { DEFAULT_IO_POLICY } from '../src/blockdev/file.js';
import { runChecked } from '../src/util/exec.js';
import { openExport } from '../test/support/open-export.js';
import { qemuIscsiJson } from '../test/support/qemu.js';
import { printTable } from './table.js';

const SCATTER_STEP = 1024 * 1024 + 4096;
const INITIATOR = 'iqn.2020-01.org.embervol:bench';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const scale = Number(arg('scale', '0.2'));
const n = (x: number) => Math.max(1, Math.round(x * scale));
const all = [
  { name: '4K rand read QD1', size: 4096, depth: 1, count: n(4000), write: false, step: SCATTER_STEP },
  { name: '4K rand write QD1', size: 4096, depth: 1, count: n(4000), write: true, step: SCATTER_STEP },
  { name: '4K rand read QD32', size: 4096, depth: 32, count: n(40000), write: false, step: SCATTER_STEP },
  { name: '4K rand write QD32', size: 4096, depth: 32, count: n(40000), write: true, step: SCATTER_STEP },
  { name: '1M seq read QD4', size: 1 << 20, depth: 4, count: n(2048), write: false, step: 0 },
  { name: '1M seq write QD4', size: 1 << 20, depth: 4, count: n(2048), write: true, step: 0 },
];
const pick = arg('cases', '');
const cases = pick ? pick.split(',').map((i) => all[Number(i)]) : all;

if (process.argv.includes('--sync-always')) DEFAULT_IO_POLICY.slowMicros = Number.MAX_SAFE_INTEGER;

const busyPoll = arg('busy-poll', '');
const exp = await openExport('bench', 1 << 30, [INITIATOR], busyPoll ? { busyPollMicroseconds: Number(busyPoll) } : {});
const url = qemuIscsiJson({ portal: exp.portal, iqn: exp.iqn, lun: exp.lun, initiatorName: INITIATOR });

if (process.argv.includes('--serve')) {
  console.log(url);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
} else {
  await runChecked('qemu-img', ['bench', '-t', 'none', '-w', '--pattern=90', '-c', '1024', '-d', '4', '-s', String(1 << 20), url], { timeoutMs: 600_000 });
  const rows: string[][] = [];
  for (const c of cases) {
    const args = ['bench', '-t', 'none', '-c', String(c.count), '-d', String(c.depth), '-s', String(c.size)];
    if (c.step) args.push('-S', String(c.step));
    if (c.write) args.push('-w', '--pattern=90');
    args.push(url);
    const cpu0 = process.cpuUsage();
    const r = await runChecked('qemu-img', args, { timeoutMs: 600_000 });
    const cpu = process.cpuUsage(cpu0);
    const secs = Number(/Run completed in ([\d.]+) seconds/.exec(r.stdout)![1]);
    const rate = c.size >= 1 << 20 ? `${((c.count * c.size) / secs / 1e9).toFixed(2)} GB/s` : `${(c.count / secs / 1000).toFixed(1)} k IOPS`;
    rows.push([c.name, rate, ((cpu.user + cpu.system) / c.count).toFixed(1), (cpu.system / c.count).toFixed(1)]);
  }
  printTable(['case', 'rate', 'CPU µs/IO', 'of which system'], rows);
}
await exp.close();
