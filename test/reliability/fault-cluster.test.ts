// A bounded run of the fault harness's multi-process mode (fault-cluster.ts): two API processes and two volume
// hosts on PostgreSQL, one of them SIGKILLed at random each cycle and restarted, under concurrent clients with real
// initiator I/O; the invariants of fault-harness.ts after every restart. EMBERVOL_FAULT_CLUSTER_ITERATIONS sets the
// cycles (default 3 here, for the CI budget); a longer run is in docs/reliability.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultHarness, formatResult, CLUSTER_LEASE_SECONDS } from './fault-harness.js';
import { clusterDeployment } from './fault-cluster.js';

const CYCLES = Number(process.env.EMBERVOL_FAULT_CLUSTER_ITERATIONS ?? 3);

test(`fault injection across processes: ${CYCLES} SIGKILL/restart cycles of a random API process or host, zero invariant violations`, async (t) => {
  const seed = Number(process.env.EMBERVOL_FAULT_SEED ?? Date.now() % 1_000_000);
  const r = await runFaultHarness({ cycles: CYCLES, clients: 3, maxCycleMs: 5000, seed, log: (l) => t.diagnostic(l), deployment: clusterDeployment, leaseSeconds: CLUSTER_LEASE_SECONDS });
  t.diagnostic(`seed ${seed}\n${formatResult(r)}`);
  assert.equal(r.kills, CYCLES);
  assert.ok(r.acknowledged > 0, `the run did real work: ${formatResult(r)}`);
  assert.ok(r.loginsChecked > 0);
  assert.deepEqual(r.violations, [], `seed ${seed}`);
});
