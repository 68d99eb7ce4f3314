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
/** Data the single-volume test puts between its first and its second half of blocks (see addBallast). */
const BALLAST = 96 * 1024 * 1024;
/** Where write i of the single-volume test goes. */
const offsetOf = (i: number) => i * BLOCK + (i >= WRITES / 2 ? BALLAST : 0);
const pattern = (i: number) => (i % 251) + 1;

/** Where a test's writes go in one volume file and what each holds. */
interface WriteLayout {
  blocks: number;
  offsetOf(i: number): number;
  /** The byte block i holds once written. */
  expected(i: number): number;
}

/** The single-volume test: WRITES blocks in order, with the ballast in the middle. */
const SINGLE: WriteLayout = { blocks: WRITES, offsetOf, expected: pattern };

/** One volume of a pair written alternately, back to back: its block j holds write `2j + parity`. */
const pairLayout = (parity: 0 | 1, blocks: number): WriteLayout => ({ blocks, offsetOf: (j) => j * BLOCK, expected: (j) => pattern(2 * j + parity) });

/** The index of the first block never written; throws when the file is not an exact prefix of its writes. */
async function prefixLength(path: string, layout: WriteLayout = SINGLE): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    let k = -1;
    for (let i = 0; i < layout.blocks; i++) {
      await fh.read(buf, 0, BLOCK, layout.offsetOf(i));
      const first = buf[0];
      if (!buf.every((b) => b === first)) throw new Error(`block ${i} is torn`);
      if (first === 0) {
        if (k < 0) k = i;
        continue;
      }
      if (k >= 0) throw new Error(`block ${i} was written but block ${k} before it was not: not a prefix`);
      if (first !== layout.expected(i)) throw new Error(`block ${i} holds ${first}, expected ${layout.expected(i)}`);
    }
    return k < 0 ? layout.blocks : k;
  } finally {
    await fh.close();
  }
}

/**
 * Data between the first and the second half of the blocks the single-volume test writes: a sparse copy spends a
 * while on it, during which the writer moves on, so a copy that did not catch up on writes completed while it ran
 * would hold block WRITES/2 without a block before it.
 */
async function addBallast(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const filler = Buffer.alloc(4 * 1024 * 1024, 0x77);
    for (let at = 0; at < BALLAST; at += filler.length) await fh.write(filler, 0, filler.length, offsetOf(WRITES / 2 - 1) + BLOCK + at);
  } finally {
    await fh.close();
  }
}

/**
 * How many blocks from the start of the live volume file hold their write whole: a lenient read, beside the target
 * writing (a block being written may be half there). What the file holds, the target had at least accepted.
 */
async function writtenSoFar(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    for (let i = 0; i < WRITES; i++) {
      await fh.read(buf, 0, BLOCK, offsetOf(i));
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
      await addBallast(backend.devicePath(id));
      const initiator = 'iqn.2026-12.test:consistency';
      const conn = await host.connect({ id, sizeGiB: 1, providerLocation: null, providerAuth: null }, { initiator }, 'rw');
      const writer = qemuIo(
        qemuTarget(conn.data, initiator),
        // A pause between writes spreads them over the snapshots taken meanwhile.
        Array.from({ length: WRITES }, (_, i) => [`write -P ${pattern(i)} ${offsetOf(i)} ${BLOCK}`, 'sleep 5']).flat(),
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
        const ka = await prefixLength(backend.snapshotPath(a), pairLayout(0, total / 2));
        const kb = await prefixLength(backend.snapshotPath(b), pairLayout(1, total / 2));
        // Writes 0..n-1 of the combined sequence: ceil(n/2) on a, floor(n/2) on b. Anything else is a torn group.
        assert.ok(ka === kb || ka === kb + 1, `group snapshot ${a}/${b} is not a prefix of the combined writes: a holds ${ka}, b holds ${kb}`);
        combined.push(ka + kb);
      }
      for (let i = 1; i < combined.length; i++) assert.ok(combined[i]! >= combined[i - 1]!, `prefixes ${combined.join(',')}`);
      assert.ok(combined.some((n) => n > 0 && n < total), `no group snapshot fell inside the write sequence: ${combined.join(',')}`);
      assert.equal(await prefixLength(backend.devicePath(ids[0]), pairLayout(0, total / 2)), total / 2);
      assert.equal(await prefixLength(backend.devicePath(ids[1]), pairLayout(1, total / 2)), total / 2);
    });
  });
}
