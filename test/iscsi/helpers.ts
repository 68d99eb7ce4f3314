// Shared helpers for iSCSI tests: a target server on 127.0.0.1 with a LUN on a sparse file,
// and runners for the real libiscsi / qemu initiators.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { createLogicalUnit, ScsiTargetDevice } from '../../src/scsi/index.js';
import { IscsiTargetServer, type IscsiServerOptions } from '../../src/iscsi/server.js';

export const TARGET_IQN = 'iqn.2010-10.org.openstack:volume-test';
export const INITIATOR = 'iqn.2007-10.com.test:client';
export const INITIATOR2 = 'iqn.2007-10.com.test:client2';

/** A sparse file of `bytes` opened as the real FileBlockDevice. */
export async function openSparseDevice(path: string, bytes: number): Promise<FileBlockDevice> {
  await writeFile(path, '');
  await truncate(path, bytes);
  return FileBlockDevice.open(path);
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'embervol-iscsi-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
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
  const { dir, cleanup } = await tempDir();
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

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 20000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export function iscsiUrl(port: number, iqn = TARGET_IQN, lun: number | null = 0, chap?: { username: string; password: string }): string {
  const auth = chap ? `${encodeURIComponent(chap.username)}%${encodeURIComponent(chap.password)}@` : '';
  return `iscsi://${auth}127.0.0.1:${port}/${iqn}${lun === null ? '' : `/${lun}`}`;
}

export function qemuJson(port: number, opts: { initiator?: string; iqn?: string; chap?: { username: string; password: string }; headerDigest?: string } = {}): string {
  const file: Record<string, unknown> = {
    driver: 'iscsi',
    transport: 'tcp',
    portal: `127.0.0.1:${port}`,
    target: opts.iqn ?? TARGET_IQN,
    lun: 0,
    'initiator-name': opts.initiator ?? INITIATOR,
  };
  if (opts.chap) {
    file.user = opts.chap.username;
    file.password = opts.chap.password;
  }
  if (opts.headerDigest) file['header-digest'] = opts.headerDigest;
  return `json:${JSON.stringify({ driver: 'raw', file })}`;
}
