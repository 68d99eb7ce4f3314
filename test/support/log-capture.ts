// A real pino logger whose output is kept in memory, so tests can check what would have been logged
// (for example that no CHAP password ever is).
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export function capturingLogger(level = 'debug'): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), text: () => chunks.join('') };
}
