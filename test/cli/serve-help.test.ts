// `embervol serve --help` shows the options of a multi-host deployment; the RPC secret is no flag (it would show in
// the process list), so the command line refuses one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runProcess } from '../../src/util/exec.js';

const repoRoot = new URL('../..', import.meta.url).pathname;
const embervol = (...args: string[]) => runProcess(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot });

test('serve --help lists --role, --rpc-listen, the heartbeat options and where the RPC secret comes from', async () => {
  const r = await embervol('serve', '--help');
  assert.equal(r.code, 0, r.stderr);
  for (const flag of ['--role <role>', '--rpc-listen <host:port>', '--report-interval-seconds <s>', '--service-down-seconds <s>', '--host-name <name>']) {
    assert.ok(r.stdout.includes(flag), `${flag} missing from:\n${r.stdout}`);
  }
  assert.match(r.stdout, /EMBERVOL_RPC_SECRET/);
  assert.doesNotMatch(r.stdout, /--rpc-secret/);
});

test('a secret given as a flag is a usage error, as is a host role without its RPC address', async () => {
  const flag = await embervol('serve', '--rpc-secret', 'not-on-the-command-line-please');
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown option '--rpc-secret'/);
  const host = await embervol('serve', '--role', 'host');
  assert.equal(host.code, 2);
  assert.match(host.stderr, /--role host needs --rpc-listen/);
});
