// Runs libiscsi's command-line initiators (Debian libiscsi-bin) against a target, so tests prove that
// a real initiator can (or cannot) log in. Results are returned, never thrown, so tests can assert refusals.
import { runProcess, type RunResult } from '../../src/util/exec.js';
import { formatHostPort } from '../../src/util/ports.js';

export interface IscsiLunAddress {
  host: string;
  port: number;
  iqn: string;
  lun: number;
  user?: string;
  password?: string;
}

/** iscsi://user%password@host:port/iqn/lun (libiscsi's URL form; CHAP from user/password). */
export function iscsiUrl(a: IscsiLunAddress): string {
  const auth = a.user ? `${a.user}${a.password !== undefined ? `%${a.password}` : ''}@` : '';
  return `iscsi://${auth}${formatHostPort(a.host, a.port)}/${a.iqn}/${a.lun}`;
}

/** iscsi://[user%password@]host:port, the portal form iscsi-ls takes. */
export function iscsiPortalUrl(host: string, port: number, user?: string, password?: string): string {
  const auth = user ? `${user}${password !== undefined ? `%${password}` : ''}@` : '';
  return `iscsi://${auth}${formatHostPort(host, port)}`;
}

/** Splits "ip:port" / "[v6]:port" (connection_info's target_portal). */
export function splitPortal(portal: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(portal);
  if (!m) throw new Error(`bad portal ${portal}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The iSCSI fields of a connection_info's data (legacy) or of an attachment's flattened connection_info. */
export interface FlatConnectionInfo {
  target_portal: string;
  target_iqn: string;
  target_lun: number;
  auth_username: string;
  auth_password: string;
  access_mode: string;
  [key: string]: unknown;
}

export function lunAddress(ci: FlatConnectionInfo): IscsiLunAddress {
  return { ...splitPortal(ci.target_portal), iqn: ci.target_iqn, lun: ci.target_lun, user: ci.auth_username, password: ci.auth_password };
}

export function lunUrl(ci: FlatConnectionInfo): string {
  return iscsiUrl(lunAddress(ci));
}

const TIMEOUT_MS = 20_000;

export function iscsiInq(url: string, initiator: string): Promise<RunResult> {
  return runProcess('iscsi-inq', ['-i', initiator, url], { timeoutMs: TIMEOUT_MS });
}

export function iscsiReadCapacity16(url: string, initiator: string): Promise<RunResult> {
  return runProcess('iscsi-readcapacity16', ['-i', initiator, url], { timeoutMs: TIMEOUT_MS });
}

/** Size in bytes reported by READ CAPACITY(16), or null when the command failed. */
export async function readCapacityBytes(url: string, initiator: string): Promise<number | null> {
  const r = await runProcess('iscsi-readcapacity16', ['-s', '-i', initiator, url], { timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) return null;
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : null;
}

/** Target IQNs the portal reports in SendTargets discovery. */
export async function iscsiLs(portalUrl: string, initiator: string): Promise<{ result: RunResult; iqns: string[] }> {
  const result = await runProcess('iscsi-ls', ['-i', initiator, portalUrl], { timeoutMs: TIMEOUT_MS });
  const iqns = [...result.stdout.matchAll(/^Target:(\S+)/gm)].map((m) => m[1]!);
  return { result, iqns };
}
