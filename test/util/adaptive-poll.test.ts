import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { AdaptivePoll } from '../../src/util/adaptive-poll.js';

/**
 * One turn of the event loop. The poller keeps exactly one setImmediate queued while it polls, queued before ours,
 * and immediates run in order: after this the poller has looked at the clock at least once more.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A clock the test moves by hand, so the gaps between events are exactly what the test says and not whatever a
 * loaded machine makes of them. It starts above 0 because 0 means "nothing seen yet" to the poller.
 */
class FakeClock {
  private ns = 1_000_000_000n;
  readonly now = (): bigint => this.ns;
  /** Moves time on by `microseconds` and lets the poller notice (it stops polling once its window has run out). */
  async pass(microseconds: number): Promise<void> {
    this.ns += BigInt(microseconds) * 1000n;
    await nextTurn();
  }
}

const MAX = 10_000;

/** Pollers on a fake clock poll until the clock passes their window: stopped after each test so the process ends. */
const fakeClocked: AdaptivePoll[] = [];

/** A poller on its own fake clock. */
function fakePoll(maxMicroseconds: number): { poll: AdaptivePoll; clock: FakeClock } {
  const clock = new FakeClock();
  const poll = new AdaptivePoll(maxMicroseconds, { clock: clock.now });
  fakeClocked.push(poll);
  return { poll, clock };
}

/**
 * A poller whose window has grown on events 1 ms apart, all misses: 20, 40, ... 640 µs (1280 µs would catch the next
 * event 1 ms later). Ends with polling over (the last window ran out).
 */
async function grownPoll(): Promise<{ poll: AdaptivePoll; clock: FakeClock }> {
  const { poll, clock } = fakePoll(MAX);
  for (let i = 0; i < 7; i++) {
    poll.arrived();
    await clock.pass(1000);
  }
  // Polling ends when the loop sees its window over, here after each 1 ms jump of the clock: 6 × 1 ms.
  assert.deepEqual(poll.stats(), { hits: 0, misses: 6, pollSeconds: 0.006, windowMicroseconds: 640 });
  return { poll, clock };
}

