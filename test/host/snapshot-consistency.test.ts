// A snapshot of an attached volume holds every write the builtin target acknowledged before it and none it
// accepted after. A real initiator (qemu-io over iSCSI) writes numbered blocks in order, each acknowledged
// before the next is sent, while the volume host takes snapshots; every snapshot must then be an exact prefix
// of the sequence: blocks 0..k-1 whole with their numbers, block k onwards never written. A group snapshot of two
// volumes written alternately must be a prefix of the combined sequence taken together (the target quiesces both
// logical units at once); taking the members one after the other fails this test. Both run on the default
// filesystem (a sparse copy, cp reading through the page cache) and on XFS with reflink (FICLONE, which must write
// the volume's dirty pages back itself: the quiesce window holds no flush).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBackend } from '../../src/backends/file.js';
import { createVolumeHost } from '../../src/host/local-host.js';
import type { HostLifecycle, VolumeHost } from '../../src/host/types.js';
import { silentLogger } from '../../src/log.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { qemuIo, qemuIscsiJson, qemuTarget, type QemuIscsiTarget } from '../support/qemu.js';
import { runProcess } from '../../src/util/exec.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { mountXfsReflink, type XfsMount } from '../support/xfs.js';

const BLOCK = 64 * 1024;
const WRITES = 80;
const pattern = (i: number) => (i % 251) + 1;

/**
 * The index of the first block never written; throws when the file is not an exact prefix of its writes. Block i
 * should hold the byte `expected(i)`: `pattern` for one volume written in order, `pairPattern` for a pair.
 */
async function prefixLength(path: string, blocks = WRITES, expected: (i: number) => number = pattern): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    let k = -1;
    for (let i = 0; i < blocks; i++) {
      await fh.read(buf, 0, BLOCK, i * BLOCK);
      const first = buf[0];
      if (!buf.every((b) => b === first)) throw new Error(`block ${i} is torn`);
      if (first === 0) {
        if (k < 0) k = i;
        continue;
      }
      if (k >= 0) throw new Error(`block ${i} was written but block ${k} before it was not: not a prefix`);
      if (first !== expected(i)) throw new Error(`block ${i} holds ${first}, expected ${expected(i)}`);
    }
    return k < 0 ? blocks : k;
  } finally {
    await fh.close();
  }
}

/** For one volume of a pair written alternately: its block j holds write `2j + parity`. */
const pairPattern = (parity: 0 | 1) => (j: number) => pattern(2 * j + parity);

/**
 * How many blocks from the start of the live volume file hold their write whole: a lenient read, beside the target
 * writing (a block being written may be half there). What the file holds, the target had at least accepted.
 */
async function writtenSoFar(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    for (let i = 0; i < WRITES; i++) {
      await fh.read(buf, 0, BLOCK, i * BLOCK);
      if (!buf.every((b) => b === pattern(i))) return i;
    }
    return WRITES;
  } finally {
    await fh.close();
  }
}

