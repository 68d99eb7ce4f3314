// A bounded run of the fault-injection harness (fault-harness.ts): SIGKILL at random moments under concurrent
// clients with real initiator I/O, snapshots, clones and reverts, invariants checked after every restart. EMBERVOL_FAULT_ITERATIONS sets the
// number of kill/restart cycles (default 4 here, to stay inside the CI budget); a longer run is in docs/reliability.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultHarness, formatResult } from './fault-harness.js';

const CYCLES = Number(process.env.EMBERVOL_FAULT_ITERATIONS ?? 4);

test(`fault injection: ${CYCLES} SIGKILL/restart cycles under 3 concurrent clients, zero invariant violations`, async (t) => {
  const seed = Number(process.env.EMBERVOL_FAULT_SEED ?? Date.now() % 1_000_000);
  const r = await runFaultHarness({ cycles: CYCLES, clients: 3, maxCycleMs: 3000, seed, log: (l) => t.diagnostic(l) });
  t.diagnostic(`seed ${seed}\n${formatResult(r)}`);
  assert.equal(r.kills, CYCLES);
  assert.ok(r.acknowledged > 0 && r.ioWrites > 0, `the run did real work: ${formatResult(r)}`);
  assert.ok(r.loginsChecked > 0);
  assert.ok(r.snapshotOps.snapshots > 0, `the run took snapshots: ${formatResult(r)}`);
  assert.deepEqual(r.violations, [], `seed ${seed}`);
});
