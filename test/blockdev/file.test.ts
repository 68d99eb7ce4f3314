import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/blockdev/file.js';

async function tempFile(bytes: number): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'embervol-blockdev-'));
  const path = join(dir, 'vol.img');
  await writeFile(path, '');
  await truncate(path, bytes);
  return { dir, path };
}

const filled = (len: number, byte: number): Buffer => Buffer.alloc(len, byte);

test('positioned writes read back, and untouched ranges of a sparse file read as zeroes', async () => {
  const { dir, path } = await tempFile(1 << 20);
  const dev = await FileBlockDevice.open(path);
  try {
    assert.equal(dev.blockSize, 512);
    assert.equal(dev.size(), 1 << 20);
    await dev.write(4096, filled(8192, 0xab), false);
    assert.deepEqual(await dev.read(4096, 8192), filled(8192, 0xab));
    assert.deepEqual(await dev.read(0, 4096), Buffer.alloc(4096));
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('a FUA write is on disk when it completes: a fresh open reads it back', async () => {
  const { dir, path } = await tempFile(1 << 20);
  const dev = await FileBlockDevice.open(path);
  await dev.write(512 * 7, filled(512, 0x5a), true);
  const other = await FileBlockDevice.open(path, { readOnly: true });
  try {
    assert.deepEqual(await other.read(512 * 7, 512), filled(512, 0x5a));
  } finally {
    await other.close();
    await dev.close();
  }
  const reopened = await FileBlockDevice.open(path);
  assert.deepEqual(await reopened.read(512 * 7, 512), filled(512, 0x5a));
  await reopened.close();
  await rm(dir, { recursive: true });
});

test('discard punches a hole: allocated blocks drop and the range reads zeroes, file size unchanged', async () => {
  const { dir, path } = await tempFile(4 << 20);
  const dev = await FileBlockDevice.open(path);
  try {
    await dev.write(0, filled(4 << 20, 0x11), false);
    await dev.flush();
    const before = (await stat(path)).blocks;
    await dev.discard(1 << 20, 2 << 20);
    const after = await stat(path);
    assert.ok(after.blocks <= before - 4096 + 8, `st_blocks ${before} -> ${after.blocks}`);
    assert.equal(after.size, 4 << 20);
    assert.deepEqual(await dev.read(1 << 20, 2 << 20), Buffer.alloc(2 << 20));
    assert.deepEqual(await dev.read(0, 1 << 20), filled(1 << 20, 0x11));
    assert.deepEqual(await dev.read(3 << 20, 1 << 20), filled(1 << 20, 0x11));
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('many discards in one tick are all applied: scattered ones punched, touching ones merged', async () => {
  const { dir, path } = await tempFile(8 << 20);
  const dev = await FileBlockDevice.open(path);
  try {
    await dev.write(0, filled(8 << 20, 0x22), false);
    await dev.flush();
    const before = (await stat(path)).blocks;
    // 300 scattered 8 KiB holes, every 16 KiB from 1 MiB on
    const scattered = Array.from({ length: 300 }, (_, i) => (1 << 20) + i * 16384);
    // and 256 touching 512-byte ranges that only deallocate once merged
    const touching = Array.from({ length: 256 }, (_, i) => i * 512);
    await Promise.all([...scattered.map((off) => dev.discard(off, 8192)), ...touching.map((off) => dev.discard(off, 512))]);
    const after = (await stat(path)).blocks;
    const expectedFreed = (300 * 8192 + 256 * 512) / 512;
    assert.ok(after <= before - expectedFreed + 64, `st_blocks ${before} -> ${after}`);
    assert.deepEqual(await dev.read(0, 256 * 512), Buffer.alloc(256 * 512));
    for (const off of [scattered[0], scattered[150], scattered[299]]) {
      assert.deepEqual(await dev.read(off, 8192), Buffer.alloc(8192));
      assert.deepEqual(await dev.read(off + 8192, 8192), filled(8192, 0x22));
    }
    // A discard past the end is clamped, not an error.
    await dev.discard((8 << 20) - 512, 4096);
    assert.equal((await stat(path)).size, 8 << 20);
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('a discard not aligned to the allocation unit zeroes its head and tail and punches the middle', async () => {
  const { dir, path } = await tempFile(1 << 20);
  const dev = await FileBlockDevice.open(path);
  try {
    await dev.write(0, filled(1 << 20, 0x44), false);
    await dev.discard(512, 64 * 1024);
    assert.deepEqual(await dev.read(0, 512), filled(512, 0x44));
    assert.deepEqual(await dev.read(512, 64 * 1024), Buffer.alloc(64 * 1024));
    assert.deepEqual(await dev.read(512 + 64 * 1024, 512), filled(512, 0x44));
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('size() is cached until refreshSize() after the file grows', async () => {
  const { dir, path } = await tempFile(1 << 20);
  const dev = await FileBlockDevice.open(path);
  try {
    await truncate(path, 2 << 20);
    assert.equal(dev.size(), 1 << 20);
    await dev.refreshSize();
    assert.equal(dev.size(), 2 << 20);
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('a read-only device refuses writes and discards with EROFS', async () => {
  const { dir, path } = await tempFile(1 << 20);
  const dev = await FileBlockDevice.open(path, { readOnly: true });
  try {
    assert.equal(dev.readOnly, true);
    await assert.rejects(async () => dev.write(0, filled(512, 1), false), { code: 'EROFS' });
    await assert.rejects(dev.discard(0, 512), { code: 'EROFS' });
    assert.deepEqual(await dev.read(0, 512), Buffer.alloc(512));
  } finally {
    await dev.close();
    await rm(dir, { recursive: true });
  }
});

test('open rejects a bad block size and a missing file', async () => {
  const { dir, path } = await tempFile(4096);
  await assert.rejects(FileBlockDevice.open(path, { blockSize: 1000 }), RangeError);
  await assert.rejects(FileBlockDevice.open(join(dir, 'absent.img')), { code: 'ENOENT' });
  await rm(dir, { recursive: true });
});

test('small transfers run synchronously, large ones and every one after a slow one in the thread pool, with the same data', async () => {
  const { dir, path } = await tempFile(4 << 20);
  const fast = await FileBlockDevice.open(path, { io: { syncMaxBytes: 64 * 1024 } });
  const pooled = await FileBlockDevice.open(path, { io: { syncMaxBytes: 0 } });
  // Every synchronous operation counts as slow: after the second in a row, the device stays in the pool for the back-off.
  const slow = await FileBlockDevice.open(path, { io: { slowMicros: -1, backoffMs: 60_000 } });
  try {
    await fast.write(0, filled(4096, 0x31), false);
    await fast.write(1 << 20, filled(1 << 20, 0x32), false);
    assert.deepEqual(fast.ioCounts, { sync: 1, pooled: 1 });
    assert.deepEqual(await pooled.read(0, 4096), filled(4096, 0x31));
    assert.deepEqual(await pooled.read(1 << 20, 1 << 20), filled(1 << 20, 0x32));
    await pooled.write(8192, filled(512, 0x33), true);
    assert.equal(pooled.ioCounts.sync, 0);
    assert.deepEqual(await fast.read(8192, 512), filled(512, 0x33));
    assert.deepEqual(await slow.read(0, 4096), filled(4096, 0x31));
    await slow.write(4096, filled(4096, 0x34), false);
    assert.deepEqual(await slow.read(4096, 4096), filled(4096, 0x34));
    assert.deepEqual(await slow.read(0, 512), filled(512, 0x31));
    assert.deepEqual(slow.ioCounts, { sync: 2, pooled: 2 });
    // A read running past the end of the file (one that shrank under us) gets zeroes for the missing part.
    await fast.write((4 << 20) - 512, filled(512, 0x35), false);
    assert.deepEqual(await fast.read((4 << 20) - 512, 1024), Buffer.concat([filled(512, 0x35), Buffer.alloc(512)]));
  } finally {
    await Promise.all([fast.close(), pooled.close(), slow.close()]);
    await rm(dir, { recursive: true });
  }
});

test('close waits for thread-pool I/O in flight and later I/O fails cleanly', async () => {
  const { dir, path } = await tempFile(8 << 20);
  const dev = await FileBlockDevice.open(path, { io: { syncMaxBytes: 0 } });
  const reads = [0, 1, 2, 3].map((i) => dev.read(i << 20, 1 << 20));
  await dev.close();
  for (const r of await Promise.all(reads)) assert.deepEqual(r, Buffer.alloc(1 << 20));
  await assert.rejects(async () => dev.read(0, 512), { code: 'EBADF' });
  await rm(dir, { recursive: true });
});
