// Reading and writing a few bytes in place in a backend's volume or snapshot file, for the tests that check what a
// snapshot, clone or revert holds (the file backend's files are plain files on this filesystem).
import { open, stat } from 'node:fs/promises';

export const fileExists = async (path: string): Promise<boolean> => (await stat(path).catch(() => null)) !== null;

/** Writes `text` at `offset` without truncating or growing the file. */
export async function writeAt(path: string, offset: number, text: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(Buffer.from(text), 0, text.length, offset);
  } finally {
    await fh.close();
  }
}

/** Reads `length` bytes at `offset` as text. */
export async function readAt(path: string, offset: number, length: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf.toString();
  } finally {
    await fh.close();
  }
}
