import type { Backend } from '../host/types.js';
import { FileBackend } from './file.js';

export { FileBackend, BackendError } from './file.js';

export interface BackendOptions {
  /** Directory that holds the volume files (file backend). */
  directory: string;
}

export function createBackend(name: string, opts: BackendOptions): Backend {
  switch (name) {
    case 'file':
      return new FileBackend(opts.directory);
    default:
      throw new Error(`unknown backend "${name}" (known: file)`);
  }
}
