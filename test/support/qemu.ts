// qemu's iSCSI block driver (qemu-block-extra) as a second, independent initiator. The json: filename
// form is the only way to give qemu an initiator name, so tests build it here.
import { runProcess, type RunResult } from '../../src/util/exec.js';

export interface QemuIscsiTarget {
  /** "ip:port" */
  portal: string;
  iqn: string;
  lun: number;
  user?: string;
  password?: string;
  initiatorName: string;
  /** qemu's header-digest option ("crc32c", "none", ...). */
  headerDigest?: string;
}

/** The qemu target for an iSCSI connection_info's data (flattened, as Cinder's os-initialize_connection returns it). */
export function qemuTarget(
  ci: { target_portal: string; target_iqn: string; target_lun: number; auth_username?: string; auth_password?: string },
  initiatorName: string,
): QemuIscsiTarget {
  return { portal: ci.target_portal, iqn: ci.target_iqn, lun: ci.target_lun, user: ci.auth_username, password: ci.auth_password, initiatorName };
}

export function qemuIscsiJson(t: QemuIscsiTarget): string {
  const file: Record<string, unknown> = {
    driver: 'iscsi',
    transport: 'tcp',
    portal: t.portal,
    target: t.iqn,
    lun: t.lun,
    'initiator-name': t.initiatorName,
  };
  if (t.user !== undefined) file.user = t.user;
  if (t.password !== undefined) file.password = t.password;
  if (t.headerDigest) file['header-digest'] = t.headerDigest;
  return `json:${JSON.stringify({ driver: 'raw', file })}`;
}

/** qemu-io -c <cmd> ... <json:url>. A failed login shows as a non-zero exit. */
export function qemuIo(target: QemuIscsiTarget, commands: string[], timeoutMs = 30_000): Promise<RunResult> {
  const args = commands.flatMap((c) => ['-c', c]);
  return runProcess('qemu-io', [...args, qemuIscsiJson(target)], { timeoutMs });
}

export function qemuImgInfo(target: QemuIscsiTarget): Promise<RunResult> {
  return runProcess('qemu-img', ['info', '--output=json', qemuIscsiJson(target)], { timeoutMs: 30_000 });
}
