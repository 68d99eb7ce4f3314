// Volumes as sparse raw files: creating or growing a volume only sets the file length, so a new
// 100 GiB volume costs no disk space until it is written.
import { open, readdir, stat, statfs, unlink, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Backend, HostCapacity } from '../host/types.js';

const FILE_PREFIX = 'volume-';
// Volume ids become file names; refuse anything that could escape the directory.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

export class FileBackend implements Backend {
  readonly name = 'file';

  constructor(readonly directory: string) {}

  /** The filesystem holding the volume files: what the pools API reports as total and free capacity. */
  async capacity(): Promise<HostCapacity> {
    // The directory is made by the first create; before that its nearest existing parent is the same filesystem.
    for (let dir = this.directory; ; dir = dirname(dir)) {
      try {
        const s = await statfs(dir);
        return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err;
      }
    }
  }

  devicePath(volumeId: string): string {
    if (!SAFE_ID.test(volumeId)) throw new BackendError(`invalid volume id "${volumeId}"`);
    return join(this.directory, FILE_PREFIX + volumeId);
  }

  /** Creates the file at sizeBytes. An existing file of the same size is accepted (a retried create). */
  async create(volumeId: string, sizeBytes: number): Promise<void> {
    checkSize(sizeBytes);
    const path = this.devicePath(volumeId);
    await mkdir(this.directory, { recursive: true });
    let fh;
    try {
      fh = await open(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await stat(path);
      if (st.size === sizeBytes) return;
      // A create cut off between open and truncate (kill -9) leaves an empty file: finishing it is safe.
      // Any other size is someone else's volume: refuse.
      if (st.size !== 0) throw new BackendError(`volume ${volumeId} already exists with a different size (${st.size} bytes)`);
      fh = await open(path, 'r+');
    }
    try {
      await fh.truncate(sizeBytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async delete(volumeId: string): Promise<void> {
    await unlessMissing(unlink(this.devicePath(volumeId)), undefined);
  }

  /** Grows the file; shrinking would destroy data, so a smaller size is refused. */
  async extend(volumeId: string, newSizeBytes: number): Promise<void> {
    checkSize(newSizeBytes);
    const path = this.devicePath(volumeId);
    let fh;
    try {
      fh = await open(path, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackendError(`volume ${volumeId} has no backing file`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (newSizeBytes < size) throw new BackendError(`cannot shrink volume ${volumeId} from ${size} to ${newSizeBytes} bytes`);
      if (newSizeBytes === size) return;
      await fh.truncate(newSizeBytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async exists(volumeId: string): Promise<boolean> {
    return (await unlessMissing(stat(this.devicePath(volumeId)), null))?.isFile() ?? false;
  }

  async list(): Promise<string[]> {
    const names = await unlessMissing(readdir(this.directory), []);
    return names
      .filter((n) => n.startsWith(FILE_PREFIX) && SAFE_ID.test(n.slice(FILE_PREFIX.length)))
      .map((n) => n.slice(FILE_PREFIX.length))
      .sort();
  }

  /** Current size in bytes, or null when there is no file. */
  async sizeBytes(volumeId: string): Promise<number | null> {
    return (await unlessMissing(stat(this.devicePath(volumeId)), null))?.size ?? null;
  }
}

/** What `op` resolves to, or `missing` when it fails because the file or directory is not there (ENOENT). */
async function unlessMissing<T, M>(op: Promise<T>, missing: M): Promise<T | M> {
  try {
    return await op;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missing;
    throw err;
  }
}

function checkSize(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new BackendError(`invalid volume size ${bytes} bytes`);
}
