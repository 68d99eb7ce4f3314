// Copy-on-write copies of volume files. A reflink (FICLONE) shares the source's extents, so a snapshot or a
// clone costs no space and no time until either side is written; where the filesystem cannot reflink
// (ext4, overlay) the fallback copies only the data extents and leaves holes as holes, so a sparse
// volume stays sparse. Which method a directory gets is detected once, by trying it.
import { constants } from 'node:fs';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
