// A Linux VM for interop tests, built and booted by the tests themselves from Debian packages only
// (scripts/test-vm/build.sh: Debian's kernel, a debootstrap root with open-iscsi and python3-os-brick).
// qemu runs under TCG with user-mode networking: inside the guest 10.0.2.2 is this machine's 127.0.0.1.
// The guest's console (kernel messages) goes to a file; the second serial port carries the agent
// (scripts/test-vm/agent.py): one JSON request per line in, one '@@R <json>' line per answer out.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const repoRoot = new URL('../..', import.meta.url).pathname;

/** The guest's view of this machine's loopback (qemu user-mode networking). */
export const GUEST_HOST_ADDRESS = '10.0.2.2';

export interface ShResult {
  rc: number | null;
  out: string;
  err: string;
}

/**
 * Builds the VM image unless the cache holds it already (keyed by package versions) and returns its directory.
 * A fresh build downloads and installs packages: minutes, see docs/initiators.md.
 */
export function ensureTestVmImage(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'scripts/test-vm/build.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => {
      err += String(d);
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`scripts/test-vm/build.sh exited with ${code}\n${err}`));
    });
  });
}

export interface TestVm {
  /** Runs a bash command in the guest (as root). */
  sh(cmd: string, timeoutSeconds?: number): Promise<ShResult>;
  /** Like sh, but throws unless the command exits 0; returns its stdout. */
  ok(cmd: string, timeoutSeconds?: number): Promise<string>;
  /**
   * Runs Python in the guest agent's namespace (kept across calls) with `args` bound to the given value; returns
   * what the code left in `result`. Secrets go in args: a failure reports the code, never the args.
   */
  py<T = unknown>(code: string, args?: unknown, timeoutSeconds?: number): Promise<T>;
  /** The guest's console so far (kernel messages, init). */
  console(): string;
  stop(): Promise<void>;
}

export interface BootOptions {
  imageDir: string;
  memoryMb?: number;
  /** How long booting to the agent may take (TCG on a busy machine). */
  bootTimeoutMs?: number;
}

export async function bootTestVm(opts: BootOptions): Promise<TestVm> {
  const work = mkdtempSync(join(tmpdir(), 'embervol-vm-'));
  const consoleFile = join(work, 'console.log');
  const args = [
    '-accel', 'tcg', '-nodefaults', '-display', 'none', '-no-reboot', '-monitor', 'none',
    '-m', String(opts.memoryMb ?? 512), '-smp', '1',
    // a machine UUID, as real hosts have (os-brick's connector properties read /sys/class/dmi/id/product_uuid)
    '-uuid', randomUUID(),
    '-kernel', join(opts.imageDir, 'vmlinuz'),
    '-initrd', join(opts.imageDir, 'initrd.img'),
    '-append', 'console=ttyS0 root=/dev/vda rw panic=-1 loglevel=5 tsc=unstable net.ifnames=0',
    '-drive', `file=${join(opts.imageDir, 'rootfs.img')},format=raw,if=virtio,snapshot=on`,
    '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
    '-serial', `file:${consoleFile}`,
    '-serial', 'stdio',
  ];
  const child: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const readConsole = () => {
    try {
      return readFileSync(consoleFile, 'utf8');
    } catch {
      return '';
    }
  };

  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const at = line.indexOf('@@');
    if (at < 0) return;
    const msg = line.slice(at);
    if (msg.startsWith('@@READY')) ready();
    else if (msg.startsWith('@@R ')) {
      const res = JSON.parse(msg.slice(4)) as { id: number };
      pending.get(res.id)?.resolve(res);
      pending.delete(res.id);
    }
  });
  child.once('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`qemu exited (${code ?? signal})\n${stderr}\n${readConsole().slice(-4000)}`));
    pending.clear();
  });

  const bootTimeout = opts.bootTimeoutMs ?? 240_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      readyP,
      exited.then(() => Promise.reject(new Error(`qemu exited during boot\n${stderr}\n${readConsole().slice(-4000)}`))),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the VM did not boot within ${bootTimeout} ms\n${readConsole().slice(-4000)}`)), bootTimeout))),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    rmSync(work, { recursive: true, force: true });
    throw e;
  } finally {
    clearTimeout(timer);
  }

  const request = (req: Record<string, unknown>, timeoutSeconds: number): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the VM did not answer ${JSON.stringify(req).slice(0, 200)} within ${timeoutSeconds + 30} s\n${readConsole().slice(-3000)}`));
      }, (timeoutSeconds + 30) * 1000);
      pending.set(id, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      child.stdin!.write(JSON.stringify({ id, ...req }) + '\n');
    });

  const vm: TestVm = {
    async sh(cmd, timeoutSeconds = 120) {
      const r = await request({ sh: cmd, timeout: timeoutSeconds }, timeoutSeconds);
      return { rc: r.rc, out: r.out, err: r.err };
    },
    async ok(cmd, timeoutSeconds = 120) {
      const r = await vm.sh(cmd, timeoutSeconds);
      if (r.rc !== 0) throw new Error(`in the VM: ${cmd}\nexit ${r.rc}\n${r.out}\n${r.err}`);
      return r.out;
    },
    async py(code, args = null, timeoutSeconds = 300) {
      const r = await request({ py: code, args }, timeoutSeconds);
      if (!r.ok) throw new Error(`in the VM (python):\n${code}\n${r.error}`);
      return r.result;
    },
    console: readConsole,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.write(JSON.stringify({ id: 0, exit: true }) + '\n');
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      process.removeListener('exit', killOnExit);
      rmSync(work, { recursive: true, force: true });
    },
  };
  return vm;
}
