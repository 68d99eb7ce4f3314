import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { AdaptivePoll } from '../../src/util/adaptive-poll.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits until the poller has stopped polling (its window has run out). */
async function settle(maxMicroseconds: number): Promise<void> {
  await sleep(Math.ceil(maxMicroseconds / 1000) + 5);
}

/** A poller whose window has grown on events about a millisecond apart (far below the maximum). */
async function grownPoll(max = 10_000): Promise<AdaptivePoll> {
  const poll = new AdaptivePoll(max);
  for (let i = 0; i < 20; i++) {
    poll.arrived();
    await sleep(1);
  }
  assert.ok(poll.stats().windowMicroseconds > 0, 'window grew first');
  return poll;
}

describe('AdaptivePoll', () => {
  it('does nothing when the window is 0', async () => {
    const poll = new AdaptivePoll(0);
    for (let i = 0; i < 20; i++) {
      poll.arrived();
      await nextTurn();
    }
    assert.deepEqual(poll.stats(), { hits: 0, misses: 0, pollSeconds: 0, windowMicroseconds: 0 });
  });

  it('refuses a window that is not a whole number of microseconds', () => {
    assert.throws(() => new AdaptivePoll(-1), /whole number/);
    assert.throws(() => new AdaptivePoll(2.5), /whole number/);
  });

  it('grows the window while events come soon after each other, then catches them polling', async () => {
    const max = 50_000;
    const poll = new AdaptivePoll(max);
    // Events about a millisecond apart: far below the maximum, so every miss grows the window.
    for (let i = 0; i < 40; i++) {
      poll.arrived();
      await sleep(1);
    }
    const s = poll.stats();
    assert.ok(s.windowMicroseconds > 0, `window grew: ${JSON.stringify(s)}`);
    assert.ok(s.hits > s.misses, `most events arrived while polling: ${JSON.stringify(s)}`);
    await settle(max);
    assert.ok(poll.stats().pollSeconds > 0, 'the time spent polling is counted');
  });

  it('shrinks the window, down to off, when events come further apart than the maximum', async () => {
    const max = 10_000;
    const poll = await grownPoll(max);
    const grown = poll.stats().windowMicroseconds;
    const windows: number[] = [];
    for (let i = 0; i < 12; i++) {
      await sleep(50); // five times the maximum: polling could not have caught it
      poll.arrived();
      windows.push(poll.stats().windowMicroseconds);
    }
    assert.ok(windows[0] < grown, `first long gap halves the window (${grown} -> ${windows[0]})`);
    assert.equal(windows.at(-1), 0, `window ends at 0 (off): ${windows.join(', ')}`);
    const before = poll.stats().pollSeconds;
    await settle(max);
    assert.equal(poll.stats().pollSeconds, before, 'no polling once the window is 0');
  });

  it('opens the window again when an answer goes out late, so the next request still counts as caught', async () => {
    const poll = await grownPoll();
    // A command whose answer takes far longer than the window (a flush to disk, say), and the next command right
    // after the answer.
    poll.arrived();
    const before = poll.stats();
    await sleep(50);
    poll.sent();
    const soon = process.hrtime.bigint() + 100_000n; // the next command 100 µs after the answer
    while (process.hrtime.bigint() < soon);
    poll.arrived();
    const after = poll.stats();
    assert.equal(after.misses, before.misses, `no miss: ${JSON.stringify(after)}`);
    assert.equal(after.hits, before.hits + 1);
    assert.equal(after.windowMicroseconds, before.windowMicroseconds, 'the window keeps its size');
  });

  it('switches itself off when input follows each answer within microseconds (high queue depth), and stays off', async () => {
    const poll = await grownPoll();
    const grown = poll.stats().windowMicroseconds;
    for (let i = 0; i < 12; i++) poll.arrived(); // the rest of one message, piece by piece: no sign either way
    assert.equal(poll.stats().windowMicroseconds, grown);
    for (let i = 0; i < 12; i++) {
      poll.sent();
      poll.arrived(); // the next command was already there: the loop would not have slept for it
    }
    assert.equal(poll.stats().windowMicroseconds, 0, 'caught, but too soon to have been worth polling for');
    const off = new AdaptivePoll(10_000);
    for (let i = 0; i < 50; i++) {
      off.sent();
      off.arrived();
    }
    assert.equal(off.stats().windowMicroseconds, 0, 'never opened');
  });

  it('catches the next request of a queue-depth-1 client on a real socket', async () => {
    // The shape of the iSCSI target's use: the server answers each message and polls for the next one.
    const max = 50_000;
    const poll = new AdaptivePoll(max);
    const server = createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (chunk) => {
        poll.arrived();
        s.write(chunk);
        poll.sent();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    client.setNoDelay(true);
    await once(client, 'connect');
    for (let i = 0; i < 300; i++) {
      const echoed = once(client, 'data');
      client.write(Buffer.from([i & 0xff]));
      await echoed;
    }
    const s = poll.stats();
    client.destroy();
    poll.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(s.hits + s.misses, 299, 'every message after the first is counted once');
    assert.ok(s.hits > s.misses, `most requests arrived while the server polled: ${JSON.stringify(s)}`);
  });
});
