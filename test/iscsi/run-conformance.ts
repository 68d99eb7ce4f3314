// Manual run of libiscsi's full conformance suite against the builtin target (not part of npm test):
//   npx tsx test/iscsi/run-conformance.ts -t ALL --dataloss
// Both initiator names are in the ACL and the LUN URL is given twice, so the MultipathIO family runs.
import { spawn } from 'node:child_process';
import { INITIATOR, INITIATOR2 } from './helpers.js';
import { iscsiUrl, splitPortal } from '../support/libiscsi.js';
import { openExport } from '../support/open-export.js';

const exp = await openExport('conformance', 256 << 20, [INITIATOR, INITIATOR2]);
const url = iscsiUrl({ ...splitPortal(exp.portal), iqn: exp.iqn, lun: exp.lun });
const child = spawn('iscsi-test-cu', ['-i', INITIATOR, '-I', INITIATOR2, url, url, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', async (code) => {
  await exp.close();
  process.exit(code ?? 1);
});
