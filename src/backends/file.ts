// Volumes as sparse raw files: creating or growing a volume only sets the file length, so a new
// 100 GiB volume costs no disk space until it is written. Snapshots and clones are copy-on-write copies
// (cow.ts): each is a file of its own, so deleting a volume never touches its snapshots' blocks and the
// other way round. A copy is made under a temporary name and renamed into place once complete, so a
// volume or snapshot file that exists under its final name is always whole.
import { open, readdir, rename, stat, statfs, unlink, mkdir, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Backend, ByteRange, CopySource, HostCapacity, StagedCopy } from '../host/types.js';
import { copyRanges, copyVolumeFile, detectCopyMethod, type CopyMethod } from './cow.js';

const FILE_PREFIX = 'volume-';
const SNAPSHOT_PREFIX = 'snapshot-';
/** Copies in progress; a name with this prefix is never a volume or a snapshot. */
const TEMP_PREFIX = '.tmp-';
// Volume ids become file names; refuse anything that could escape the directory.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A copy that a retried call finds whole under its final name: nothing is left to commit or discard. */
const ALREADY_DONE: StagedCopy = { commit: async () => {}, discard: async () => {} };

export class BackendError extends Error {
  /** `missing`: the file the call needs is not there (the host reports it as not-found). */
  constructor(message: string, readonly missing = false) {
    super(message);
    this.name = 'BackendError';
  }
}

export class FileBackend implements Backend {
  readonly name = 'file';
  private method: CopyMethod | null = null;

  constructor(readonly directory: string) {}

  /**
   * Creates the directory, removes copies a killed process left half-made (only this host writes here, and
   * nothing runs before prepare), and detects how this filesystem copies: reflink or sparse copy.
   */
  async prepare(): Promise<CopyMethod> {
    await mkdir(this.directory, { recursive: true });
    for (const n of await readdir(this.directory)) {
      if (n.startsWith(TEMP_PREFIX)) await unlessMissing(unlink(join(this.directory, n)), undefined);
    }
    this.method = await detectCopyMethod(this.directory);
    return this.method;
  }

  /** How snapshots and clones are copied here; detected by prepare() (or on first use). */
  async copyMethod(): Promise<CopyMethod> {
    if (this.method === null) {
      await mkdir(this.directory, { recursive: true });
      this.method = await detectCopyMethod(this.directory);
    }
    return this.method;
  }

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

  snapshotPath(snapshotId: string): string {
    if (!SAFE_ID.test(snapshotId)) throw new BackendError(`invalid snapshot id "${snapshotId}"`);
    return join(this.directory, SNAPSHOT_PREFIX + snapshotId);
  }

  private sourcePath(source: CopySource): string {
    return source.kind === 'snapshot' ? this.snapshotPath(source.id) : this.devicePath(source.id);
  }

  /**
   * Copies `src` to a temporary file; the copy's content is fixed when this resolves. Its commit syncs it, grows it
   * to sizeBytes and renames it to `final`, so `final` appears only when it is whole and durable.
   */
  private async stage(src: string, final: string, name: string, sizeBytes?: number): Promise<StagedCopy> {
    const tmp = join(this.directory, TEMP_PREFIX + name);
    const discard = () => unlessMissing(unlink(tmp), undefined);
    await discard();
    const method = await this.copyMethod();
    try {
      await copyVolumeFile(method, src, tmp);
    } catch (err) {
      await discard();
      // Either copier (copyFile's ENOENT, cp's exit status) may report a missing source; say which file it was.
      if (!(await unlessMissing(stat(src), null))) {
        throw new BackendError(`the source of ${name} has no backing file`, true);
      }
      throw err;
    }
    const commit = async () => {
      try {
        if (sizeBytes !== undefined) {
          const { size } = await stat(tmp);
          if (sizeBytes < size) throw new BackendError(`cannot make ${name} smaller than its source (${size} > ${sizeBytes} bytes)`);
          if (sizeBytes > size) await truncate(tmp, sizeBytes);
        }
        await syncPath(tmp);
        await rename(tmp, final);
        await syncPath(this.directory);
      } catch (err) {
        await discard();
        throw err;
      }
    };
    if (method === 'reflink') return { commit, discard };
    const catchUp = async (ranges: ByteRange[]) => {
      try {
        await copyRanges(src, tmp, ranges);
      } catch (err) {
        await discard();
        throw err;
      }
    };
    return { commit, discard, catchUp };
  }

