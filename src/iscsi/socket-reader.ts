// Reads an accepted connection into buffers of our own instead of the stream's.
//
// Node's 'data' path allocates and zero-fills a fresh 64 KiB buffer for every read and runs each chunk through the
// Readable machinery; at queue depth 1 that was a quarter of the target's instructions per command (measured with
// bench/qd1-instructions.sh). net.Socket's `onread` option reads into buffers the caller hands out and calls back
// directly. Node documents it for sockets it connects; an accepted socket gets it by wrapping the accepted handle in
// a new Socket, which relies on `_handle`, so a runtime whose handle does not offer user buffers gets the 'data'
// path instead. The server must accept with `pauseOnConnect` so that nothing is read before the hand-over.

import { Socket } from 'node:net';

/** Each connection reads into an arena of its own; an idle connection keeps at most this much. */
const ARENA_BYTES = 256 << 10;
/** A read is offered at least this much room (what Node's stream path offers), else the next arena starts. */
const MIN_READ_BYTES = 64 << 10;

/** Lets the receiver steer reads: large data segments straight into memory of its own, headers alone into the arena. */
export interface ReadPlacement {
  /** Memory of the receiver's own for the next bytes, or null for the arena. */
  next(): Buffer | null;
  /** Most bytes worth reading into the arena now (a header between two placed segments), or Infinity. */
  arenaReadLimit(): number;
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

function userBufferHandle(socket: Socket): UserBufferHandle | null {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  return handle && typeof handle.useUserBuffer === 'function' ? (handle as UserBufferHandle) : null;
}

/**
 * Delivers what the peer sends to `onChunk` and returns the socket to use from now on (the accepted one, or the one
 * that took over its handle). Every chunk is a view of memory that is never read into again, so a receiver may keep
 * views of it as long as it likes. Chunks that follow each other in one arena are adjacent in memory.
 *
 * `placement`, asked before each read, may name memory of the receiver's own for the next bytes (a large data
 * segment read straight into the buffer it belongs in); the chunk is then a view of that memory. On the 'data' path
 * it is not asked, and the receiver copies.
 */
export function readAcceptedSocket(accepted: Socket, onChunk: (chunk: Buffer) => void, placement?: ReadPlacement): Socket {
  const handle = userBufferHandle(accepted);
  if (!handle) {
    accepted.on('data', onChunk);
    accepted.resume();
    return accepted;
  }
  // Detach the handle first: destroying the accepted Socket then only settles its own and the server's
  // bookkeeping, and the connection lives on in the Socket built around the handle.
  (accepted as unknown as { _handle: unknown })._handle = null;
  accepted.destroy();
  let arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
  let used = 0;
  const options = {
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: (): Buffer => {
        const placed = placement?.next();
        if (placed && placed.length > 0) return placed;
        if (arena.length - used < MIN_READ_BYTES) {
          arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
          used = 0;
        }
        const limit = placement ? placement.arenaReadLimit() : Infinity;
        return limit < arena.length - used ? arena.subarray(used, used + limit) : arena.subarray(used);
      },
      callback: (bytes: number, buffer: Buffer): void => {
        if (buffer.buffer === arena.buffer) used += bytes;
        onChunk(buffer.subarray(0, bytes));
      },
    },
  };
  return new Socket(options as ConstructorParameters<typeof Socket>[0]);
}
