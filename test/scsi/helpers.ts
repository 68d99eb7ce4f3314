// Test helpers: a logical unit over a real sparse temp file, and CDB builders.
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { createLogicalUnit, type BlockLogicalUnit } from '../../src/scsi/logical-unit.js';
import type { LogicalUnitIdentity, ScsiCommand, ScsiResult } from '../../src/scsi/types.js';
import { makeTempDir } from '../support/tmp.js';

export const BS = 512;

export const identity: LogicalUnitIdentity = {
  vendor: 'EMBERVOL',
  product: 'VOLUME',
  revision: '0001',
  serial: 'vol-0123456789abcdef',
  uniqueId: Buffer.from('0123456789abcdef0123456789abcdef', 'hex'),
};

export interface Fixture {
  dir: string;
  path: string;
  dev: FileBlockDevice;
  lu: BlockLogicalUnit;
  /** Runs a command as nexus A (default) after its power-on unit attention was consumed. */
  run(cdb: Buffer | number[], opts?: Partial<Omit<ScsiCommand, 'cdb'>>): Promise<ScsiResult>;
  cleanup(): Promise<void>;
}

export const NEXUS_A = 'iqn.2024-01.test:a,i,0x000000000001';
export const NEXUS_B = 'iqn.2024-01.test:b,i,0x000000000002';

export async function fixture(opts: { blocks?: number; readOnly?: boolean } = {}): Promise<Fixture> {
  const tmp = await makeTempDir('embervol-scsi-');
  const dir = tmp.path;
  const path = join(dir, 'vol.img');
  await writeFile(path, '');
  await truncate(path, (opts.blocks ?? 2048) * BS);
  const dev = await FileBlockDevice.open(path, { blockSize: BS, readOnly: opts.readOnly });
  const lu = createLogicalUnit(dev, identity);
  const seen = new Set<string>();
  const run = async (cdb: Buffer | number[], o: Partial<Omit<ScsiCommand, 'cdb'>> = {}): Promise<ScsiResult> => {
    const nexus = o.nexus ?? NEXUS_A;
    if (!seen.has(nexus)) {
      seen.add(nexus);
      const ua = await lu.execute({ cdb: tur(), expectedDataLength: 0, nexus, readOnly: false });
      assert.equal(ua.status, 2, 'first command of a nexus sees POWER ON, RESET');
    }
    return lu.execute({
      cdb: Buffer.isBuffer(cdb) ? cdb : Buffer.from(cdb),
      expectedDataLength: o.expectedDataLength ?? 1 << 20,
      nexus,
      readOnly: o.readOnly ?? false,
      dataOut: o.dataOut,
    });
  };
  return {
    dir,
    path,
    dev,
    lu,
    run,
    cleanup: async () => {
      await lu.close();
      await tmp.cleanup();
    },
  };
}

/** Asserts CHECK CONDITION with the given sense key and asc/ascq (packed as in Asc). */
export function assertSense(r: ScsiResult, key: number, ascq: number): Buffer {
  assert.equal(r.status, 2, `expected CHECK CONDITION, got status ${r.status}`);
  const s = r.sense!;
  assert.equal(s[0] & 0x7f, 0x70);
  assert.equal(s[2] & 0x0f, key, `sense key ${s[2] & 0x0f} != ${key}`);
  assert.equal((s[12] << 8) | s[13], ascq, `asc/ascq ${((s[12] << 8) | s[13]).toString(16)} != ${ascq.toString(16)}`);
  return s;
}

export function assertGood(r: ScsiResult): void {
  assert.equal(r.status, 0, `expected GOOD, got ${r.status} sense ${r.sense?.toString('hex')}`);
}

export const tur = (): Buffer => Buffer.alloc(6);

function cdb(len: number, fill: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(len);
  fill(b);
  return b;
}

export const rw16 = (op: number, lba: number | bigint, blocks: number, flags = 0): Buffer =>
  cdb(16, (b) => {
    b[0] = op;
    b[1] = flags;
    b.writeBigUInt64BE(BigInt(lba), 2);
    b.writeUInt32BE(blocks, 10);
  });
export const rw12 = (op: number, lba: number, blocks: number, flags = 0): Buffer =>
  cdb(12, (b) => {
    b[0] = op;
    b[1] = flags;
    b.writeUInt32BE(lba, 2);
    b.writeUInt32BE(blocks, 6);
  });
export const rw6 = (op: number, lba: number, blocks: number): Buffer =>
  cdb(6, (b) => {
    b[0] = op;
    b[1] = (lba >> 16) & 0x1f;
    b.writeUInt16BE(lba & 0xffff, 2);
    b[4] = blocks & 0xff;
  });
export const cdb10 = (op: number, lba: number, blocks: number, flags = 0): Buffer =>
  cdb(10, (b) => {
    b[0] = op;
    b[1] = flags;
    b.writeUInt32BE(lba, 2);
    b.writeUInt16BE(blocks, 7);
  });
export const read10 = (lba: number, blocks: number, flags = 0): Buffer => cdb10(0x28, lba, blocks, flags);
export const write10 = (lba: number, blocks: number, flags = 0): Buffer => cdb10(0x2a, lba, blocks, flags);
export const inquiryCdb = (evpd: boolean, page: number, alloc = 255): Buffer =>
  cdb(6, (b) => {
    b[0] = 0x12;
    b[1] = evpd ? 1 : 0;
    b[2] = page;
    b.writeUInt16BE(alloc, 3);
  });
export const pattern = (blocks: number, seed: number): Buffer => {
  const b = Buffer.alloc(blocks * BS);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
};