describe('AdaptivePoll', () => {
  afterEach(async () => {
    for (const poll of fakeClocked.splice(0)) poll.stop();
    await nextTurn();
  });

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

  it('grows the window, doubling on each miss, until it catches events polling', async () => {
    const { poll, clock } = fakePoll(50_000);
    const windows: number[] = [];
    for (let i = 0; i < 12; i++) {
      poll.arrived();
      windows.push(poll.stats().windowMicroseconds);
      await clock.pass(1000); // far below the maximum: a longer window would have caught it
    }
    // The first event has nothing to measure a gap from; 1280 µs catches the next event 1 ms later, so it stays.
    assert.deepEqual(windows, [0, 20, 40, 80, 160, 320, 640, 1280, 1280, 1280, 1280, 1280]);
    const s = poll.stats();
    assert.equal(s.misses, 7);
    assert.equal(s.hits, 4);
  });

  it('never grows beyond the maximum', async () => {
    const { poll, clock } = fakePoll(100);
    for (let i = 0; i < 10; i++) {
      poll.arrived();
      await clock.pass(90); // within the maximum, always beyond the window it has: 20, 40, 80, then capped
      await clock.pass(1000); // the window runs out, so the next event is a miss again
      poll.sent();
      await clock.pass(90);
    }
    assert.equal(poll.stats().windowMicroseconds, 100);
  });

  it('counts the time spent polling: from the first event it polls for until the window runs out', async () => {
    const { poll, clock } = fakePoll(MAX);
    poll.arrived();
    await clock.pass(1000);
    poll.arrived(); // a miss 1 ms later: the window opens at 20 µs and polling starts
    await clock.pass(5);
    poll.arrived(); // caught 5 µs later: the window runs 20 µs from here
    await clock.pass(19);
    assert.equal(poll.stats().pollSeconds, 0, 'still polling: the time is counted when polling ends');
    await clock.pass(1);
    assert.deepEqual(poll.stats(), { hits: 1, misses: 1, pollSeconds: 25e-6, windowMicroseconds: 20 });
    await clock.pass(1000);
    assert.equal(poll.stats().pollSeconds, 25e-6, 'no polling after the window');
  });

  it('shrinks the window, down to off, when events come further apart than the maximum', async () => {
    const { poll, clock } = await grownPoll();
    const windows: number[] = [];
    for (let i = 0; i < 8; i++) {
      await clock.pass(5 * MAX); // polling could not have caught it
      poll.arrived();
      windows.push(poll.stats().windowMicroseconds);
    }
    assert.deepEqual(windows, [320, 160, 80, 40, 20, 0, 0, 0]);
    const before = poll.stats().pollSeconds;
    await clock.pass(5 * MAX);
    assert.equal(poll.stats().pollSeconds, before, 'no polling once the window is 0');
  });

  it('opens the window again when an answer goes out late, so the next request still counts as caught', async () => {
    const { poll, clock } = await grownPoll();
    // A command whose answer takes far longer than the window (a flush to disk, say), and the next command 100 µs
    // after the answer.
    poll.arrived(); // 1 ms after the last event: a miss that grows the window to 1280 µs
    const before = poll.stats();
    assert.equal(before.windowMicroseconds, 1280);
    await clock.pass(5 * MAX);
    poll.sent();
    await clock.pass(100);
    poll.arrived();
    const after = poll.stats();
    assert.equal(after.misses, before.misses, 'no miss');
    assert.equal(after.hits, before.hits + 1);
    assert.equal(after.windowMicroseconds, 1280, 'the window keeps its size');

    // The same command without the answer reopening the window: a miss long after the last input shrinks it.
    await clock.pass(5 * MAX);
    poll.arrived();
    assert.equal(poll.stats().misses, before.misses + 1);
    assert.equal(poll.stats().windowMicroseconds, 640);
  });

  it('switches itself off when input follows each answer within microseconds (high queue depth), and stays off', async () => {
    const { poll, clock } = await grownPoll();
    poll.sent();
    await clock.pass(100);
    poll.arrived(); // caught, 100 µs after the answer: worth polling for
    assert.equal(poll.stats().windowMicroseconds, 640);
    for (let i = 0; i < 12; i++) {
      poll.arrived(); // the rest of one message, piece by piece: no sign either way
      await clock.pass(1);
    }
    assert.equal(poll.stats().windowMicroseconds, 640);
    const windows: number[] = [];
    for (let i = 0; i < 8; i++) {
      poll.sent();
      await clock.pass(5);
      poll.arrived(); // the next command was already there: the loop would not have slept for it
      windows.push(poll.stats().windowMicroseconds);
    }
    assert.deepEqual(windows, [320, 160, 80, 40, 20, 0, 0, 0], 'caught, but too soon to have been worth polling for');

    const { poll: off, clock: clock2 } = fakePoll(MAX);
    for (let i = 0; i < 50; i++) {
      off.sent();
      await clock2.pass(5);
      off.arrived();
      await clock2.pass(5);
    }
    assert.deepEqual(off.stats(), { hits: 0, misses: 50, pollSeconds: 0, windowMicroseconds: 0 }, 'never opened');
  });

  it('stops polling and counting when stopped', async () => {
    const { poll, clock } = await grownPoll();
    poll.sent();
    await clock.pass(100);
    poll.stop();
    await clock.pass(1);
    const stopped = poll.stats();
    assert.equal(stopped.pollSeconds, 0.006101, 'polling ends at the next turn');
    poll.arrived();
    poll.sent();
    await clock.pass(1000);
    poll.arrived();
    assert.deepEqual(poll.stats(), stopped);
  });

  it('serves a queue-depth-1 client on a real socket with the real clock, and stops polling after the window', async () => {
    // The shape of the iSCSI target's use: the server answers each message and polls for the next one. How many
    // requests the window catches depends on how busy the machine is, so only what holds under any load is checked.
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
    // The server armed its last window before the last echo reached us, so it has run out by then.
    const windowOver = process.hrtime.bigint() + BigInt(max) * 1000n;
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    while (process.hrtime.bigint() < windowOver) await sleep(5);
    await nextTurn();
    const s = poll.stats();
    assert.equal(s.hits + s.misses, 299, 'every message after the first is counted once');
    assert.ok(s.windowMicroseconds <= max, `window within the maximum: ${JSON.stringify(s)}`);
    await sleep(20);
    await nextTurn();
    assert.deepEqual(poll.stats(), s, 'no more polling once the window has run out');
    poll.stop();
  });
});
