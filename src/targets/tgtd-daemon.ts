// A private tgtd supervised by embervol: its own control socket (/var/run/tgtd/socket.<N>) and its own
// portal, so a machine with the tgt package but no running daemon works, and several embervol
// instances (or test files) can each have one. tgtd needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { Tgtadm } from './tgtadm.js';
import { processListensOn } from '../util/listening.js';
import { formatHostPort } from '../util/ports.js';

export const TGTD_SOCKET_DIR = '/var/run/tgtd';
const SETPRIV = '/usr/bin/setpriv';

export interface TgtdDaemonOptions {
  portal: { host: string; port: number };
  /** Control port; picked among unused ones when absent. */
  controlPort?: number;
  logger: Logger;
  tgtdPath?: string;
  tgtadmPath?: string;
  /** How long start (or a restart) may take before it counts as failed. */
  readyTimeoutMs?: number;
}

export interface TgtdDaemonEvents {
  /** The daemon died and a new one is serving; it has no targets: whoever owns them must recreate them. */
  restarted: [];
  /** The daemon exited when it was not asked to. */
  died: [code: number | null, signal: NodeJS.Signals | null];
}

const MAX_RESTART_DELAY_MS = 5_000;

// Children still alive when node exits (a crashed test, an uncaught error) would keep their portal and
// control socket forever; kill them synchronously on the way out.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
}

/** tgtd keeps the control port in a C short, so it must stay below 32768. */
export const MAX_CONTROL_PORT = 32_767;

function pickControlPort(): number {
  for (;;) {
    const n = 10_000 + Math.floor(Math.random() * (MAX_CONTROL_PORT - 10_000));
    if (!existsSync(`${TGTD_SOCKET_DIR}/socket.${n}`) && !existsSync(`${TGTD_SOCKET_DIR}/socket.${n}.lock`)) return n;
  }
}

export class TgtdDaemon extends EventEmitter<TgtdDaemonEvents> {
  readonly controlPort: number;
  readonly tgtadm: Tgtadm;
  private readonly portControlPicked: boolean;
  private child: ChildProcess | null = null;
  private stopping = false;
  private restartDelayMs = 100;
  private restartTimer: NodeJS.Timeout | null = null;
  private restarting: Promise<void> | null = null;
  /** Set once one of our tgtd processes held the control socket, so stop() may remove its files. */
  private ownedSocket = false;
  private readonly log: Logger;

