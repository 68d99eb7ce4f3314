// libiscsi's conformance suite against the SCSI layer, through the builtin iSCSI server and a real file.
// Only the quick SCSI families run here; the full `-t ALL` run is documented in docs/iscsi-test-cu.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/blockdev/file.js';
import { IscsiTargetServer } from '../../src/iscsi/server.js';
import { ScsiTargetDevice, createLogicalUnit } from '../../src/scsi/index.js';
import { runProcess } from '../../src/util/exec.js';
import { iscsiUrl } from '../support/libiscsi.js';
import { makeTempDir } from '../support/tmp.js';
import { identity } from './helpers.js';

const IQN = 'iqn.2010-10.org.openstack:volume-conformance';
const INITIATORS = ['iqn.2007-10.com.test:client', 'iqn.2007-10.com.test:client2'];
const FAMILIES = [
  'SCSI.Inquiry',
  'SCSI.ReadCapacity10',
  'SCSI.ReadCapacity16',
  'SCSI.ReportSupportedOpcodes',
  'SCSI.ModeSense6',
  'SCSI.TestUnitReady',
  'SCSI.Read10',
  'SCSI.Write10',
  'SCSI.Write16',
  'SCSI.Verify16',
  'SCSI.WriteVerify16',
  'SCSI.Prefetch16',
  'SCSI.OrWrite',
  'SCSI.CompareAndWrite',
  'SCSI.PrinReadKeys',
  'SCSI.PrinServiceactionRange',
  'SCSI.PrinReportCapabilities',
  'SCSI.ProutRegister',
  'SCSI.ProutReserve',
  'SCSI.ProutClear',
  'SCSI.ProutPreempt',
];

async function runSuite(url: string): Promise<string> {
  const args = ['-d', '-i', INITIATORS[0], '-I', INITIATORS[1], url, '-t', FAMILIES.join(',')];
  const r = await runProcess('iscsi-test-cu', args, { timeoutMs: 120_000 });
  return r.stdout + r.stderr;
}

test('iscsi-test-cu: the quick SCSI families pass with no failures', { timeout: 150_000 }, async () => {
  const dir = await makeTempDir('embervol-cu-');
  const path = join(dir.path, 'lun0.img');
  await writeFile(path, '');
  await truncate(path, 64 << 20);
  const server = new IscsiTargetServer({ createLunMap: () => new ScsiTargetDevice(), nopInIntervalMs: 0 });
  // 8 logical blocks per physical block, so the Data-Out size checks of COMPARE AND WRITE run too.
  const lu = createLogicalUnit(await FileBlockDevice.open(path), identity, { limits: { physicalBlockExponent: 3 } });
  try {
    server.createTarget(IQN, { chap: null, mutualChap: null });
    server.addLun(IQN, 0, lu);
    for (const i of INITIATORS) server.allowInitiator(IQN, i);
    const { port } = await server.listen('127.0.0.1', 0);
    const out = await runSuite(iscsiUrl({ host: '127.0.0.1', port, iqn: IQN, lun: 0 }));
    const summary = /^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(out);
    assert.ok(summary, `no CUnit summary in output:\n${out.slice(-2000)}`);
    const [, total, ran, passed, failed] = summary.map(Number);
    const failures = out.split('\n').filter((l) => /^\s+\d+\. test_/.test(l));
    assert.equal(failed, 0, `failures:\n${failures.join('\n')}`);
    assert.equal(ran, total);
    assert.equal(passed, total);
    assert.ok(total >= 70, `only ${total} tests ran`);
    // Tests skipped because a command is missing would hide regressions: none of these families may skip.
    assert.doesNotMatch(out, /\[SKIPPED\]/);
  } finally {
    await server.close();
    await lu.close();
    await dir.cleanup();
  }
});
