// Target driver factory: `serve --target NAME` picks one by name.
import type { TargetDriver } from '../host/types.js';
import type { Logger } from '../log.js';
import { TgtTarget } from './tgt.js';
import { BuiltinTarget } from './builtin.js';


export interface TargetDriverOptions {
  portal: { host: string; port: number };
  iqnPrefix?: string;
  logger: Logger;
  /** tgt only: start and supervise a private tgtd (manage) or use a running one. */
  daemon?: { manage: boolean; controlPort?: number };
  /** builtin only: longest busy-poll window after iSCSI input (µs); 0 off. */
  busyPollMicroseconds?: number;
}

export const TARGET_DRIVER_NAMES = ['builtin', 'tgt'] as const;

export function createTargetDriver(name: string, opts: TargetDriverOptions): TargetDriver {
  switch (name) {
    case 'tgt':
      return new TgtTarget({
        portal: opts.portal,
        iqnPrefix: opts.iqnPrefix,
        logger: opts.logger,
        daemon: opts.daemon ?? { manage: true },
      });
    case 'builtin':
      return new BuiltinTarget({
        portal: opts.portal,
        iqnPrefix: opts.iqnPrefix,
        logger: opts.logger,
        server: { busyPollMicroseconds: opts.busyPollMicroseconds },
      });
    default:
      throw new Error(`unknown target driver "${name}" (known: ${TARGET_DRIVER_NAMES.join(', ')})`);
  }
}
