// Lets servers and tests pick a TCP port nobody else uses, so that parallel test files never collide,
// and writes "host:port" the one way every portal string is written (parsing is config.ts parseHostPort).
import { createServer } from 'node:net';

/** Asks the kernel for a free port on host (it may be taken again before use; callers bind soon after). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** "ip:port" for a portal; IPv6 addresses are bracketed as Cinder does. */
export function formatHostPort(host: string, port: number): string {
  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; initiators expect the plain IPv4 form.
  const h = host.startsWith('::ffff:') ? host.slice(7) : host;
  return h.includes(':') && !h.startsWith('[') ? `[${h}]:${port}` : `${h}:${port}`;
}
