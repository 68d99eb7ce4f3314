// os-services, os-hosts, scheduler-stats/get_pools and capabilities/{host} (cinder/api/contrib/services.py,
// hosts.py, scheduler_stats.py, capabilities.py), all read from the services table.
import type { FastifyInstance } from 'fastify';
import { CinderFault, invalidInput } from '../../errors.js';
import type { Workflow } from '../../workflow/model.js';
import { FreezeThawBody, ServiceDisableLogReasonBody, ServiceEnableBody } from '../types-schemas.js';
import { pyRepr, validate } from '../validation.js';
import { capabilitiesView, hostUsageView, hostView, poolView, serviceChangeView, serviceView } from '../views/services.js';

function lastValue(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  return String(Array.isArray(v) ? v[v.length - 1] : v);
}

/** utils.get_bool_param: an absent parameter is false, anything but a boolean string is a 400. */
function boolParam(name: string, v: unknown): boolean {
  const s = lastValue(v);
  if (s === undefined) return false;
  const l = s.toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(l)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(l)) return false;
  throw invalidInput(`Invalid value '${s}' for ${name}: Unrecognized value '${s}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`);
}

export function registerServiceRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/os-services', async (request) => {
    const q = request.query as Record<string, unknown>;
    const list = await workflow.listServices(request.ctx, { host: lastValue(q.host), binary: lastValue(q.binary) });
    return { services: list.map((s) => serviceView(request.ctx, s)) };
  });

  app.put('/os-services/:action', async (request, reply) => {
    const { action } = request.params as { action: string };
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (action === 'freeze' || action === 'thaw') {
      const v = validate(FreezeThawBody, body);
      // common.get_cluster_host with REPLICATION_CLUSTER (3.26): from then on a cluster may name the backend instead.
      if (request.ctx.version.minor >= 26) {
        if (Boolean(v.cluster) === Boolean(v.host)) throw invalidInput('One and only one of cluster and host must be set.');
        // embervol has no clusters, so no service belongs to one.
        if (v.cluster) throw invalidInput(`No service found with cluster=${v.cluster}`);
      }
      if (!v.host) throw invalidInput('Host field is missing.');
      if (action === 'freeze') await workflow.freezeHost(request.ctx, v.host);
      else await workflow.thawHost(request.ctx, v.host);
      return reply.code(200).send();
    }
    if (action !== 'enable' && action !== 'disable' && action !== 'disable-log-reason') throw invalidInput('Unknown action');
    const v = validate(action === 'disable-log-reason' ? ServiceDisableLogReasonBody : ServiceEnableBody, body) as {
      binary?: string;
      service?: string;
      host?: string | null;
      disabled_reason?: string;
    };
    // The schema's anyOf: one of binary or service is required.
    if (v.binary === undefined && v.service === undefined) throw new CinderFault(400, `${pyRepr(body)} is not valid under any of the given schemas`);
    if (action === 'disable-log-reason' && v.disabled_reason !== undefined && v.disabled_reason.trim().length === 0) {
      throw invalidInput('disabled_reason has 0 characters, less than 1.');
    }
    if (!v.host) throw invalidInput('Host field is missing.');
    const change = await workflow.setServiceEnabled(request.ctx, {
      host: v.host,
      binary: v.binary ?? '',
      service: v.service ?? '',
      enabled: action === 'enable',
      // disable-log-reason stores the given reason, None when the body has none (services.py _disabled_log_reason).
      ...(action === 'disable-log-reason' ? { reason: v.disabled_reason ?? null } : {}),
    });
    return serviceChangeView(change);
  });

  app.get('/os-hosts', async (request) => {
    const q = request.query as Record<string, unknown>;
    const list = await workflow.listHosts(request.ctx, lastValue(q.zone));
    return { hosts: list.map(hostView) };
  });

  app.get('/os-hosts/:host', async (request) => {
    const { host } = request.params as { host: string };
    return { host: (await workflow.showHost(request.ctx, host)).map(hostUsageView) };
  });

  app.get('/scheduler-stats/get_pools', async (request) => {
    const q = request.query as Record<string, unknown>;
    const detail = boolParam('detail', q.detail);
    // Filters by name are 3.28 (POOL_FILTER); older requests ignore them.
    const filters = request.ctx.version.minor >= 28 ? { name: lastValue(q.name), backendName: lastValue(q.volume_backend_name) } : {};
    const pools = await workflow.listPools(request.ctx, filters);
    return { pools: pools.map((p) => poolView(p, detail)) };
  });

  app.get('/capabilities/:host', async (request) => {
    const { host } = request.params as { host: string };
    const { topic, capabilities } = await workflow.backendCapabilities(request.ctx, host);
    return capabilitiesView(topic, capabilities);
  });
}
