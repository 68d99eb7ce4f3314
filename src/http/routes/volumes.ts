// /volumes: CRUD (reference 7.4).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CinderFault, invalidInput } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { ListVolumesRequest, Workflow } from '../../workflow/model.js';
import { VolumeCreateBody, VolumeUpdateBody } from '../schemas.js';
import { pyRepr, toBoolean, validate } from '../validation.js';
import { volumeDetail, volumeSummary, type LinkBase } from '../views/volumes.js';
import { nextLink, one, parseAllTenants, parseBoolParam, parsePage, requestOrigin, type Query } from './listing.js';

export function linkBase(req: FastifyRequest): LinkBase {
  return { origin: requestOrigin(req) };
}

const MULTIATTACH_REMOVED =
  'multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. ' +
  'Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.';

const CREATE_KEYS = new Set(['name', 'description', 'display_name', 'display_description', 'volume_type', 'metadata', 'snapshot_id', 'source_volid', 'consistencygroup_id', 'size', 'availability_zone', 'multiattach', 'image_id', 'imageRef', 'group_id', 'backup_id']);

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

export function listRequest(q: Query): ListVolumesRequest {
  const req: ListVolumesRequest = {};
  const allTenants = parseAllTenants(q);
  if (allTenants !== undefined) req.allTenants = allTenants;
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
  return { ...req, ...parsePage(q) };
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
    if (result.nextMarker) out.volumes_links = nextLink(request, detail ? 'volumes/detail' : 'volumes', q, result.nextMarker);
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
    await workflow.deleteVolume(ctx, id, {
      force: force !== undefined && atLeast(ctx.version, 23) && parseBoolParam('force', force),
      cascade: cascade !== undefined && parseBoolParam('cascade', cascade),
    });
    return reply.code(202).send();
  });
}
