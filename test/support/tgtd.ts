// A private tgtd for one test file: its own control port and a free portal port on 127.0.0.1, so test
// files running in parallel never share a daemon. Needs root (tgtd does).
import { silentLogger, type Logger } from '../../src/log.js';
import { TgtTarget } from '../../src/targets/tgt.js';
import { findFreePort } from '../../src/util/ports.js';

export interface PrivateTgt {
  target: TgtTarget;
  host: string;
  port: number;
  /** "127.0.0.1:PORT" */
  portal: string;
  stop(): Promise<void>;
}

export async function startPrivateTgt(opts: { logger?: Logger; iqnPrefix?: string } = {}): Promise<PrivateTgt> {
  const host = '127.0.0.1';
  // A free port can be taken again before tgtd binds it; the daemon detects that, so retry with another.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await findFreePort(host);
    const target = new TgtTarget({
      portal: { host, port },
      iqnPrefix: opts.iqnPrefix,
      logger: opts.logger ?? silentLogger(),
      daemon: { manage: true },
    });
    try {
      await target.start();
    } catch (err) {
      lastErr = err;
      await target.stop().catch(() => undefined);
      continue;
    }
    return { target, host, port, portal: `${host}:${port}`, stop: () => target.stop() };
  }
  throw lastErr;
}
