// Shared helpers for iSCSI tests: a target server on 127.0.0.1 with a LUN on a sparse file,
// and runners for the real libiscsi / qemu initiators.
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { createLogicalUnit, ScsiTargetDevice } from '../../src/scsi/index.js';
import { IscsiTargetServer, type IscsiServerOptions } from '../../src/iscsi/server.js';
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { iscsiPortalUrl, iscsiUrl as lunUrl } from '../support/libiscsi.js';
import { qemuIscsiJson } from '../support/qemu.js';
import { makeTempDir } from '../support/tmp.js';

export const TARGET_IQN = 'iqn.2010-10.org.openstack:volume-test';
export const INITIATOR = 'iqn.2007-10.com.test:client';
export const INITIATOR2 = 'iqn.2007-10.com.test:client2';

/** A sparse file of `bytes` opened as the real FileBlockDevice. */
export async function openSparseDevice(path: string, bytes: number): Promise<FileBlockDevice> {
  await writeFile(path, '');
  await truncate(path, bytes);
  return FileBlockDevice.open(path);
}

export interface TestTarget {
  server: IscsiTargetServer;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** Starts a server with one target whose LUN 0 is a fresh file of `bytes`. */
export async function startTestTarget(
  opts: {
    bytes?: number;
    chap?: { username: string; password: string };
    mutualChap?: { username: string; password: string };
    initiators?: string[];
    server?: Partial<IscsiServerOptions>;
  } = {},
): Promise<TestTarget> {
  const { path: dir, cleanup } = await makeTempDir('embervol-iscsi-');
  const server = new IscsiTargetServer({ createLunMap: () => new ScsiTargetDevice(), nopInIntervalMs: 0, ...opts.server });
  const dev = await openSparseDevice(join(dir, 'lun0.img'), opts.bytes ?? 16 << 20);
  const lu = createLogicalUnit(dev, {
    vendor: 'EMBERVOL',
    product: 'TEST',
    revision: '0001',
    serial: 'testserial0001',
    uniqueId: Buffer.alloc(16, 7),
  });
  server.createTarget(TARGET_IQN, { chap: opts.chap ?? null, mutualChap: opts.mutualChap ?? null });
  server.addLun(TARGET_IQN, 0, lu);
  for (const i of opts.initiators ?? [INITIATOR]) server.allowInitiator(TARGET_IQN, i);
  const { port } = await server.listen('127.0.0.1', 0);
  return {
    server,
    port,
    dir,
    async stop() {
      await server.close();
      await lu.close();
      await cleanup();
    },
  };
}

export type { RunResult };

/** Runs a real initiator tool; its exit code and output come back, a refusal is not thrown. */
export function run(cmd: string, args: string[], timeoutMs = 20000): Promise<RunResult> {
  return runProcess(cmd, args, { timeoutMs });
}

/** libiscsi URL of a LUN of the test target on 127.0.0.1. */
export function iscsiUrl(port: number, iqn = TARGET_IQN, lun = 0, chap?: { username: string; password: string }): string {
  return lunUrl({ host: '127.0.0.1', port, iqn, lun, user: chap?.username, password: chap?.password });
}

/** libiscsi URL of the test target's portal on 127.0.0.1, for discovery. */
export function portalUrl(port: number, chap?: { username: string; password: string }): string {
  return iscsiPortalUrl('127.0.0.1', port, chap?.username, chap?.password);
}

/** qemu's json: filename for LUN 0 of the test target on 127.0.0.1. */
export function qemuJson(port: number, opts: { initiator?: string; iqn?: string; chap?: { username: string; password: string }; headerDigest?: string } = {}): string {
  return qemuIscsiJson({
    portal: `127.0.0.1:${port}`,
    iqn: opts.iqn ?? TARGET_IQN,
    lun: 0,
    initiatorName: opts.initiator ?? INITIATOR,
    user: opts.chap?.username,
    password: opts.chap?.password,
    headerDigest: opts.headerDigest,
  });
}
