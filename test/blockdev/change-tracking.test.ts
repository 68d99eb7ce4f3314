// The device the builtin target exports through: while tracking, it notes the ranges that writes and discards
// change, at completion, so a copy made beside the writes can be caught up (host/local-host.ts copyBesideWrites).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChangeTrackingDevice } from '../../src/blockdev/change-tracking.js';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { makeTempDir } from '../support/tmp.js';

test('notes completed writes and discards while tracking, merged; a write submitted before tracking began counts', async () => {
  const dir = await makeTempDir();
  const path = join(dir.path, 'vol');
  await writeFile(path, '');
  await truncate(path, 1 << 20);
  // Every transfer through the thread pool: a write is then in flight across startTracking.
  const dev = new ChangeTrackingDevice(await FileBlockDevice.open(path, { io: { syncMaxBytes: 0 } }));
  try {
    await dev.write(0, Buffer.alloc(4096, 1), false);
    const early = dev.write(65536, Buffer.alloc(4096, 2), false);
    assert.ok(early instanceof Promise);
    dev.startTracking();
    await early;
    await dev.write(8192, Buffer.alloc(4096, 3), false);
    await dev.write(12288, Buffer.alloc(4096, 4), false);
    await dev.discard(131072, 65536);
    assert.deepEqual(dev.takeChanges(), [
      { offset: 8192, length: 8192 },
      { offset: 65536, length: 4096 },
      { offset: 131072, length: 65536 },
    ]);
    assert.deepEqual(dev.takeChanges(), []);
    await dev.write(0, Buffer.alloc(512, 5), false);
    assert.deepEqual(dev.takeChanges(), [{ offset: 0, length: 512 }]);
    dev.stopTracking();
    await dev.write(0, Buffer.alloc(512, 6), false);
    assert.throws(() => dev.takeChanges(), /not being tracked/);
    assert.deepEqual(await dev.read(0, 2), Buffer.from([6, 6]));
  } finally {
    await dev.close();
    await dir.cleanup();
  }
});
