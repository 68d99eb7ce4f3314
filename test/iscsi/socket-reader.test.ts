import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { readAcceptedSocket } from '../../src/iscsi/socket-reader.js';

interface Harness {
  server: Server;
  client: Socket;
  accepted: Socket;
  socket: Socket;
  chunks: Buffer[];
  received(): number;
  close(): Promise<void>;
}

/** A loopback pair whose accepted end is read with readAcceptedSocket; `prepare` may alter the accepted socket first. */
async function harness(prepare?: (accepted: Socket) => void): Promise<Harness> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const acceptedP = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = await acceptedP;
  prepare?.(accepted);
  const socket = readAcceptedSocket(accepted, (chunk) => {
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return {
    server,
    client,
    accepted,
    socket,
    chunks,
    received: () => bytes,
    async close() {
      client.destroy();
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached within 10 s');
}

/** Sends `total` random bytes in writes of random sizes, some of them after a pause, and returns what was sent. */
async function sendScattered(client: Socket, total: number): Promise<Buffer> {
  const sent = randomBytes(total);
  let at = 0;
  let i = 0;
  while (at < total) {
    const size = Math.min(total - at, 1 + Math.floor(Math.random() * (i % 3 === 0 ? 48 : 200_000)));
    if (!client.write(sent.subarray(at, at + size))) await once(client, 'drain');
    at += size;
    if (i++ % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  return sent;
}

describe('reading accepted sockets into our own buffers', () => {
  it('hands over the accepted handle and delivers every byte in views that later reads never overwrite', async () => {
    const h = await harness();
    try {
      assert.notEqual(h.socket, h.accepted, 'this Node offers user read buffers: the handle moves to a new Socket');
      const sent = await sendScattered(h.client, 3 << 20);
      await until(() => h.received() === sent.length);
      // Every chunk was kept as handed out; if a buffer had been read into again, the joined bytes would differ.
      assert.ok(h.chunks.length > 10, `expected many reads, got ${h.chunks.length}`);
      assert.ok(Buffer.concat(h.chunks).equals(sent));
    } finally {
      await h.close();
    }
  });

  it('writes back over the handed-over socket, pauses and resumes reading, and sees the peer close', async () => {
    const h = await harness();
    try {
      h.socket.write('pong');
      const [reply] = (await once(h.client, 'data')) as [Buffer];
      assert.equal(reply.toString(), 'pong');

      h.socket.pause();
      h.client.write('while paused');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(h.received(), 0, 'nothing is delivered while paused');
      h.socket.resume();
      await until(() => h.received() === 'while paused'.length);

      const closed = once(h.socket, 'close');
      h.client.end();
      await closed;
    } finally {
      await h.close();
    }
  });

  it('the server closes once the handed-over sockets are gone', async () => {
    const h = await harness();
    h.client.write('x');
    await until(() => h.received() === 1);
    await h.close();
    assert.equal(h.server.listening, false);
  });

  it("falls back to the stream's 'data' events when the handle offers no user buffers", async () => {
    const h = await harness((accepted) => {
      const handle = (accepted as unknown as { _handle: Record<string, unknown> })._handle;
      handle.useUserBuffer = undefined;
    });
    try {
      assert.equal(h.socket, h.accepted, 'the accepted socket is kept');
      const sent = await sendScattered(h.client, 1 << 20);
      await until(() => h.received() === sent.length);
      assert.ok(Buffer.concat(h.chunks).equals(sent));
    } finally {
      await h.close();
    }
  });
});
