// os-services, os-hosts, scheduler-stats and capabilities JSON (cinder/api/contrib/services.py, hosts.py,
// cinder/api/views/scheduler_stats.py, capabilities.py), shaped by tempest's response schemas.
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { HostUsage, PoolInfo, ServiceChange, ServiceInfo } from '../../workflow/model.js';

/** os-extended-services is always loaded, so disabled_reason is always there; volume services add replication fields. */
export function serviceView(ctx: RequestContext, s: ServiceInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    binary: s.binary,
    host: s.host,
    zone: s.zone,
    status: s.disabled ? 'disabled' : 'enabled',
    state: s.up ? 'up' : 'down',
    updated_at: s.updatedAt,
  };
  // 3.49 BACKEND_STATE_REPORT; 3.7 CLUSTER_SUPPORT (embervol has no clusters).
  if (atLeast(ctx.version, 49) && s.binary === 'cinder-volume') out.backend_state = s.up ? 'up' : 'down';
  if (atLeast(ctx.version, 7)) out.cluster = null;
  out.disabled_reason = s.disabledReason;
  if (s.binary === 'cinder-volume') {
    out.replication_status = s.replicationStatus;
    out.active_backend_id = s.activeBackendId;
    out.frozen = s.frozen;
  }
  return out;
}

export function serviceChangeView(c: ServiceChange): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.disabledReason !== undefined) out.disabled_reason = c.disabledReason;
  return { ...out, disabled: c.disabled, host: c.host, service: c.service, binary: c.binary, status: c.status };
}

export function hostView(s: ServiceInfo): Record<string, unknown> {
  return {
    host_name: s.host,
    service: s.binary,
    zone: s.zone,
    'service-status': s.up ? 'available' : 'unavailable',
    'service-state': s.disabled ? 'disabled' : 'enabled',
    'last-update': s.lastHeartbeat,
  };
}

/** Counts and sizes as strings, as hosts.py str()s them. */
export function hostUsageView(u: HostUsage): Record<string, unknown> {
  return {
    resource: {
      host: u.host,
      project: u.project,
      volume_count: String(u.volumeCount),
      total_volume_gb: String(u.totalVolumeGb),
      snapshot_count: String(u.snapshotCount),
      total_snapshot_gb: String(u.totalSnapshotGb),
    },
  };
}

export function poolView(p: PoolInfo, detail: boolean): Record<string, unknown> {
  return detail ? { name: p.name, capabilities: p.capabilities } : { name: p.name };
}

export function capabilitiesView(topic: string, caps: Record<string, unknown>): Record<string, unknown> {
  return {
    namespace: `OS::Storage::Capabilities::${topic}`,
    vendor_name: caps.vendor_name ?? null,
    volume_backend_name: caps.volume_backend_name ?? null,
    pool_name: caps.pool_name ?? null,
    driver_version: caps.driver_version ?? null,
    storage_protocol: caps.storage_protocol ?? null,
    display_name: caps.display_name ?? null,
    description: caps.description ?? null,
    visibility: caps.visibility ?? null,
    replication_targets: caps.replication_targets ?? [],
    properties: caps.properties ?? null,
  };
}
