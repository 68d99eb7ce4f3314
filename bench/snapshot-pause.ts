// The longest write pause an attached volume sees while it is snapshotted. `embervol serve --target builtin`
// exports an attached (in-use) volume; qemu-img bench keeps writing to it (4 KiB scattered writes, QD 4,
// cache=none) as the load, and a probe session (the raw test initiator, one 4 KiB WRITE at a time) times each
// write from send to the target's acknowledgement, because qemu-img bench reports no per-I/O latency. The same
// run is made twice: without snapshots, then with snapshots taken back to back through the API (create, wait for
// available, delete). A snapshot quiesces the logical unit around the copy (issue 12: in-flight writes finish,
// new ones wait, flush), so the probe's worst latency during snapshots is the pause a guest sees.
// Part of `npm run bench -- snapshots` (or alone: `npm run bench -- snapshots --pause-only [--seconds 20]`).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { runChecked } from '../src/util/exec.js';
import { qemuIscsiJson } from '../test/support/qemu.js';
import { CinderApi } from '../test/interop/api-client.js';
import { startServiceProcess } from '../test/interop/service-process.js';
import { HeldSession } from '../test/interop/attachments-initiator.js';
import type { FlatConnectionInfo } from '../test/support/libiscsi.js';
import { percentile, printTable } from './table.js';

const VOLUME_GIB = 1;
const INITIATOR = 'iqn.2020-01.org.embervol:bench-pause';
const PROBE_BLOCK = 4096;

export interface PauseRow {
  phase: string;
  snapshots: number;
  probeWrites: number;
  p50: number;
  p99: number;
  max: number;
  loadIops: number;
  /** From the service's debug log (a checkout that logs them): the quiesce windows, the pre-flushes before them, the commits after. */
  window?: WindowStats;
}

interface WindowStats {
  heldP50: number;
  heldMax: number;
  preFlushMax: number;
  commitMax: number;
}

/** The 'quiesce window' and 'point-in-time copy' debug lines the service logged since line `from`. */
function windowStats(logs: string[], from: number): WindowStats | undefined {
  const held: number[] = [];
  const preFlush: number[] = [];
  const commit: number[] = [];
  for (const line of logs.slice(from)) {
    if (!line.includes('"quiesce window"') && !line.includes('"point-in-time copy"')) continue;
    const rec = JSON.parse(line) as { heldMs?: number; preFlushMs?: number; commitMs?: number };
    if (rec.heldMs !== undefined) held.push(rec.heldMs);
    if (rec.preFlushMs !== undefined) preFlush.push(rec.preFlushMs);
    if (rec.commitMs !== undefined) commit.push(rec.commitMs);
  }
  if (held.length === 0) return undefined;
  const max = (xs: number[]) => xs.reduce((m, x) => Math.max(m, x), 0);
  return { heldP50: percentile(held, 50), heldMax: max(held), preFlushMax: max(preFlush), commitMax: max(commit) };
}

/** One phase: the load and the probe run for `seconds`; with `snapshot` a snapshot loop runs beside them. */
async function phase(api: CinderApi, volumeId: string, url: string, probe: HeldSession, seconds: number, snapshot: boolean): Promise<Omit<PauseRow, 'phase'>> {
  const end = performance.now() + seconds * 1000;
  let loadOps = 0;
  let loadSeconds = 0;
  const load = (async () => {
    while (performance.now() < end) {
      const count = 4000;
      const r = await runChecked('qemu-img', ['bench', '-t', 'none', '-w', '--pattern=90', '-c', String(count), '-d', '4', '-s', '4096', '-S', String(1024 * 1024 + 4096), url], { timeoutMs: 600_000 });
      const m = /Run completed in ([\d.]+) seconds/.exec(r.stdout);
      if (!m) throw new Error(`qemu-img bench printed no timing: ${r.stdout}`);
      loadOps += count;
      loadSeconds += Number(m[1]);
    }
  })();
  let snapshots = 0;
  const snapper = (async () => {
    if (!snapshot) return;
    // Let the load and the probe get going first, so every snapshot lands on a busy volume.
    await sleep(500);
    while (performance.now() < end - 500) {
      const r = await api.call('POST', '/snapshots', { snapshot: { volume_id: volumeId, force: true } });
      if (r.status !== 202) throw new Error(`snapshot: ${r.status} ${JSON.stringify(r.body)}`);
      const id = r.body.snapshot.id as string;
      for (;;) {
        const s = await api.call('GET', `/snapshots/${id}`);
        if (s.body.snapshot.status === 'available') break;
        if (s.body.snapshot.status !== 'creating') throw new Error(`snapshot ${id} went ${s.body.snapshot.status}`);
        await sleep(20);
      }
      snapshots++;
      await api.call('DELETE', `/snapshots/${id}`);
      await sleep(200);
    }
  })();
  const latencies: number[] = [];
  const data = Buffer.alloc(PROBE_BLOCK, 0xa5);
  // The probe writes its own 4 KiB blocks in the volume's last MiB, away from the load's pattern.
  const firstLba = (VOLUME_GIB * 1024 * 1024 * 1024 - 1024 * 1024) / 512;
  for (let i = 0; performance.now() < end; i++) {
    const t = performance.now();
    const r = await probe.write(firstLba + (i % 256) * (PROBE_BLOCK / 512), data);
    latencies.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`probe write failed: status ${r.status}`);
  }
  await Promise.all([load, snapper]);
  return {
    snapshots,
    probeWrites: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.reduce((m, x) => Math.max(m, x), 0),
    loadIops: loadOps / loadSeconds,
  };
}

