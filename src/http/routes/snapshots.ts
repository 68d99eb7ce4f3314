// /snapshots: CRUD, list filters and paging (cinder/api/v3/snapshots.py), actions (os-reset_status,
// os-force_delete: api/contrib/admin_actions.py; os-update_snapshot_status: api/contrib/snapshot_actions.py)
// and the metadata subresource (api/v3/snapshot_metadata.py).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import type { ListSnapshotsRequest } from '../../workflow/snapshot-model.js';
import { SNAPSHOT_STATUSES } from '../../workflow/snapshots.js';
import { SnapshotCreateBody, SnapshotResetStatusBody, SnapshotUpdateBody, UpdateSnapshotStatusBody } from '../schemas.js';
import { pyRepr, toBoolean, validate } from '../validation.js';
import { snapshotDetail, snapshotSummary } from '../views/snapshots.js';
import { nextLink, one, parseAllTenants, parseBoolParam, parsePage, type Query } from './listing.js';

const SNAPSHOT_IN_USE_FLAG_MSG =
  "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.";

/** Metadata filters arrive as a Python dict literal (ast.literal_eval in Cinder) or JSON. */
function parseMetadataFilter(v: string): Record<string, string> | undefined {
  try {
    const parsed = JSON.parse(v.replace(/'/g, '"')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
    }
  } catch {
    // Cinder keeps an unparsable value as a string, which matches nothing; so do we (below).
  }
  return { '': v };
}

function listRequest(request: FastifyRequest): ListSnapshotsRequest {
  const q = request.query as Query;
  const ctx = request.ctx;
  const req: ListSnapshotsRequest = { ...parsePage(q) };
  const allTenants = parseAllTenants(q);
  if (allTenants !== undefined) req.allTenants = allTenants;
  const name = one(q, 'name') ?? one(q, 'display_name');
  if (name !== undefined) req.name = name;
  const status = one(q, 'status');
  if (status !== undefined) req.status = status;
  const volumeId = one(q, 'volume_id');
  if (volumeId !== undefined) req.volumeId = volumeId;
  const md = one(q, 'metadata');
  if (md !== undefined && atLeast(ctx.version, 22)) req.metadata = parseMetadataFilter(md);
  const withCount = one(q, 'with_count');
  if (withCount !== undefined && atLeast(ctx.version, 45)) req.withCount = parseBoolParam('with_count', withCount);
  return req;
}

function metadataBody(body: unknown, key: 'metadata' | 'meta'): Record<string, unknown> {
  // wsgi.Controller.assert_valid_body
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !(key in body)) {
    throw new CinderFault(400, `Missing required element '${key}' in request body.`);
  }
  const inner = (body as Record<string, unknown>)[key];
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw new CinderFault(400, 'Malformed request body');
  return inner as Record<string, unknown>;
}