for (const filesystem of ['default', 'xfs-reflink'] as const) {
  describe(`on the ${filesystem} filesystem`, () => {
    let dir: TempDir;
    let xfs: XfsMount | undefined;
    let backend: FileBackend;
    let host: VolumeHost & HostLifecycle;
    before(async () => {
      dir = await makeTempDir();
      if (filesystem === 'xfs-reflink') xfs = await mountXfsReflink(dir.path, 2 * 1024 ** 3);
      backend = new FileBackend(join(xfs?.path ?? dir.path, 'volumes'));
      const method = await backend.prepare();
      if (filesystem === 'xfs-reflink') assert.equal(method, 'reflink');
      const target = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
      host = createVolumeHost({ backend, target, logger: silentLogger(), hostName: 'consistency', portals: [] });
      await host.start();
    });
    after(async () => {
      await host?.stop();
      await xfs?.unmount();
      await dir?.cleanup();
    });

    test('every snapshot taken while a real initiator writes in order is an exact prefix of its writes', async () => {
      const id = 'consistent-vol';
      await host.createVolume(id, 1);
      const initiator = 'iqn.2026-12.test:consistency';
      const conn = await host.connect({ id, sizeGiB: 1, providerLocation: null, providerAuth: null }, { initiator }, 'rw');
      const writer = qemuIo(
        qemuTarget(conn.data, initiator),
        Array.from({ length: WRITES }, (_, i) => `write -P ${pattern(i)} ${i * BLOCK} ${BLOCK}`),
        120_000,
      );
      let done = false;
      void writer.finally(() => {
        done = true;
      });
      const snaps: string[] = [];
      // Per snapshot: blocks in the file before the request (all must be in it: the target drains writes in
      // flight, and a dirty page the copy missed would show here) and after it returned (none beyond may be).
      const bounds: [number, number][] = [];
      while (!done) {
        const snap = `snap-${snaps.length}`;
        const least = await writtenSoFar(backend.devicePath(id));
        await host.createSnapshot(id, snap);
        bounds.push([least, await writtenSoFar(backend.devicePath(id))]);
        snaps.push(snap);
        await new Promise((r) => setTimeout(r, 50));
      }
      const result = await writer;
      assert.equal(result.code, 0, result.stderr);
      const lengths: number[] = [];
      for (const s of snaps) lengths.push(await prefixLength(backend.snapshotPath(s)));
      lengths.forEach((n, i) => {
        const [least, most] = bounds[i]!;
        assert.ok(least <= n && n <= most, `snapshot ${i} holds ${n} writes; the file held ${least} before it and ${most} after`);
      });
      // Snapshots are taken one after another, so their prefixes only grow; some fall strictly inside the run.
      for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] >= lengths[i - 1], `prefixes ${lengths.join(',')}`);
      assert.ok(lengths.some((n) => n > 0 && n < WRITES), `no snapshot fell inside the write sequence: ${lengths.join(',')}`);
      assert.equal(await prefixLength(backend.devicePath(id)), WRITES);
    });

    test('a group snapshot of two volumes written alternately is, taken together, a prefix of the combined writes', async () => {
      const ids = ['group-vol-a', 'group-vol-b'] as const;
      const initiator = 'iqn.2026-12.test:group-consistency';
      const targets: QemuIscsiTarget[] = [];
      for (const id of ids) {
        await host.createVolume(id, 1);
        const conn = await host.connect({ id, sizeGiB: 1, providerLocation: null, providerAuth: null }, { initiator }, 'rw');
        targets.push(qemuTarget(conn.data, initiator));
      }
      const total = 80;
      // One qemu-io writes them all in order: write i goes to volume i % 2, block i >> 1, each acknowledged before the
      // next is sent. It switches volumes by closing one and opening the other (an iSCSI logout and login).
      const commands = Array.from({ length: total }, (_, i) => [`open ${qemuIscsiJson(targets[i % 2]!)}`, `write -P ${pattern(i)} ${(i >> 1) * BLOCK} ${BLOCK}`, 'close']).flat();
      const writer = runProcess('qemu-io', commands.flatMap((c) => ['-c', c]), { timeoutMs: 120_000 });
      let done = false;
      void writer.finally(() => {
        done = true;
      });
      const groups: [string, string][] = [];
      while (!done) {
        const n = groups.length;
        const members: [string, string] = [`gsnap-${n}-a`, `gsnap-${n}-b`];
        await host.createGroupSnapshot([
          { volumeId: ids[0], snapshotId: members[0] },
          { volumeId: ids[1], snapshotId: members[1] },
        ]);
        groups.push(members);
        await new Promise((r) => setTimeout(r, 20));
      }
      const result = await writer;
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stdout, /error|failed/i);
      const combined: number[] = [];
      for (const [a, b] of groups) {
        const ka = await prefixLength(backend.snapshotPath(a), total / 2, pairPattern(0));
        const kb = await prefixLength(backend.snapshotPath(b), total / 2, pairPattern(1));
        // Writes 0..n-1 of the combined sequence: ceil(n/2) on a, floor(n/2) on b. Anything else is a torn group.
        assert.ok(ka === kb || ka === kb + 1, `group snapshot ${a}/${b} is not a prefix of the combined writes: a holds ${ka}, b holds ${kb}`);
        combined.push(ka + kb);
      }
      for (let i = 1; i < combined.length; i++) assert.ok(combined[i]! >= combined[i - 1]!, `prefixes ${combined.join(',')}`);
      assert.ok(combined.some((n) => n > 0 && n < total), `no group snapshot fell inside the write sequence: ${combined.join(',')}`);
      assert.equal(await prefixLength(backend.devicePath(ids[0]), total / 2, pairPattern(0)), total / 2);
      assert.equal(await prefixLength(backend.devicePath(ids[1]), total / 2, pairPattern(1)), total / 2);
    });
  });
}
