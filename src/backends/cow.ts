// Copy-on-write copies of volume files. A reflink (FICLONE) shares the source's extents, so a snapshot or a
// clone costs no space and no time until either side is written; where the filesystem cannot reflink
// (ext4, overlay) the fallback copies only the data extents and leaves holes as holes, so a sparse
// volume stays sparse. Which method a directory gets is detected once, by trying it.
import { constants, readSync, writeSync } from 'node:fs';
import { copyFile, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ByteRange } from '../host/types.js';
import { runChecked } from '../util/exec.js';

export type CopyMethod = 'reflink' | 'sparse-copy';

/**
 * Copies `src` to `dst`. COPYFILE_FICLONE_FORCE fails where reflink is unsupported instead of silently copying
 * every byte, which is what the plain COPYFILE_FICLONE fallback would do. With `inPlace`, `dst` exists and is
 * rewritten keeping its inode (a target holding it open sees the new content); cp is used then because
 * libuv's copyfile unlinks the destination when the copy fails, which would lose the volume file. The copy is
 * not synced here: its content is fixed once this returns, and the caller syncs it when it is ready to, which
 * for a snapshot of an attached volume is after the target lets writes run again.
 *
 * What the copy holds is everything written to `src` before, dirty pages included: cp reads through the page
 * cache, and FICLONE writes the source's dirty pages back and waits for them before it shares the extents (the
 * kernel's remap preparation, on XFS and btrfs alike; test/host/snapshot-consistency.test.ts checks it on XFS).
 */
export async function copyVolumeFile(method: CopyMethod, src: string, dst: string, opts: { inPlace?: boolean } = {}): Promise<void> {
  if (method === 'reflink' && opts.inPlace) {
    await runChecked('cp', ['--reflink=always', '--', src, dst], { timeoutMs: 60 * 60_000 });
  } else if (method === 'reflink') {
    await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
  } else {
    // GNU cp finds data extents with SEEK_DATA/SEEK_HOLE (or FIEMAP) and writes only those; Node has no
    // SEEK_DATA, so coreutils is the peer that does it. --reflink=never: this path is the fallback.
    await runChecked('cp', ['--sparse=always', '--reflink=never', '--', src, dst], { timeoutMs: 6 * 60 * 60_000 });
  }
}

/** The most one read and write of copyRanges moves. */
const RANGE_PIECE = 1 << 20;
/** copyRanges gives the event loop back after this much synchronous work (ms). */
const SLICE_MS = 2;

/**
 * Copies these byte ranges of `src` over the same ranges of `dst`: a copy made while `src` was written catches up.
 * It runs inside a quiesce window, where every millisecond holds the volume's writes, and the ranges are mostly
 * small writes still in the page cache: a thread-pool round trip per read and per write would cost more than the
 * copies. So it reads and writes synchronously, and yields to the event loop every SLICE_MS so that other volumes'
 * I/O is not held up for longer than that.
 */
export async function copyRanges(src: string, dst: string, ranges: ByteRange[]): Promise<void> {
  if (ranges.length === 0) return;
  const from = await open(src, 'r');
  try {
    const to = await open(dst, 'r+');
    try {
      const buf = Buffer.allocUnsafe(Math.min(RANGE_PIECE, Math.max(...ranges.map((r) => r.length))));
      let sliceStart = performance.now();
      for (const r of ranges) {
        const end = r.offset + r.length;
        for (let at = r.offset; at < end; ) {
          const n = readSync(from.fd, buf, 0, Math.min(buf.length, end - at), at);
          // The source ends here (a discard may reach past its end): nothing further to copy.
          if (n === 0) break;
          for (let done = 0; done < n; ) done += writeSync(to.fd, buf, done, n - done, at + done);
          at += n;
          if (performance.now() - sliceStart >= SLICE_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            sliceStart = performance.now();
          }
        }
      }
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** Tries a reflink between two probe files in `directory`: 'reflink' when the filesystem shares extents. */
export async function detectCopyMethod(directory: string): Promise<CopyMethod> {
  const a = join(directory, `.cow-probe-${process.pid}-a`);
  const b = join(directory, `.cow-probe-${process.pid}-b`);
  try {
    await writeFile(a, Buffer.alloc(4096, 1));
    await copyFile(a, b, constants.COPYFILE_FICLONE_FORCE);
    return 'reflink';
  } catch {
    return 'sparse-copy';
  } finally {
    await rm(a, { force: true });
    await rm(b, { force: true });
  }
}
