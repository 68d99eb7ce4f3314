// /volumes: CRUD (reference 7.4).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CinderFault, invalidInput } from '../../errors.js';
import { atLeast } from '../context.js';
import type { ListVolumesRequest, SortDir, Workflow } from '../../workflow/model.js';
import { VolumeCreateBody, VolumeUpdateBody } from '../schemas.js';
import { pyRepr, toBoolean, validate } from '../validation.js';
import { volumeDetail, volumeSummary, type LinkBase } from '../views/volumes.js';

export function linkBase(req: FastifyRequest): LinkBase {
  return { origin: `${req.protocol}://${req.headers.host ?? req.hostname}` };
}

const MULTIATTACH_REMOVED =
  'multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. ' +
  'Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.';

const CREATE_KEYS = new Set(['name', 'description', 'display_name', 'display_description', 'volume_type', 'metadata', 'snapshot_id', 'source_volid', 'consistencygroup_id', 'size', 'availability_zone', 'multiattach', 'image_id', 'imageRef', 'group_id', 'backup_id']);

export type Query = Record<string, string | string[] | undefined>;

export function one(q: Query, key: string): string | undefined {
  const v = q[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function parseBoolParam(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (['true', 't', '1', 'yes', 'y', 'on'].includes(l)) return true;
  if (['false', 'f', '0', 'no', 'n', 'off'].includes(l)) return false;
  throw invalidInput(`'${key} = ${v}'`);
}

export function parseIntParam(key: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new CinderFault(400, `${key} param must be an integer`);
  const n = Number(v);
  if (n < 0) throw new CinderFault(400, `${key} param must be positive`);
  // Past 2^53 the number is no longer exact, and SQLite refuses anything past 2^63: a client error, not a 500.
  if (!Number.isSafeInteger(n)) throw new CinderFault(400, `${key} param is too large`);
  return n;
}

/** Metadata filters arrive as a Python-ish dict string: metadata={'k': 'v'} or JSON. */
function parseMetadataFilter(v: string): Record<string, string> {
  try {
    const parsed = JSON.parse(v.replace(/'/g, '"')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
    }
  } catch {
    // fall through to the 400 below
  }
  throw invalidInput(`Invalid metadata filter: ${v}`);
}

export function parseSort(q: Query): { key: string; dir: SortDir }[] | undefined {
  const sort = one(q, 'sort');
  const sortKey = one(q, 'sort_key');
  const sortDir = one(q, 'sort_dir');
  if (sort && (sortKey || sortDir)) throw invalidInput("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.");
  const dirOf = (d: string | undefined): SortDir => {
    const l = (d ?? 'desc').trim().toLowerCase();
    if (l !== 'asc' && l !== 'desc') throw invalidInput("Unknown sort direction, must be 'desc' or 'asc'");
    return l;
  };
  if (sort) {
    return sort.split(',').map((part) => {
      const [key, dir] = part.split(':');
      return { key: key.trim(), dir: dirOf(dir) };
    });
  }
  if (sortKey) return sortKey.split(',').map((k, i) => ({ key: k.trim(), dir: dirOf(sortDir?.split(',')[i] ?? sortDir?.split(',')[0]) }));
  return undefined;
}

export function listRequest(q: Query): ListVolumesRequest {
  const req: ListVolumesRequest = {};
  const allTenants = one(q, 'all_tenants');
  if (allTenants !== undefined) req.allTenants = allTenants === '' ? true : parseBoolParam('all_tenants', allTenants);
  const name = one(q, 'name') ?? one(q, 'display_name');
  if (name !== undefined) req.name = name;
  const status = one(q, 'status');
  if (status !== undefined) req.status = status;
  const bootable = one(q, 'bootable');
  if (bootable !== undefined) req.bootable = parseBoolParam('bootable', bootable);
  const az = one(q, 'availability_zone');
  if (az !== undefined) req.availabilityZone = az;
  const md = one(q, 'metadata');
  if (md !== undefined) req.metadata = parseMetadataFilter(md);
  req.sort = parseSort(q);
  req.limit = parseIntParam('limit', one(q, 'limit'));
  req.offset = parseIntParam('offset', one(q, 'offset'));
  const marker = one(q, 'marker');
  if (marker) req.marker = marker;
  return req;
}

export function registerVolumeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/volumes', { schema: { body: VolumeCreateBody } }, async (request, reply) => {
    const ctx = request.ctx;
    const body = validate(VolumeCreateBody, request.body);
    const v = body.volume;
    if (atLeast(ctx.version, 53)) {
      const extra = Object.keys(v).find((k) => !CREATE_KEYS.has(k));
      if (extra) {
        throw new CinderFault(400, `Invalid input for field/attribute volume. Value: ${pyRepr(v)}. Additional properties are not allowed (${pyRepr(extra)} was unexpected)`);
      }
    }
    if (v.multiattach !== undefined && v.multiattach !== null && toBoolean(v.multiattach)) throw new CinderFault(400, MULTIATTACH_REMOVED);
    const size = v.size === undefined || v.size === null ? NaN : Number(v.size);
    const info = await workflow.createVolume(ctx, {
      size,
      name: v.name ?? v.display_name ?? null,
      description: v.description ?? v.display_description ?? null,
      volumeType: v.volume_type ?? null,
      availabilityZone: v.availability_zone ?? null,
      metadata: v.metadata ?? null,
      snapshotId: v.snapshot_id ?? null,
      sourceVolid: v.source_volid ?? null,
      imageRef: v.imageRef ?? v.image_id ?? null,
      backupId: atLeast(ctx.version, 47) ? (v.backup_id ?? null) : null,
    });
    return reply.code(202).send({ volume: volumeDetail(linkBase(request), ctx, info) });
  });

  const list = (detail: boolean) => async (request: FastifyRequest) => {
    const ctx = request.ctx;
    const q = request.query as Query;
    const req = listRequest(q);
    const withCount = one(q, 'with_count');
    if (withCount !== undefined && atLeast(ctx.version, 45)) req.withCount = parseBoolParam('with_count', withCount);
    const result = await workflow.listVolumes(ctx, req);
    const base = linkBase(request);
    const out: Record<string, unknown> = {
      volumes: result.volumes.map((v) => (detail ? volumeDetail(base, ctx, v) : volumeSummary(base, ctx, v))),
    };
    if (result.nextMarker) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (k !== 'marker' && v !== undefined) params.set(k, Array.isArray(v) ? v[v.length - 1] : v);
      params.set('marker', result.nextMarker);
      out.volumes_links = [{ rel: 'next', href: `${base.origin}/v3/${ctx.projectId}/volumes${detail ? '/detail' : ''}?${params}` }];
    }
    if (result.count !== undefined) out.count = result.count;
    return out;
  };
  app.get('/volumes', list(false));
  app.get('/volumes/detail', list(true));

  app.get('/volumes/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { volume: volumeDetail(linkBase(request), request.ctx, await workflow.getVolume(request.ctx, id)) };
  });

  app.put('/volumes/:id', { schema: { body: VolumeUpdateBody } }, async (request) => {
    const ctx = request.ctx;
    const { id } = request.params as { id: string };
    const v = validate(VolumeUpdateBody, request.body).volume;
    if (atLeast(ctx.version, 53) && Object.keys(v).length === 0) {
      throw new CinderFault(400, 'Invalid input for field/attribute volume. Value: {}. {} is not valid under any of the given schemas');
    }
    const name = v.name !== undefined ? v.name : v.display_name;
    const description = v.description !== undefined ? v.description : v.display_description;
    const info = await workflow.updateVolume(ctx, id, { name, description, metadata: v.metadata });
    return { volume: volumeDetail(linkBase(request), ctx, info) };
  });

  app.delete('/volumes/:id', async (request, reply) => {
    const ctx = request.ctx;
    const { id } = request.params as { id: string };
    const q = request.query as Query;
    const force = one(q, 'force');
    const cascade = one(q, 'cascade');
    if (cascade !== undefined) parseBoolParam('cascade', cascade);
    await workflow.deleteVolume(ctx, id, { force: force !== undefined && atLeast(ctx.version, 23) && parseBoolParam('force', force) });
    return reply.code(202).send();
  });
}
