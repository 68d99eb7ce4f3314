// A thin client for tgtadm. Every call goes through execFile with an argv array, so CHAP secrets are
// never parsed by a shell; errors never include the argv (it may hold a password).
import { runProcess, CommandError } from '../util/exec.js';

/** tgtadm's error messages we act on (tgt usr/tgtadm.c tgtadm_strerror). */
export const TgtErrors = {
  noTarget: /can't find the target/,
  targetExists: /this target already exists/,
  targetActive: /this target is still active/,
  accountExists: /this account already exists/,
  noAccount: /can't find the account/,
  aclExists: /this access control rule already exists/,
  noAcl: /this access control rule does not exist/,
  lunExists: /this logical unit number already exists/,
  noLun: /can't find the logical unit/,
  noSession: /can't find the session/,
  noConnection: /can't find the connection/,
  notConnected: /can't send the request to the tgt daemon|can't connect to the tgt daemon|Connection refused|No such file or directory/,
} as const;

export class TgtadmError extends CommandError {
  matches(pattern: RegExp): boolean {
    return pattern.test(this.stderr);
  }
}

export interface TgtadmOptions {
  /** tgtd's --control-port; undefined = tgtd's default socket. */
  controlPort?: number;
  program?: string;
  timeoutMs?: number;
}

export class Tgtadm {
  readonly program: string;

  constructor(private readonly opts: TgtadmOptions = {}) {
    this.program = opts.program ?? 'tgtadm';
  }

  get controlPort(): number | undefined {
    return this.opts.controlPort;
  }

  /** Runs `tgtadm [-C N] --lld iscsi <args>`; resolves with stdout, rejects with TgtadmError. */
  async run(args: readonly string[]): Promise<string> {
    const argv = [...(this.opts.controlPort !== undefined ? ['-C', String(this.opts.controlPort)] : []), '--lld', 'iscsi', ...args];
    const r = await runProcess(this.program, argv, { timeoutMs: this.opts.timeoutMs ?? 30_000 });
    if (r.code !== 0) {
      throw new TgtadmError(`${this.program} ${describe(args)}`, r.code, r.stdout, r.stderr);
    }
    return r.stdout;
  }

  /** Like run, but an error whose stderr matches one of `tolerated` counts as success (returns null). */
  async runTolerating(args: readonly string[], ...tolerated: RegExp[]): Promise<string | null> {
    try {
      return await this.run(args);
    } catch (err) {
      if (err instanceof TgtadmError && tolerated.some((p) => err.matches(p))) return null;
      throw err;
    }
  }
}

/** "--op new --mode account" style summary for error messages: op and mode only, never values of secrets. */
function describe(args: readonly string[]): string {
  const op = args[args.indexOf('--op') + 1];
  const mode = args[args.indexOf('--mode') + 1];
  return `--op ${op ?? '?'} --mode ${mode ?? '?'}`;
}
