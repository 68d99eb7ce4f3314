// What the interop tests share about python3-cinderclient's CLI: running it, and reading its output.
import { runProcess, type RunResult } from '../../src/util/exec.js';

/** python3-cinderclient's CLI against `embervol serve` at `url` in noauth mode, as `userId` of `projectId`
 *  (runProcess's default 60 s timeout). */
export function noauthCinder(url: string, projectId: string, userId = 'alice'): (...args: string[]) => Promise<RunResult> {
  const endpoint = `${url}/v3/${projectId}`;
  return (...args: string[]) =>
    runProcess('cinder', ['--os-auth-type', 'noauth', '--os-user-id', userId, '--os-project-id', projectId, '--os-endpoint', endpoint, ...args]);
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
