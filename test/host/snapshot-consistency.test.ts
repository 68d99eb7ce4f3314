// A snapshot of an attached volume holds every write the builtin target acknowledged before it and none it
// accepted after. A real initiator (qemu-io over iSCSI) writes numbered blocks in order, each acknowledged
// before the next is sent, while the volume host takes snapshots; every snapshot must then be an exact prefix
// of the sequence: blocks 0..k-1 whole with their numbers, block k onwards never written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBackend } from '../../src/backends/file.js';
import { createVolumeHost } from '../../src/host/local-host.js';
import type { HostLifecycle, VolumeHost } from '../../src/host/types.js';
import { silentLogger } from '../../src/log.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { qemuIo } from '../support/qemu.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';

const BLOCK = 64 * 1024;
const WRITES = 80;
const pattern = (i: number) => (i % 251) + 1;

let dir: TempDir;
let backend: FileBackend;
let host: VolumeHost & HostLifecycle;
before(async () => {
  dir = await makeTempDir();
  backend = new FileBackend(join(dir.path, 'volumes'));
  const target = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
  host = createVolumeHost({ backend, target, logger: silentLogger(), hostName: 'consistency', portals: [] });
  await host.start();
});
after(async () => {
  await host?.stop();
  await dir?.cleanup();
});

/** The index of the first block never written; throws when the file is not an exact prefix of the sequence. */
async function prefixLength(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    let k = -1;
    for (let i = 0; i < WRITES; i++) {
      await fh.read(buf, 0, BLOCK, i * BLOCK);
      const first = buf[0];
      if (!buf.every((b) => b === first)) throw new Error(`block ${i} is torn`);
      if (first === 0) {
        if (k < 0) k = i;
        continue;
      }
      if (k >= 0) throw new Error(`block ${i} was written but block ${k} before it was not: not a prefix`);
      if (first !== pattern(i)) throw new Error(`block ${i} holds ${first}, expected ${pattern(i)}`);
    }
    return k < 0 ? WRITES : k;
  } finally {
    await fh.close();
  }
}

test('every snapshot taken while a real initiator writes in order is an exact prefix of its writes', async () => {
  const id = 'consistent-vol';
  await host.createVolume(id, 1);
  const initiator = 'iqn.2026-12.test:consistency';
  const conn = await host.connect({ id, sizeGiB: 1, providerLocation: null, providerAuth: null }, { initiator }, 'rw');
  const writer = qemuIo(
    {
      portal: conn.data.target_portal,
      iqn: conn.data.target_iqn,
      lun: conn.data.target_lun,
      user: conn.data.auth_username,
      password: conn.data.auth_password,
      initiatorName: initiator,
    },
    Array.from({ length: WRITES }, (_, i) => `write -P ${pattern(i)} ${i * BLOCK} ${BLOCK}`),
    120_000,
  );
  let done = false;
  void writer.finally(() => {
    done = true;
  });
  const snaps: string[] = [];
  while (!done) {
    const snap = `snap-${snaps.length}`;
    await host.createSnapshot(id, snap);
    snaps.push(snap);
    await new Promise((r) => setTimeout(r, 50));
  }
  const result = await writer;
  assert.equal(result.code, 0, result.stderr);
  const lengths: number[] = [];
  for (const s of snaps) lengths.push(await prefixLength(backend.snapshotPath(s)));
  // Snapshots are taken one after another, so their prefixes only grow; some fall strictly inside the run.
  for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] >= lengths[i - 1], `prefixes ${lengths.join(',')}`);
  assert.ok(lengths.some((n) => n > 0 && n < WRITES), `no snapshot fell inside the write sequence: ${lengths.join(',')}`);
  assert.equal(await prefixLength(backend.devicePath(id)), WRITES);
});
