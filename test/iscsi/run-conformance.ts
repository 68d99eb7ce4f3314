// Manual run of libiscsi's full conformance suite against the builtin target (not part of npm test):
//   npx tsx test/iscsi/run-conformance.ts -t ALL --dataloss
// Both initiator names are in the ACL and the LUN URL is given twice, so the MultipathIO family runs.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { INITIATOR, INITIATOR2 } from './helpers.js';
import { iscsiUrl, splitPortal } from '../support/libiscsi.js';
import { makeTempDir } from '../support/tmp.js';
import { truncate, writeFile } from 'node:fs/promises';

const { path: dir, cleanup } = await makeTempDir('embervol-iscsi-');
const file = join(dir, 'volume');
await writeFile(file, '');
await truncate(file, 256 << 20);
const driver = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
await driver.start();
const exp = await driver.createExport('conformance', file, { username: 'unused', password: 'unused-password' });
driver.server.setChap(exp.iqn, null);
await driver.allowInitiator('conformance', INITIATOR, 'rw');
await driver.allowInitiator('conformance', INITIATOR2, 'rw');
const url = iscsiUrl({ ...splitPortal(driver.portal), iqn: exp.iqn, lun: exp.lun });
const child = spawn('iscsi-test-cu', ['-i', INITIATOR, '-I', INITIATOR2, url, url, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', async (code) => {
  await driver.stop();
  await cleanup();
  process.exit(code ?? 1);
});
