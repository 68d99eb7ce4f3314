// One sparse file exported by the builtin target without CHAP, for scripts that drive it with outside tools
// (the conformance suite, benchmarks): the initiators given are in the ACL, read-write.
import { join } from 'node:path';
import { truncate, writeFile } from 'node:fs/promises';
import { silentLogger } from '../../src/log.js';
import { BuiltinTarget, type BuiltinTargetOptions } from '../../src/targets/builtin.js';
import { makeTempDir } from './tmp.js';

export interface OpenExport {
  portal: string;
  iqn: string;
  lun: number;
  /** Stops the target and removes the file. */
  close(): Promise<void>;
}

export async function openExport(
  name: string,
  bytes: number,
  initiators: string[],
  server: BuiltinTargetOptions['server'] = {},
): Promise<OpenExport> {
  const dir = await makeTempDir(`embervol-${name}-`);
  const file = join(dir.path, 'volume');
  await writeFile(file, '');
  await truncate(file, bytes);
  const driver = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), server });
  await driver.start();
  const exp = await driver.createExport(name, file, { username: 'unused', password: 'unused-password' });
  driver.server.setChap(exp.iqn, null);
  for (const initiator of initiators) await driver.allowInitiator(name, initiator, 'rw');
  return {
    portal: driver.portal,
    iqn: exp.iqn,
    lun: exp.lun,
    async close() {
      await driver.stop();
      await dir.cleanup();
    },
  };
}
