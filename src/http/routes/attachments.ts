// /attachments (docs/cinder-compatibility.md#attachments-api): 3.27+, os-complete 3.44+, `mode` on create 3.54+.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CinderFault } from '../../errors.js';
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { ListAttachmentsRequest, Workflow } from '../../workflow/model.js';
import { validate } from '../validation.js';
import { attachmentDetail, attachmentSummary } from '../views/attachments.js';
import { AttachmentCreateBody, AttachmentCreateBodyV354, AttachmentUpdateBody } from './attachments-schemas.js';
import { nextLink, one, parseAllTenants, parsePage, type Query } from './listing.js';

/** NEW_ATTACH and NEW_ATTACH_COMPLETION (cinder/api/microversions.py). */
export const ATTACHMENTS_MIN = 27;
export const COMPLETE_MIN = 44;
export const ATTACH_MODE_MIN = 54;

/** Below its version a route does not exist: Cinder renders VersionNotFoundForAPIMethod as this 404. */
function requireVersion(ctx: RequestContext, minor: number): void {
  if (!atLeast(ctx.version, minor)) throw new CinderFault(404, 'The resource could not be found.');
}

const FILTERS = new Set(['volume_id', 'status', 'instance_id', 'attach_status']);
const PARAMS = new Set(['all_tenants', 'project_id', 'limit', 'marker', 'offset', 'sort', 'sort_key', 'sort_dir']);

function listRequest(q: Query): ListAttachmentsRequest {
  const unknown = Object.keys(q).filter((k) => !FILTERS.has(k) && !PARAMS.has(k));
  if (unknown.length > 0) {
    throw new CinderFault(400, `Invalid filters ${unknown.join(', ')} are found in query options. Attachments can be filtered by ${[...FILTERS].join(', ')}.`);
  }
  const req: ListAttachmentsRequest = {};
  const allTenants = parseAllTenants(q);
  if (allTenants !== undefined) req.allTenants = allTenants;
  const projectId = one(q, 'project_id');
  if (projectId) req.projectId = projectId;
  const volumeId = one(q, 'volume_id');
  if (volumeId !== undefined) req.volumeId = volumeId;
  // `status` is the attachment's attach_status (the summary shows it under that name).
  const status = one(q, 'attach_status') ?? one(q, 'status');
  if (status !== undefined) req.attachStatus = status;
  const instance = one(q, 'instance_id');
  if (instance !== undefined) req.instanceUuid = instance;
  return { ...req, ...parsePage(q) };
}

export function registerAttachmentRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/attachments', async (request) => {
    const ctx = request.ctx;
    requireVersion(ctx, ATTACHMENTS_MIN);
    const withMode = atLeast(ctx.version, ATTACH_MODE_MIN);
    const a = validate(withMode ? AttachmentCreateBodyV354 : AttachmentCreateBody, request.body).attachment as {
      volume_uuid: string;
      instance_uuid?: string | null;
      connector?: Record<string, unknown> | null;
      mode?: 'rw' | 'ro';
    };
    const created = await workflow.createAttachment(ctx, {
      volumeId: a.volume_uuid,
      instanceUuid: a.instance_uuid ?? null,
      connector: a.connector ?? null,
      mode: withMode ? (a.mode ?? null) : null,
    });
    return { attachment: attachmentDetail(created) };
  });

  const list = (detail: boolean) => async (request: FastifyRequest) => {
    const ctx = request.ctx;
    requireVersion(ctx, ATTACHMENTS_MIN);
    const q = request.query as Query;
    const result = await workflow.listAttachments(ctx, listRequest(q));
    const out: Record<string, unknown> = { attachments: result.attachments.map(detail ? attachmentDetail : attachmentSummary) };
    if (result.nextMarker) out.attachments_links = nextLink(request, detail ? 'attachments/detail' : 'attachments', q, result.nextMarker);
    return out;
  };
  app.get('/attachments', list(false));
  app.get('/attachments/detail', list(true));

  app.get('/attachments/:id', async (request) => {
    requireVersion(request.ctx, ATTACHMENTS_MIN);
    const { id } = request.params as { id: string };
    return { attachment: attachmentDetail(await workflow.getAttachment(request.ctx, id)) };
  });

  app.put('/attachments/:id', async (request) => {
    const ctx = request.ctx;
    requireVersion(ctx, ATTACHMENTS_MIN);
    const { id } = request.params as { id: string };
    const body = validate(AttachmentUpdateBody, request.body);
    return { attachment: attachmentDetail(await workflow.updateAttachment(ctx, id, body.attachment.connector)) };
  });

  app.delete('/attachments/:id', async (request) => {
    requireVersion(request.ctx, ATTACHMENTS_MIN);
    const { id } = request.params as { id: string };
    const remaining = await workflow.deleteAttachment(request.ctx, id);
    return { attachments: remaining.map(attachmentSummary) };
  });

  app.post('/attachments/:id/action', async (request, reply) => {
    const ctx = request.ctx;
    requireVersion(ctx, COMPLETE_MIN);
    const { id } = request.params as { id: string };
    const body = request.body;
    if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
      throw new CinderFault(400, 'Malformed request body');
    }
    const name = Object.keys(body)[0]!;
    if (name !== 'os-complete') {
      throw new CinderFault(400, `There is no such action: ${name}. Verify the request body and Content-Type header and try again.`);
    }
    await workflow.completeAttachment(ctx, id);
    return reply.code(204).send();
  });
}