export function registerSnapshotRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/snapshots', { schema: { body: SnapshotCreateBody } }, async (request, reply) => {
    const ctx = request.ctx;
    const s = validate(SnapshotCreateBody, request.body).snapshot;
    let force: boolean | undefined;
    if (s.force !== undefined) {
      force = toBoolean(s.force);
      if (atLeast(ctx.version, 66) && !force) throw new CinderFault(400, SNAPSHOT_IN_USE_FLAG_MSG);
    }
    if (s.volume_id === null) throw new CinderFault(404, 'Volume None could not be found.');
    const info = await workflow.createSnapshot(ctx, {
      volumeId: s.volume_id,
      name: s.name !== undefined ? s.name : (s.display_name ?? null),
      description: s.description ?? null,
      force,
      metadata: (s.metadata ?? null) as Record<string, string> | null,
    });
    return reply.code(202).send({ snapshot: snapshotDetail(ctx, info, false) });
  });

  const list = (detail: boolean) => async (request: FastifyRequest) => {
    const ctx = request.ctx;
    const result = await workflow.listSnapshots(ctx, listRequest(request));
    const out: Record<string, unknown> = {
      snapshots: result.snapshots.map((s) => (detail ? snapshotDetail(ctx, s, true) : snapshotSummary(s))),
    };
    if (result.nextMarker) out.snapshots_links = nextLink(request, detail ? 'snapshots/detail' : 'snapshots', request.query as Query, result.nextMarker);
    if (result.count !== undefined) out.count = result.count;
    return out;
  };
  app.get('/snapshots', list(false));
  app.get('/snapshots/detail', list(true));

  app.get('/snapshots/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { snapshot: snapshotDetail(request.ctx, await workflow.getSnapshot(request.ctx, id), true) };
  });

  app.put('/snapshots/:id', { schema: { body: SnapshotUpdateBody } }, async (request) => {
    const ctx = request.ctx;
    const { id } = request.params as { id: string };
    const s = validate(SnapshotUpdateBody, request.body).snapshot;
    const name = s.name !== undefined ? s.name : s.display_name;
    const description = s.description !== undefined ? s.description : s.display_description;
    const info = await workflow.updateSnapshot(ctx, id, { name, description });
    return { snapshot: snapshotDetail(ctx, info, false) };
  });

  app.delete('/snapshots/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.deleteSnapshot(request.ctx, id);
    return reply.code(202).send();
  });

  app.post('/snapshots/:id/action', async (request, reply) => {
    const ctx = request.ctx;
    const { id } = request.params as { id: string };
    const body = request.body;
    if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
      throw new CinderFault(400, 'Malformed request body');
    }
    const name = Object.keys(body)[0];
    switch (name) {
      case 'os-reset_status': {
        validate(SnapshotResetStatusBody, body);
        const status = (body as { 'os-reset_status': { status: string } })['os-reset_status'].status.toLowerCase();
        if (!(SNAPSHOT_STATUSES as readonly string[]).includes(status)) {
          throw new CinderFault(400, `Invalid input for field/attribute status. Value: ${pyRepr(status)}. ${pyRepr(status)} is not a 'snapshot_status'`);
        }
        await workflow.resetSnapshotStatus(ctx, id, status);
        break;
      }
      case 'os-force_delete':
        await workflow.forceDeleteSnapshot(ctx, id);
        break;
      case 'os-update_snapshot_status': {
        validate(UpdateSnapshotStatusBody, body);
        const v = (body as { 'os-update_snapshot_status': { status: string; progress?: string } })['os-update_snapshot_status'];
        await workflow.updateSnapshotStatus(ctx, id, v.status, v.progress);
        break;
      }
      default:
        throw new CinderFault(400, `There is no such action: ${name}. Verify the request body and Content-Type header and try again.`);
    }
    return reply.code(202).send();
  });

  app.get('/snapshots/:id/metadata', async (request) => {
    const { id } = request.params as { id: string };
    return { metadata: await workflow.getSnapshotMetadata(request.ctx, id) };
  });
  const writeAll = (replace: boolean) => async (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    const md = metadataBody(request.body, 'metadata');
    return { metadata: await workflow.updateSnapshotMetadata(request.ctx, id, md as Record<string, string>, replace) };
  };
  app.post('/snapshots/:id/metadata', writeAll(false));
  app.put('/snapshots/:id/metadata', writeAll(true));

  app.get('/snapshots/:id/metadata/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const md = await workflow.getSnapshotMetadata(request.ctx, id);
    if (!(key in md)) throw new CinderFault(404, `Snapshot ${id} has no metadata with key ${key}.`);
    return { meta: { [key]: md[key] } };
  });
  app.put('/snapshots/:id/metadata/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const meta = metadataBody(request.body, 'meta');
    if (!(key in meta)) throw new CinderFault(400, 'Request body and URI mismatch');
    if (Object.keys(meta).length > 1) throw new CinderFault(400, 'Request body contains too many items');
    await workflow.updateSnapshotMetadata(request.ctx, id, meta as Record<string, string>, false);
    return { meta };
  });
  app.delete('/snapshots/:id/metadata/:key', async (request, reply) => {
    const { id, key } = request.params as { id: string; key: string };
    await workflow.deleteSnapshotMetadataKey(request.ctx, id, key);
    return reply.code(200).send();
  });
}
