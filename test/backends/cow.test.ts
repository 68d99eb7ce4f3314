// Snapshots and clones of volume files on two real filesystems: the default one here (ext4 or overlay: no
// reflink, so a sparse copy) and an XFS filesystem with reflink=1 that this test makes on a sparse file and
// loop-mounts (root). On XFS the copies share extents (filefrag -v reports them "shared") and df does not grow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBackend } from '../../src/backends/file.js';
import { runChecked } from '../../src/util/exec.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { mountXfsReflink, type XfsMount } from '../support/xfs.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
let dir: TempDir;
let xfs: XfsMount | undefined;
let xfsMount: string;
before(async () => {
  dir = await makeTempDir();
  // An XFS image of 1 GiB on a sparse file, with reflink, mounted on a loop device.
  xfs = await mountXfsReflink(dir.path, GiB);
  xfsMount = xfs.path;
});
after(async () => {
  await xfs?.unmount();
  await dir?.cleanup();
});

/** A 1 GiB volume with 8 MiB of data at 0 and 8 MiB at 512 MiB, the rest holes. */
async function volumeWithData(b: FileBackend, id: string): Promise<Buffer> {
  await b.create(id, GiB);
  const data = Buffer.alloc(8 * MiB);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i ^ 0x5a5a5a5a, i);
  const fh = await open(b.devicePath(id), 'r+');
  await fh.write(data, 0, data.length, 0);
  await fh.write(data, 0, data.length, 512 * MiB);
  await fh.sync();
  await fh.close();
  return data;
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fh.close();
  }
}

async function usedBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return (s.blocks - s.bfree) * s.bsize;
}

test('default filesystem: sparse copy keeps data and holes; snapshot and volume are independent', async () => {
  const b = new FileBackend(join(dir.path, 'default'));
  const method = await b.prepare();
  const fsType = (await runChecked('stat', ['-f', '-c', '%T', b.directory])).stdout.trim();
  // ext4 and overlay cannot reflink; on a filesystem that can, the copies below hold just the same.
  if (fsType === 'ext2/ext3' || fsType === 'overlayfs') assert.equal(method, 'sparse-copy');
  const data = await volumeWithData(b, 'v');
  await b.createSnapshot('v', 's');
  const st = await stat(b.snapshotPath('s'));
  assert.equal(st.size, GiB);
  assert.ok(st.blocks * 512 < 64 * MiB, `the copy stayed sparse (${st.blocks * 512} bytes allocated)`);
  assert.deepEqual(await readRange(b.snapshotPath('s'), 512 * MiB, data.length), data);
  // Writes to the volume do not reach the snapshot, and deleting the volume leaves the snapshot whole.
  await writeFile(b.devicePath('v'), 'overwritten', { flag: 'r+' });
  assert.deepEqual(await readRange(b.snapshotPath('s'), 0, 16), data.subarray(0, 16));
  await b.createFrom('c', { kind: 'snapshot', id: 's' }, 2 * GiB);
  assert.equal((await stat(b.devicePath('c'))).size, 2 * GiB);
  await b.delete('v');
  assert.deepEqual(await readRange(b.snapshotPath('s'), 0, data.length), data);
  await b.deleteSnapshot('s');
  assert.deepEqual(await readRange(b.devicePath('c'), 512 * MiB, data.length), data);
  assert.deepEqual(await b.listSnapshots(), []);
});

test('XFS with reflink=1: snapshot and clone share extents (filefrag "shared"), df does not grow, CoW on write', async () => {
  const b = new FileBackend(join(xfsMount, 'volumes'));
  assert.equal(await b.prepare(), 'reflink');
  const data = await volumeWithData(b, 'v');
  const usedBefore = await usedBytes(xfsMount);
  await b.createSnapshot('v', 's');
  await b.createFrom('clone', { kind: 'volume', id: 'v' }, GiB);
  const usedAfter = await usedBytes(xfsMount);
  // 16 MiB of data copied twice would add 32 MiB; shared extents add only metadata.
  assert.ok(usedAfter - usedBefore < 2 * MiB, `df grew by ${usedAfter - usedBefore} bytes`);
  for (const path of [b.devicePath('v'), b.snapshotPath('s'), b.devicePath('clone')]) {
    const frag = (await runChecked('filefrag', ['-v', path])).stdout;
    assert.match(frag, /shared/, `filefrag -v ${path} reports shared extents:\n${frag}`);
  }
  // A write to the volume is copied-on-write: the snapshot keeps the old bytes.
  const fh = await open(b.devicePath('v'), 'r+');
  await fh.write(Buffer.from('new bytes'), 0, 9, 0);
  await fh.close();
  assert.deepEqual(await readRange(b.snapshotPath('s'), 0, 16), data.subarray(0, 16));
  // Revert puts the snapshot back in place (same inode), still by reflink.
  const inode = (await stat(b.devicePath('v'))).ino;
  await b.revert('v', 's');
  assert.equal((await stat(b.devicePath('v'))).ino, inode);
  assert.deepEqual(await readRange(b.devicePath('v'), 0, data.length), data);
  await b.delete('v');
  assert.deepEqual(await readRange(b.snapshotPath('s'), 512 * MiB, data.length), data);
  assert.deepEqual(await readRange(b.devicePath('clone'), 512 * MiB, data.length), data);
});

test('a copy cut off leaves only a temporary file, which prepare removes; a retried create finishes', async () => {
  const b = new FileBackend(join(dir.path, 'retry'));
  await b.prepare();
  await volumeWithData(b, 'v');
  // What a kill -9 during createSnapshot leaves: a partial temporary copy, no snapshot file.
  await writeFile(join(b.directory, '.tmp-snapshot-s'), 'partial');
  assert.deepEqual(await b.listSnapshots(), []);
  await b.prepare();
  assert.equal(await stat(join(b.directory, '.tmp-snapshot-s')).catch(() => null), null);
  await b.createSnapshot('v', 's');
  await b.createSnapshot('v', 's');
  assert.deepEqual(await b.listSnapshots(), ['s']);
  await b.createFrom('c', { kind: 'snapshot', id: 's' }, GiB);
  await b.createFrom('c', { kind: 'snapshot', id: 's' }, GiB);
  await assert.rejects(b.createFrom('c', { kind: 'snapshot', id: 's' }, 2 * GiB), /different size/);
  await assert.rejects(b.createFrom('d', { kind: 'snapshot', id: 'missing' }, GiB), /no backing file/);
  assert.equal(await b.exists('d'), false);
});
