// What the interop tests share about the clients' command lines: running python3-cinderclient's and the openstack
// CLI's against `embervol serve` in noauth mode, and reading cinderclient's tables.
import { runProcess, type RunResult } from '../../src/util/exec.js';

/** python3-cinderclient's CLI against `embervol serve` at `url` in noauth mode, as `userId` of `projectId`
 *  (runProcess's default 60 s timeout). */
export function noauthCinder(url: string, projectId: string, userId = 'alice'): (...args: string[]) => Promise<RunResult> {
  const endpoint = `${url}/v3/${projectId}`;
  return (...args: string[]) =>
    runProcess('cinder', ['--os-auth-type', 'noauth', '--os-user-id', userId, '--os-project-id', projectId, '--os-endpoint', endpoint, ...args]);
}

/** The openstack CLI against `embervol serve` at `url` in noauth mode; without `projectId` the endpoint names no
 *  project, so OSC sends the token `notused` and embervol takes the default project, as Cinder's noauth does. */
export function noauthOpenstack(url: string, projectId?: string): (...args: string[]) => Promise<RunResult> {
  const endpoint = projectId ? `${url}/v3/${projectId}` : `${url}/v3`;
  return (...args: string[]) => runProcess('openstack', ['--os-auth-type', 'none', '--os-endpoint', endpoint, ...args], { timeoutMs: 60_000 });
}

/** `cinder show`-style tables are "| Property | Value |" rows: the value of the first row named `name`
 *  (later tables, e.g. attachment-create's connection_info, are not reached when an earlier row matches). */
export function field(table: string, name: string): string | undefined {
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells[1] === name) return cells[2];
  }
  return undefined;
}