  /** A point-in-time copy of the volume. Idempotent: a snapshot file that exists is complete. */
  async createSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    await (await this.stageSnapshot(volumeId, snapshotId)).commit();
  }

  async stageSnapshot(volumeId: string, snapshotId: string): Promise<StagedCopy> {
    const final = this.snapshotPath(snapshotId);
    if (await unlessMissing(stat(final), null)) return ALREADY_DONE;
    return this.stage(this.devicePath(volumeId), final, SNAPSHOT_PREFIX + snapshotId);
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    await unlessMissing(unlink(this.snapshotPath(snapshotId)), undefined);
  }

  /**
   * A new volume holding a copy of a snapshot or another volume, grown to sizeBytes. Idempotent: the volume
   * file appears only when complete, so one of that size means a retried create that had finished.
   */
  async createFrom(volumeId: string, source: CopySource, sizeBytes: number): Promise<void> {
    await (await this.stageFrom(volumeId, source, sizeBytes)).commit();
  }

  async stageFrom(volumeId: string, source: CopySource, sizeBytes: number): Promise<StagedCopy> {
    checkSize(sizeBytes);
    const final = this.devicePath(volumeId);
    const st = await unlessMissing(stat(final), null);
    if (st) {
      if (st.size === sizeBytes) return ALREADY_DONE;
      throw new BackendError(`volume ${volumeId} already exists with a different size (${st.size} bytes)`);
    }
    return this.stage(this.sourcePath(source), final, FILE_PREFIX + volumeId, sizeBytes);
  }

  /**
   * Puts the snapshot's content back into the volume file in place (same inode, so an export that holds the
   * file open serves the reverted data). Interrupted, it leaves a partial copy; running it again finishes it.
   */
  async revert(volumeId: string, snapshotId: string): Promise<void> {
    const src = this.snapshotPath(snapshotId);
    const dst = this.devicePath(volumeId);
    const [s, d] = await Promise.all([unlessMissing(stat(src), null), unlessMissing(stat(dst), null)]);
    if (!s) throw new BackendError(`snapshot ${snapshotId} has no backing file`, true);
    if (!d) throw new BackendError(`volume ${volumeId} has no backing file`, true);
    if (s.size !== d.size) throw new BackendError(`volume ${volumeId} (${d.size} bytes) and snapshot ${snapshotId} (${s.size} bytes) differ in size`);
    await copyVolumeFile(await this.copyMethod(), src, dst, { inPlace: true });
    await syncPath(dst);
  }

  async listSnapshots(): Promise<string[]> {
    return this.idsNamed(SNAPSHOT_PREFIX);
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

  /** The ids of the files in the directory named `prefix` + a safe id, sorted. */
  private async idsNamed(prefix: string): Promise<string[]> {
    const names = await unlessMissing(readdir(this.directory), []);
    return names
      .filter((n) => n.startsWith(prefix) && SAFE_ID.test(n.slice(prefix.length)))
      .map((n) => n.slice(prefix.length))
      .sort();
  }

  async exists(volumeId: string): Promise<boolean> {
    return (await unlessMissing(stat(this.devicePath(volumeId)), null))?.isFile() ?? false;
  }

  async list(): Promise<string[]> {
    return this.idsNamed(FILE_PREFIX);
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

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function checkSize(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new BackendError(`invalid volume size ${bytes} bytes`);
}
