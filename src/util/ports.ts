// Lets servers and tests pick a TCP port nobody else uses, so that parallel test files never collide.
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
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits "ip:port", "[v6]:port" into parts; a missing port becomes defaultPort. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (m) return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
  const idx = text.lastIndexOf(':');
  // More than one colon without brackets is a bare IPv6 address.
  if (idx < 0 || text.indexOf(':') !== idx) return { host: text, port: defaultPort };
  const port = Number(text.slice(idx + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new RangeError(`invalid port in "${text}"`);
  return { host: text.slice(0, idx), port };
}
