// Prometheus metrics on GET /metrics: per-route request counts and latencies plus the process's own gauges.
// The registry is per app so that several services in one test process do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { PollStats } from '../util/adaptive-poll.js';

export function installMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'embervol_' });
  const requests = new Counter({
    name: 'embervol_http_requests_total',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'embervol_http_request_duration_seconds',
    help: 'HTTP request latency by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL, so volume ids do not explode the label space.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('Content-Type', registry.contentType);
    return registry.metrics();
  });
  return registry;
}

/** The builtin iSCSI target's busy-poll window (util/adaptive-poll.ts): what it costs and how often it pays. */
export function installBusyPollMetrics(registry: Registry, stats: () => PollStats): void {
  new Counter({
    name: 'embervol_iscsi_busy_poll_seconds_total',
    help: 'Time the event loop spent polling for iSCSI input instead of sleeping (about the CPU time it cost)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().pollSeconds);
    },
  });
  new Counter({
    name: 'embervol_iscsi_busy_poll_events_total',
    help: 'iSCSI input that arrived while polling (hit) or after the loop had gone to sleep (miss)',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ result: 'hit' }, s.hits);
      this.inc({ result: 'miss' }, s.misses);
    },
  });
  new Gauge({
    name: 'embervol_iscsi_busy_poll_window_seconds',
    help: 'Current busy-poll window (adapts between 0 and --iscsi-busy-poll-microseconds)',
    registers: [registry],
    collect() {
      this.set(stats().windowMicroseconds / 1e6);
    },
  });
}

/** How the volume host copies snapshots and clones, detected at start: embervol_copy_method{method="reflink"} 1. */
export function installCopyMethodMetric(registry: Registry, method: () => Promise<string>): void {
  new Gauge({
    name: 'embervol_copy_method',
    help: 'How snapshots and clones are copied: reflink (copy-on-write) or sparse-copy (1 for the method in use)',
    labelNames: ['method'],
    registers: [registry],
    async collect() {
      this.reset();
      this.set({ method: await method() }, 1);
    },
  });
}
