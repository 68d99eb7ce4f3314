// libiscsi's conformance suite (iscsi-test-cu, Debian libiscsi-bin), iSCSI transport family,
// against the builtin target. The SCSI command-set families are run by the SCSI layer's tests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { INITIATOR, INITIATOR2, iscsiUrl, run, startTestTarget, type TestTarget } from './helpers.js';

describe('iscsi-test-cu, iSCSI family', () => {
  let t: TestTarget;
  before(async () => {
    t = await startTestTarget({ bytes: 64 << 20, initiators: [INITIATOR, INITIATOR2] });
  });
  after(() => t.stop());

  it('passes every iSCSI.* test, including the data-modifying ones', async () => {
    const r = await run('iscsi-test-cu', ['-i', INITIATOR, '-I', INITIATOR2, '--dataloss', '-t', 'iSCSI', iscsiUrl(t.port)], 120000);
    const summary = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(r.stdout);
    assert.ok(summary, `no CUnit summary in output:\n${r.stdout}\n${r.stderr}`);
    const [, total, ran, passed, failed] = summary.map(Number);
    assert.equal(failed, 0, r.stdout);
    assert.equal(ran, total);
    assert.equal(passed, total);
    assert.ok(total >= 15, `expected the 15 iSCSI tests of libiscsi 1.19, got ${total}`);
    assert.doesNotMatch(r.stdout, /SKIPPED/);
  });

  it('passes the tests that lean on the transport: multipath sessions and target cold reset', async () => {
    const url = iscsiUrl(t.port);
    for (const family of ['SCSI.MultipathIO', 'SCSI.Reserve6.TargetColdReset']) {
      const r = await run('iscsi-test-cu', ['-i', INITIATOR, '-I', INITIATOR2, '--dataloss', '-t', family, url, url], 120000);
      const summary = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(r.stdout);
      assert.ok(summary, `no CUnit summary for ${family}:\n${r.stdout}\n${r.stderr}`);
      const [, total, , passed, failed] = summary.map(Number);
      assert.ok(total > 0, family);
      assert.equal(failed, 0, r.stdout);
      assert.equal(passed, total, r.stdout);
      assert.doesNotMatch(r.stdout, /SKIPPED/, `${family} must not skip`);
    }
  });
});