  constructor(private readonly opts: TgtdDaemonOptions) {
    super();
    this.portControlPicked = opts.controlPort === undefined;
    this.controlPort = opts.controlPort ?? pickControlPort();
    this.tgtadm = new Tgtadm({ controlPort: this.controlPort, program: opts.tgtadmPath, timeoutMs: 10_000 });
    this.log = opts.logger.child({ component: 'tgtd', controlPort: this.controlPort, portal: formatHostPort(opts.portal.host, opts.portal.port) });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /**
   * Resolves once a daemon is serving: at once when it runs (or was never started or is stopping, so the
   * caller's tgtadm call fails plainly), else when the supervisor has restarted it or timeoutMs passed.
   */
  async whenReady(timeoutMs = 15_000): Promise<void> {
    if (this.child || this.stopping || (!this.restartTimer && !this.restarting)) return;
    const ac = new AbortController();
    await Promise.race([
      once(this as EventEmitter, 'restarted', { signal: ac.signal }).catch(() => undefined),
      sleep(timeoutMs, undefined, { signal: ac.signal }).catch(() => undefined),
    ]);
    ac.abort();
  }

  /** Idempotent: a daemon that is already supervised is left alone. */
  async start(): Promise<void> {
    if (this.child) return;
    this.stopping = false;
    await this.spawnAndWait();
    this.log.info({ pid: this.pid }, 'tgtd started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.restarting?.catch(() => undefined);
    const child = this.child;
    if (!child) {
      await this.removeSocketFiles();
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // tgtd ignores SIGTERM and refuses a system delete while it has targets; everything it holds is
    // recreated from our state anyway, so when the polite request is refused, SIGKILL it.
    const accepted = await this.tgtadm.run(['--op', 'delete', '--mode', 'system']).then(() => true, () => false);
    const done = accepted && (await Promise.race([exited.then(() => true), sleep(3_000).then(() => false)]));
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
    await this.removeSocketFiles();
    this.log.info('tgtd stopped');
  }

  private async spawnAndWait(): Promise<void> {
    const { host, port } = this.opts.portal;
    const args = ['-f', '--control-port', String(this.controlPort), '--iscsi', `portal=${formatHostPort(host, port)}`];
    // setpriv (util-linux) execs tgtd with a parent-death signal: if embervol is killed with SIGKILL, its private
    // tgtd dies with it instead of holding the control port and portal against the restarted service.
    const tgtd = this.opts.tgtdPath ?? 'tgtd';
    const child = existsSync(SETPRIV)
      ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', tgtd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(tgtd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let earlyExit: string | null = null;
    const stderrTail: string[] = [];
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
        this.log.debug({ tgtd: line }, 'tgtd output');
      }
    };
    child.stdout!.on('data', onLine);
    child.stderr!.on('data', onLine);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new Error(`cannot run tgtd (is the tgt package installed, and are we root?): ${err.message}`))),
    );
    spawnError.catch(() => undefined);
    child.once('exit', (code, signal) => {
      earlyExit = `exit ${code ?? signal}`;
      this.onExit(child, code, signal);
    });
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 10_000);
    for (;;) {
      if (earlyExit !== null || child.exitCode !== null) {
        throw new Error(`tgtd exited during start (${earlyExit}): ${stderrTail.slice(-3).join(' | ')}`);
      }
      const answered = await Promise.race([
        this.tgtadm.run(['--op', 'show', '--mode', 'target']).then(() => true, () => false),
        spawnError,
      ]);
      // tgtd keeps running when its portal is taken, so make sure this very process holds the listener.
      if (answered && child.pid !== undefined && (await processListensOn(child.pid, port))) {
        // Only a daemon that became ready is supervised; one that fails to start is the caller's error.
        this.child = child;
        this.ownedSocket = true;
        if (child.exitCode !== null || child.signalCode !== null) this.onExit(child, child.exitCode, child.signalCode);
        return;
      }
      if (Date.now() > deadline) {
        // A tgtd that lost the control-socket race exits at once; one alive this long held the socket.
        this.ownedSocket = true;
        child.kill('SIGKILL');
        throw new Error(
          `tgtd did not become ready on control port ${this.controlPort} and portal ${formatHostPort(host, port)} ` +
            `(is the portal in use by another process?): ${stderrTail.slice(-3).join(' | ')}`,
        );
      }
      await sleep(25);
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.stopping) return;
    this.log.error({ code, signal }, 'tgtd died; restarting it');
    this.emit('died', code, signal);
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restarting = (async () => {
        try {
          await this.spawnAndWait();
          if (this.stopping) return;
          this.restartDelayMs = 100;
          this.log.info({ pid: this.pid }, 'tgtd restarted');
          this.emit('restarted');
        } catch (err) {
          this.log.error({ err: (err as Error).message }, 'tgtd restart failed; will retry');
          this.scheduleRestart();
        } finally {
          this.restarting = null;
        }
      })();
    }, delay);
  }

  private async removeSocketFiles(): Promise<void> {
    // Stale socket files are harmless to tgtd, but they pile up under /var/run with picked ports.
    if (!this.portControlPicked || !this.ownedSocket) return;
    await rm(`${TGTD_SOCKET_DIR}/socket.${this.controlPort}`, { force: true });
    await rm(`${TGTD_SOCKET_DIR}/socket.${this.controlPort}.lock`, { force: true });
  }
}
