import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBackend, BackendError } from '../../src/backends/file.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';

const GiB = 1024 ** 3;
let dir: TempDir;
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await dir.cleanup();
});

test('create makes a sparse file of the requested size without writing data', async () => {
  const b = new FileBackend(join(dir.path, 'vols'));
  await b.create('v1', 10 * GiB);
  const st = await stat(b.devicePath('v1'));
  assert.equal(st.size, 10 * GiB);
  // A sparse file has (almost) no blocks allocated; 10 GiB of zeroes would need ~20M blocks.
  assert.ok(st.blocks <= 8, `expected a sparse file, got ${st.blocks} blocks`);
  assert.equal(b.devicePath('v1'), join(dir.path, 'vols', 'volume-v1'));
  assert.equal(await b.exists('v1'), true);
});

test('create is accepted again at the same size and refused at another size', async () => {
  const b = new FileBackend(dir.path);
  await b.create('again', GiB);
  await b.create('again', GiB);
  await assert.rejects(b.create('again', 2 * GiB), BackendError);
});

test('extend grows the file, keeps data and stays sparse; shrinking is refused', async () => {
  const b = new FileBackend(dir.path);
  await b.create('grow', GiB);
  const fh = await open(b.devicePath('grow'), 'r+');
  await fh.write(Buffer.from('hello'), 0, 5, 4096);
  await fh.close();
  await b.extend('grow', 3 * GiB);
  const st = await stat(b.devicePath('grow'));
  assert.equal(st.size, 3 * GiB);
  assert.ok(st.blocks <= 64, `extend must not write zeroes, got ${st.blocks} blocks`);
  const back = await open(b.devicePath('grow'), 'r');
  const buf = Buffer.alloc(5);
  await back.read(buf, 0, 5, 4096);
  await back.close();
  assert.equal(buf.toString(), 'hello');
  await b.extend('grow', 3 * GiB); // same size: no-op
  await assert.rejects(b.extend('grow', GiB), /cannot shrink/);
  await assert.rejects(b.extend('missing', GiB), /no backing file/);
});

test('delete removes the file and is idempotent', async () => {
  const b = new FileBackend(dir.path);
  await b.create('gone', GiB);
  await b.delete('gone');
  assert.equal(await b.exists('gone'), false);
  await b.delete('gone');
  await b.delete('never-existed');
});

test('list returns the volume ids that have files and ignores other files', async () => {
  const sub = join(dir.path, 'listing');
  const b = new FileBackend(sub);
  assert.deepEqual(await b.list(), []);
  await b.create('b', GiB);
  await b.create('a', GiB);
  await writeFile(join(sub, 'unrelated.txt'), 'x');
  assert.deepEqual(await b.list(), ['a', 'b']);
});

test('ids that could escape the directory are refused', async () => {
  const b = new FileBackend(dir.path);
  assert.throws(() => b.devicePath('../etc'), BackendError);
  assert.throws(() => b.devicePath('a/b'), BackendError);
  await assert.rejects(b.create('', GiB), BackendError);
});

test('capacity: statfs of the volume directory, or of its nearest existing parent before the first create', async () => {
  const { statfs } = await import('node:fs/promises');
  const b = new FileBackend(join(dir.path, 'not-yet', 'vols'));
  const c = await b.capacity();
  const s = await statfs(dir.path);
  assert.equal(c.totalBytes, s.blocks * s.bsize);
  assert.ok(c.freeBytes > 0 && c.freeBytes <= c.totalBytes);
});
