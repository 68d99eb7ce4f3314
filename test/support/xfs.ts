// An XFS filesystem with reflink, made on a sparse image file and loop-mounted (needs root and xfsprogs, which
// scripts/install-peers.sh installs): where the file backend's snapshots and clones are reflinks (FICLONE).
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked, runProcess } from '../../src/util/exec.js';

export interface XfsMount {
  path: string;
  unmount(): Promise<void>;
}

/** Makes `sizeBytes` of XFS (reflink=1) in `directory` and mounts it at `directory`/xfs. */
export async function mountXfsReflink(directory: string, sizeBytes: number): Promise<XfsMount> {
  const image = join(directory, 'xfs.img');
  const fh = await open(image, 'w');
  await fh.truncate(sizeBytes);
  await fh.close();
  await runChecked('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  const path = join(directory, 'xfs');
  await mkdir(path);
  await runChecked('mount', ['-o', 'loop', image, path]);
  return {
    path,
    unmount: async () => {
      await runProcess('umount', [path]);
    },
  };
}
