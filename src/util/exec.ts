// Runs a program with execFile (never a shell), so arguments such as CHAP secrets are passed verbatim
// and cannot be interpreted. Errors carry the program name and stderr but never the argument list,
// because the arguments may hold secrets and errors end up in logs.
import { execFile } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when the process was killed by a signal. */
  code: number | null;
}

export class CommandError extends Error {
  constructor(
    readonly program: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
    detail?: string,
  ) {
    super(`${program} failed (${code === null ? 'killed' : `exit ${code}`}): ${(detail ?? stderr.trim()) || 'no output'}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs the program and resolves with its output whatever the exit code; rejects only if it cannot run. */
export function runProcess(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args as string[],
      { timeout: opts.timeoutMs ?? 60_000, env: opts.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // Spawn failure (ENOENT, EACCES): the program never ran.
          reject(new CommandError(program, null, '', '', `cannot run: ${(err as NodeJS.ErrnoException).code}`));
          return;
        }
        const code = err ? ((err as { code?: number | null }).code ?? null) : 0;
        resolve({ stdout, stderr, code: typeof code === 'number' ? code : null });
      },
    );
  });
}

/** Like runProcess but rejects with CommandError on a non-zero exit. */
export async function runChecked(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runProcess(program, args, opts);
  if (r.code !== 0) throw new CommandError(program, r.code, r.stdout, r.stderr);
  return r;
}
