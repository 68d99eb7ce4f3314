// Real initiators (libiscsi tools and qemu-io) driven the way an operator would.
import { execFile } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export interface IscsiLogin {
  portal: string;
  iqn: string;
  lun: number;
  initiator: string;
  username?: string;
  password?: string;
}

/** qemu's iscsi driver with its initiator name set (the plain iscsi:// URL cannot carry one). */
export function qemuJsonUrl(l: IscsiLogin): string {
  const file: Record<string, unknown> = {
    driver: 'iscsi',
    transport: 'tcp',
    portal: l.portal,
    target: l.iqn,
    lun: l.lun,
    'initiator-name': l.initiator,
  };
  if (l.username !== undefined) {
    file.user = l.username;
    file.password = l.password;
  }
  return 'json:' + JSON.stringify({ driver: 'raw', file });
}

export function libiscsiUrl(l: IscsiLogin): string {
  const auth = l.username !== undefined ? `${encodeURIComponent(l.username)}%${encodeURIComponent(l.password ?? '')}@` : '';
  return `iscsi://${auth}${l.portal}/${l.iqn}/${l.lun}`;
}

/** qemu-io commands, e.g. ['write -P 0xa5 0 64k', 'read -P 0xa5 0 64k']; fails on a pattern mismatch. */
export function qemuIo(l: IscsiLogin, commands: string[]): Promise<RunResult> {
  return run('qemu-io', [...commands.flatMap((c) => ['-c', c]), qemuJsonUrl(l)]);
}

export function iscsiInq(l: IscsiLogin): Promise<RunResult> {
  return run('iscsi-inq', ['-i', l.initiator, libiscsiUrl(l)]);
}

export function iscsiReadCapacity16(l: IscsiLogin): Promise<RunResult> {
  return run('iscsi-readcapacity16', ['-i', l.initiator, libiscsiUrl(l)]);
}

/** qemu-io reports pattern mismatches on stdout with exit code 0 in some versions; treat both as failure. */
export function qemuIoOk(r: RunResult): boolean {
  return r.code === 0 && !/(Pattern verification failed|failed|error)/i.test(r.stdout + r.stderr);
}
