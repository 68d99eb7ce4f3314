// /volumes: CRUD, list and detail list with Cinder's filters, and the 3.12 summary (docs/cinder-compatibility.md#volumes).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { ListVolumesRequest, Workflow } from '../../workflow/model.js';
import { DB_MAX_INT, pyRepr, toBoolean, validate } from '../validation.js';
import { volumeDetail, volumeShown, volumeSummary, volumeSummaryView, type LinkBase } from '../views/volumes.js';
import { nextLink, one, parseBoolParam, parsePage, requestOrigin, type Query } from './listing.js';
import { checkNameLengths, VolumeUpdateBody, volumeCreateBody } from './volumes-schemas.js';

export function linkBase(req: FastifyRequest): LinkBase {
  return { origin: requestOrigin(req) };
}

const MULTIATTACH_REMOVED =
  'multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. ' +
  'Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.';

/** Query parameters that page and sort rather than filter (common.get_pagination_params, get_sort_params). */
const PAGING_KEYS = new Set(['marker', 'limit', 'offset', 'sort', 'sort_key', 'sort_dir']);

/** Every other query parameter, as given (the last of a repeated one), for the workflow's filter rules. */
export function queryFilters(q: Query, skip: ReadonlySet<string> = PAGING_KEYS): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(q)) {
    if (skip.has(key)) continue;
    const v = one(q, key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export function listRequest(q: Query, minor: number): ListVolumesRequest {
  const req: ListVolumesRequest = { ...parsePage(q) };
  const filters = queryFilters(q);
  // with_count is a parameter from 3.45 (SUPPORT_COUNT_INFO); before, it is one more filter.
  if (minor >= 45 && 'with_count' in filters) {
    req.withCount = parseBoolParam('with_count', filters.with_count);
    delete filters.with_count;
  }
  req.filters = filters;
  return req;
}

export function registerVolumeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/volumes', async (request, reply) => {
    const ctx = request.ctx;
    const v = validate(volumeCreateBody(ctx.version.minor), request.body).volume as Record<string, any>;
    checkNameLengths(v);
    if (v.multiattach !== undefined && v.multiattach !== null && toBoolean(v.multiattach)) throw new CinderFault(400, MULTIATTACH_REMOVED);
    const size = v.size === undefined || v.size === null ? NaN : Number(v.size);
    // The schema bounds integers only; a digit string past what the column holds is refused the same way.
    if (size > DB_MAX_INT) {
      throw new CinderFault(400, `Invalid input for field/attribute size. Value: ${pyRepr(v.size)}. ${pyRepr(v.size)} is greater than the maximum of ${DB_MAX_INT}`);
    }
    const info = await workflow.createVolume(ctx, {
      size,
      name: v.name ?? v.display_name ?? null,
      description: v.description ?? v.display_description ?? null,
      volumeType: v.volume_type ?? null,
      availabilityZone: v.availability_zone ?? null,
      metadata: v.metadata ?? null,
      snapshotId: v.snapshot_id ?? null,
      sourceVolid: v.source_volid ?? null,
      groupId: atLeast(ctx.version, 13) ? (v.group_id ?? null) : null,
      imageRef: v.imageRef ?? v.image_id ?? null,
      backupId: atLeast(ctx.version, 47) ? (v.backup_id ?? null) : null,
    });
    return reply.code(202).send({ volume: volumeDetail(linkBase(request), ctx, info) });
  });

  const list = (detail: boolean) => async (request: FastifyRequest) => {
    const ctx = request.ctx;
    const q = request.query as Query;
    const result = await workflow.listVolumes(ctx, listRequest(q, ctx.version.minor));
    const base = linkBase(request);
    const out: Record<string, unknown> = {
      volumes: result.volumes.map((v) => (detail ? volumeShown(base, ctx, v) : volumeSummary(base, ctx, v))),
    };
    if (result.nextMarker) out.volumes_links = nextLink(request, detail ? 'volumes/detail' : 'volumes', q, result.nextMarker);
    if (result.count !== undefined) out.count = result.count;
    return out;
  };
  app.get('/volumes', list(false));
  app.get('/volumes/detail', list(true));

  app.get('/volumes/summary', async (request) => {
    const ctx = request.ctx;
    // VOLUME_SUMMARY: below 3.12 this path is a volume id, and no volume is called "summary".
    if (!atLeast(ctx.version, 12)) throw new CinderFault(404, 'Volume summary could not be found.');
    const summary = await workflow.volumeSummary(ctx, queryFilters(request.query as Query, new Set()));
    return volumeSummaryView(ctx, summary);
  });

  app.get('/volumes/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { volume: volumeShown(linkBase(request), request.ctx, await workflow.getVolume(request.ctx, id)) };
  });

  app.put('/volumes/:id', async (request) => {
    const ctx = request.ctx;
    const { id } = request.params as { id: string };
    const v = validate(VolumeUpdateBody, request.body).volume;
    if (atLeast(ctx.version, 53) && Object.keys(v).length === 0) {
      throw new CinderFault(400, 'Invalid input for field/attribute volume. Value: {}. {} is not valid under any of the given schemas');
    }
    checkNameLengths(v);
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
