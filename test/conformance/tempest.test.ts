// The tempest ratchet: tempest.api.volume + cinder_tempest_plugin.api.volume against `embervol serve --auth
// keystone` and a real Keystone (see tempest.ts), run once per `npm test`, concurrency 2.
//
//  - every id in test/conformance/tempest-passing.txt must pass (a regression fails with the list and reasons);
//  - ids that pass but are not in that file yet are logged: add them (or run with TEMPEST_UPDATE=1);
//  - tempest must have reported every test real Cinder 21 passes (test/conformance/cinder21-passed.txt), as a
//    result of its own or of its class's setUpClass, so a broken discovery or a crashed worker cannot pass;
//  - embervol must answer no request of the run with a 5xx (from its JSON request log).
//
//   npm test -- test/conformance/tempest                                   the ratchet (5-15 min on a busy 2-CPU box)
//   TEMPEST_UPDATE=1 npm test -- test/conformance/tempest                  rewrite tempest-passing.txt from this run
//   TEMPEST_REGEX='test_volume_revert' npm test -- test/conformance/tempest   a subset (only its ratchet ids count)
//   TEMPEST_OUT=DIR ...                                                    keep the run's lists and logs in DIR
//                                                                          (report.ts DIR regenerates docs/conformance.md)
// For a run by hand with tempest's progress on the terminal: test/conformance/run-tempest.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CINDER21_PASSED, FULL_REGEX, byCodeUnits, classOf, failedCall, failureReason, moduleTable, readIdList, runTempest, summaryLine, cinderOverlap, type TempestResult } from './tempest.js';

const RATCHET = new URL('tempest-passing.txt', import.meta.url).pathname;
const regex = process.env.TEMPEST_REGEX || FULL_REGEX;
const update = process.env.TEMPEST_UPDATE === '1' || process.argv.includes('--update');
const keepOut = process.env.TEMPEST_OUT;

/** Why a test of the ratchet did not pass: its own outcome, or its class's setUpClass. */
function why(r: TempestResult, id: string): string {
  const o = r.outcomes.find((x) => x.id === id) ?? r.outcomes.find((x) => x.id === `setUpClass (${classOf(id)})`);
  if (!o) return 'not run';
  const f = failureReason(o);
  const call = failedCall(o.traceback);
  return `${o.id === id ? '' : 'setUpClass: '}${f.kind}: ${call ? `${call}: ` : ''}${f.detail}`.slice(0, 300);
}

describe('tempest volume API tests against embervol + Keystone', { timeout: 60 * 60_000 }, () => {
  let r: TempestResult;
  let ratchet: string[];
  const matches = (id: string) => new RegExp(regex).test(id);

  before(async () => {
    if (update && regex !== FULL_REGEX) throw new Error('TEMPEST_UPDATE=1 rewrites the ratchet from a whole-suite run; unset TEMPEST_REGEX');
    ratchet = (await readIdList(RATCHET)).filter(matches);
    r = await runTempest({ regex, concurrency: 2, outDir: keepOut || undefined });
    if (update) {
      await writeFile(RATCHET, r.passed.map((i) => `${i}\n`).join(''));
      const dropped = ratchet.filter((i) => !r.passed.includes(i));
      console.log(`tempest: wrote ${r.passed.length} ids to ${RATCHET}` + (dropped.length ? `; DROPPED (no longer pass): ${dropped.join(', ')}` : ''));
      ratchet = r.passed;
    }
  });

  after(async () => {
    if (!r) return;
    const cinder = await readIdList(CINDER21_PASSED);
    console.log(`${moduleTable(r.modules)}\ntempest run ${r.tempestSeconds} s, whole run ${r.wallSeconds} s; embervol 5xx answers: ${r.serverErrors.length}, Keystone: ${r.keystoneErrors.length}`);
    console.log(cinderOverlap(r, cinder.filter(matches)));
    console.log(summaryLine(r, cinder.length));
    if (!keepOut) await rm(r.outDir, { recursive: true, force: true });
    else console.log(`tempest results in ${r.outDir}`);
  });

  it('reports every test real Cinder 21 passes (own result or its class setUpClass)', async () => {
    const seen = new Set(r.outcomes.map((o) => o.id));
    const classLevel = new Set(r.outcomes.filter((o) => /^\w+ \(/.test(o.id)).map((o) => classOf(o.id)));
    const expected = (await readIdList(CINDER21_PASSED)).filter(matches);
    assert.ok(r.outcomes.length > 0, 'tempest reported no test at all');
    const missing = expected.filter((id) => !seen.has(id) && !classLevel.has(classOf(id)));
    assert.deepEqual(missing, [], `tempest did not report ${missing.length} test(s) real Cinder 21 passes:\n${missing.join('\n')}`);
  });

  it('keeps test/conformance/tempest-passing.txt sorted (LC_ALL=C sort) and without duplicates', async () => {
    const ids = await readIdList(RATCHET);
    assert.ok(ids.length > 0, 'the ratchet is empty');
    assert.deepEqual(ids, [...new Set(ids)].sort(byCodeUnits));
  });

  it('passes every test in test/conformance/tempest-passing.txt (the ratchet)', () => {
    const passed = new Set(r.passed);
    const regressions = ratchet.filter((id) => !passed.has(id));
    const fresh = r.passed.filter((id) => !ratchet.includes(id));
    if (fresh.length) {
      console.log(
        `tempest: ${fresh.length} test(s) pass that are not in test/conformance/tempest-passing.txt yet; add them ` +
          `(keep the file sorted: LC_ALL=C sort) or run TEMPEST_UPDATE=1 npm test -- test/conformance/tempest:\n${fresh.join('\n')}`,
      );
    }
    assert.deepEqual(
      regressions.map((id) => `${id}  # ${why(r, id)}`),
      [],
      `${regressions.length} test(s) of the ratchet no longer pass`,
    );
  });

  it('gets no 5xx from Keystone (the harness itself is healthy)', () => {
    assert.deepEqual(r.keystoneErrors, [], 'Keystone answered with a 5xx: a harness problem (see keystone.log of the run)');
  });

  it('answers no request with a 5xx during the run', () => {
    const byRoute = new Map<string, number>();
    for (const e of r.serverErrors) {
      const key = `${e.status} ${e.method} ${e.url.replace(/[0-9a-f]{32}|[0-9a-f-]{36}/g, '{id}').split('?')[0]}`;
      byRoute.set(key, (byRoute.get(key) ?? 0) + 1);
    }
    assert.deepEqual(
      [...byRoute].map(([k, n]) => `${k} (x${n})`),
      [],
      `embervol answered ${r.serverErrors.length} request(s) with a 5xx during the tempest run`,
    );
  });
});
