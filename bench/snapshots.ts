// Time for a snapshot and a clone of a volume holding data, by copy method: reflink (XFS reflink=1 on a loop
// mount this benchmark makes; needs root and xfsprogs) beside sparse copy (the default filesystem here), both
// through the file backend the volume host uses. The API adds one transaction on each side of the copy.
// Then the write pauses an attached volume sees during snapshots, on both filesystems (snapshot-pause.ts).
//   npm run bench -- snapshots [--size-gib 10] [--data-gib 2] [--seconds 20] [--pause-only]
//     [--root DIR] (the pause part runs the service from another checkout, e.g. a worktree of main, for a before/after)
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileBackend } from '../src/backends/file.js';
import { runChecked, runProcess } from '../src/util/exec.js';
import { makeTempDir } from '../test/support/tmp.js';
import { printTable } from './table.js';
import { measurePause, printPauseTable, type PauseRow } from './snapshot-pause.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** Writes dataGiB spread over the volume in 64 MiB runs, so the copy has holes and data to walk. */
async function fill(path: string, sizeGiB: number, dataGiB: number): Promise<void> {
  const chunk = Buffer.alloc(64 * MiB);
  for (let i = 0; i < chunk.length; i += 8) chunk.writeDoubleLE(Math.random(), i);
  const runs = (dataGiB * GiB) / chunk.length;
  const stride = Math.floor((sizeGiB * GiB) / runs / MiB) * MiB;
  const fh = await open(path, 'r+');
  try {
    for (let r = 0; r < runs; r++) await fh.write(chunk, 0, chunk.length, r * stride);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function measure(dir: string, sizeGiB: number, dataGiB: number): Promise<{ method: string; snapshot: number; clone: number }> {
  const b = new FileBackend(dir);
  const method = await b.prepare();
  await b.create('bench', sizeGiB * GiB);
  await fill(b.devicePath('bench'), sizeGiB, dataGiB);
  let t = performance.now();
  await b.createSnapshot('bench', 'bench-snap');
  const snapshot = performance.now() - t;
  t = performance.now();
  await b.createFrom('bench-clone', { kind: 'volume', id: 'bench' }, sizeGiB * GiB);
  const clone = performance.now() - t;
  return { method, snapshot, clone };
}

export async function main(): Promise<void> {
  const sizeGiB = arg('size-gib', 10);
  const dataGiB = arg('data-gib', 2);
  const seconds = arg('seconds', 20);
  const pauseOnly = process.argv.includes('--pause-only');
  const rootAt = process.argv.indexOf('--root');
  const root = rootAt > 0 ? process.argv[rootAt + 1] : undefined;
  const tmp = await makeTempDir('embervol-bench-snap-');
  const mount = join(tmp.path, 'xfs');
  let mounted = false;
  try {
    const rows: (string | number)[][] = [];
    const defaultFs = 'default (' + (await runChecked('stat', ['-f', '-c', '%T', tmp.path])).stdout.trim() + ')';
    if (!pauseOnly) {
      const sparse = await measure(join(tmp.path, 'default'), sizeGiB, dataGiB);
      rows.push([sparse.method, defaultFs, sparse.snapshot.toFixed(1), sparse.clone.toFixed(1)]);
    }
    const image = join(tmp.path, 'xfs.img');
    const fh = await open(image, 'w');
    await fh.truncate((dataGiB * 3 + 4) * GiB);
    await fh.close();
    await runChecked('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
    await mkdir(mount);
    await runChecked('mount', ['-o', 'loop', image, mount]);
    mounted = true;
    if (!pauseOnly) {
      const reflink = await measure(join(mount, 'volumes'), sizeGiB, dataGiB);
      rows.push([reflink.method, 'xfs reflink=1 (loop)', reflink.snapshot.toFixed(1), reflink.clone.toFixed(1)]);
      console.log(`A ${sizeGiB} GiB volume holding ${dataGiB} GiB of data (64 MiB runs spread over it):\n`);
      printTable(['copy method', 'filesystem', 'snapshot ms', 'clone ms'], rows);
    }
    const pauses: PauseRow[] = [];
    pauses.push(...(await measurePause(`sparse copy, ${defaultFs}`, join(tmp.path, 'serve-default'), seconds, root)));
    pauses.push(...(await measurePause('reflink, xfs reflink=1 (loop)', join(mount, 'serve'), seconds, root)));
    printPauseTable(pauses, seconds);
  } finally {
    if (mounted) await runProcess('umount', [mount]);
    await tmp.cleanup();
  }
}
