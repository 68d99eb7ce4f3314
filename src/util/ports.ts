// Lets servers and tests pick a TCP port nobody else uses, so that parallel test files never collide,
// and writes "host:port" the one way every portal string is written (parsing is config.ts parseHostPort).
import { createServer } from 'node:net';

/**
 * A port that is free on host now. It is drawn at random below Linux's ephemeral range (32768-60999), because a port
 * the kernel hands out for `listen(0)` is also what it hands to the next outgoing connection or `listen(0)` of any
 * other process, so between our probe and the real bind it is often taken again; below that range only other
 * deliberate choices compete. Callers still bind soon after.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (await canListen(host, port)) return port;
  }
  throw new Error(`no free port found on ${host} between 10000 and 32000`);
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** "ip:port" for a portal; IPv6 addresses are bracketed as Cinder does. */
export function formatHostPort(host: string, port: number): string {
  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; initiators expect the plain IPv4 form.
  const h = host.startsWith('::ffff:') ? host.slice(7) : host;
  return h.includes(':') && !h.startsWith('[') ? `[${h}]:${port}` : `${h}:${port}`;
}