/** Both phases on one attached volume whose files live in `dataDir` (so the filesystem decides reflink or copy). */
export async function measurePause(label: string, dataDir: string | undefined, seconds: number, repoRoot?: string): Promise<PauseRow[]> {
  // Debug level: the volume host and the target log each quiesce window with its phases (few lines, one per snapshot).
  const svc = await startServiceProcess({ target: 'builtin', dataDir, repoRoot, extraArgs: ['--log-level', 'debug'] });
  let probe: HeldSession | undefined;
  try {
    const api = new CinderApi(svc.url, undefined, undefined, '3.0');
    const id = await api.createVolume(VOLUME_GIB);
    const init = await api.action(id, 'os-initialize_connection', { connector: { initiator: INITIATOR, host: 'bench' } });
    if (init.status !== 200) throw new Error(`initialize_connection: ${init.status} ${JSON.stringify(init.body)}`);
    const ci = init.body.connection_info.data as FlatConnectionInfo;
    const att = await api.action(id, 'os-attach', { instance_uuid: '6c3b1e9a-4a8e-4f55-9d0f-3b1b5b2f7a10', mountpoint: '/dev/vdb' });
    if (att.status !== 202) throw new Error(`os-attach: ${att.status} ${JSON.stringify(att.body)}`);
    const url = qemuIscsiJson({ portal: ci.target_portal, iqn: ci.target_iqn, lun: ci.target_lun, user: ci.auth_username, password: ci.auth_password, initiatorName: INITIATOR });
    // Fill the volume once: a snapshot then has a whole volume of data to share or to copy.
    await runChecked('qemu-img', ['bench', '-t', 'none', '-w', '--pattern=90', '-c', String(VOLUME_GIB * 1024), '-d', '4', '-s', String(1 << 20), url], { timeoutMs: 600_000 });
    const opened = await HeldSession.open(ci, INITIATOR);
    if (opened.status !== 0) throw new Error(`probe login failed: ${opened.status}`);
    probe = opened.session;
    const quiet = await phase(api, id, url, probe, seconds, false);
    const logged = svc.logs.length;
    const busy = await phase(api, id, url, probe, seconds, true);
    return [
      { phase: `${label}: no snapshots`, ...quiet },
      { phase: `${label}: snapshots back to back`, ...busy, window: windowStats(svc.logs, logged) },
    ];
  } finally {
    probe?.close();
    await svc.stop();
  }
}

export function printPauseTable(rows: PauseRow[], seconds: number): void {
  console.log(
    `Write pauses of an attached ${VOLUME_GIB} GiB volume (builtin target), ${seconds} s per phase: qemu-img bench load ` +
      '(4 KiB scattered writes, QD 4, cache=none) plus a probe timing each 4 KiB write (QD 1) from send to acknowledgement:\n',
  );
  const w = (r: PauseRow, k: keyof WindowStats) => (r.window ? r.window[k].toFixed(1) : '-');
  printTable(
    ['phase', 'snapshots', 'probe writes', 'p50 ms', 'p99 ms', 'max ms', 'load IOPS', 'held p50 ms', 'held max ms', 'pre-flush max ms', 'commit max ms'],
    rows.map((r) => [
      r.phase,
      r.snapshots,
      r.probeWrites,
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.max.toFixed(1),
      Math.round(r.loadIops),
      w(r, 'heldP50'),
      w(r, 'heldMax'),
      w(r, 'preFlushMax'),
      w(r, 'commitMax'),
    ]),
  );
  console.log('\nheld: the quiesce windows (writes held), pre-flush: before each window, commit: sync and rename after it (service debug log).');
}
