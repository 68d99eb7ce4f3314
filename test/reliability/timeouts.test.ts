// A slow or stalled client cannot hold resources forever: the HTTP API closes idle or half-sent requests,
// and the builtin iSCSI target closes a connection that never finishes its login.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { makeReliabilityEnv } from './env.js';
import { BuiltinTarget } from '../../src/targets/builtin.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../support/wait.js';

function closed(sock: Socket): { done: boolean } {
  const state = { done: false };
  sock.on('close', () => (state.done = true));
  sock.on('error', () => undefined);
  return state;
}

test('HTTP: a client that sends half its headers and stalls is disconnected; the service keeps answering', async () => {
  const e = await makeReliabilityEnv({ http: true, timeouts: { connectionMs: 300, requestMs: 600 } });
  try {
    const address = await e.app!.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(address).port);
    const stalled = connect(port, '127.0.0.1');
    await once(stalled, 'connect');
    const state = closed(stalled);
    stalled.write('GET /v3/ HTTP/1.1\r\nHost: x\r\nX-Au');
    await waitFor('the stalled connection to be closed', async () => state.done);
    const idle = connect(port, '127.0.0.1');
    await once(idle, 'connect');
    const idleState = closed(idle);
    await waitFor('the idle connection to be closed', async () => idleState.done);
    const res = await fetch(`${address}/v3/`);
    assert.equal(res.status, 200);
  } finally {
    await e.close();
  }
});

test('iSCSI: a TCP connection that never logs in is closed by the login timeout', async () => {
  const target = new BuiltinTarget({ portal: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), server: { loginTimeoutMs: 300 } });
  await target.start();
  try {
    const port = Number(target.portal.split(':').pop());
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    const state = closed(sock);
    await waitFor('the login timeout to close the connection', async () => state.done);
    assert.equal(state.done, true);
  } finally {
    await target.stop();
  }
});
