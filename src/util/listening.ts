// Tells whether a given process holds a listening TCP socket on a port. Needed because tgtd keeps
// running when it cannot bind its portal (another daemon has it), so "the process is up" is not
// "our daemon serves this portal". Linux only: reads /proc.
import { readFile, readdir, readlink } from 'node:fs/promises';

async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1]!;
      const state = f[3]!;
      const localPort = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (state === '0A' && localPort === port) inodes.add(f[9]!);
    }
  }
  return inodes;
}

export async function processListensOn(pid: number, port: number): Promise<boolean> {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) return true;
    } catch {
      // The fd closed while we looked.
    }
  }
  return false;
}
