// Options every client command shares, and the one place that turns failures into exit codes.
import type { Command } from 'commander';
import { ApiClient, CliError, EXIT, clientOptionsFromEnv } from './client.js';

export function addClientOptions(program: Command): void {
  program
    .option('--url <url>', 'embervol API base URL; env EMBERVOL_URL (default http://127.0.0.1:8776)')
    .option('--project <id>', 'project to act in; env EMBERVOL_PROJECT (default embervol)')
    .option('--user <id>', 'user id sent in noauth mode; env EMBERVOL_USER')
    .option('--token <token>', 'Keystone token instead of noauth; env EMBERVOL_TOKEN')
    .option('--json', 'print JSON instead of tables');
}

export function clientFrom(cmd: Command): { api: ApiClient; json: boolean } {
  const o = cmd.optsWithGlobals() as { url?: string; project?: string; user?: string; token?: string; json?: boolean };
  return { api: new ApiClient(clientOptionsFromEnv(o)), json: Boolean(o.json) };
}

/** Runs a command body; prints errors as one line on stderr and exits with a code scripts can rely on. */
export async function run(cmd: Command, body: (api: ApiClient, json: boolean) => Promise<void>): Promise<void> {
  const { api, json } = clientFrom(cmd);
  try {
    await body(api, json);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`embervol ${cmd.name()}: ${e.message}\n`);
      process.exit(e.exitCode);
    }
    process.stderr.write(`embervol ${cmd.name()}: ${(e as Error).message}\n`);
    process.exit(EXIT.apiError);
  }
}
