// /volumes/{id}/metadata and /volumes/{id}/metadata/{key} (cinder/api/v2/volume_metadata.py, v3 etags).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import { validate } from '../validation.js';
import { MetadataCreateBody, MetadataItemBody } from './volumes-schemas.js';

/** Python's json.dumps with default separators, so the ETag is the one Cinder would compute. */
function pyJson(v: unknown): string {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyJson(k)}: ${pyJson(x)}`).join(', ')}}`;
  }
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(v);
}

const etagOf = (metadata: Record<string, string>) => createHash('md5').update(pyJson({ metadata })).digest('hex');

/**
 * 3.26 (ETAGS): a write with If-Match goes through only when the metadata is still what the client saw;
 * otherwise 412, Cinder's _validate_etag.
 */
async function etagMatches(request: FastifyRequest, workflow: Workflow, id: string): Promise<boolean> {
  const ifMatch = request.headers['if-match'];
  if (!ifMatch || !atLeast(request.ctx.version, 26)) return true;
  if (ifMatch.trim() === '*') return true;
  const tags = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));
  return tags.includes(etagOf(await workflow.getVolumeMetadata(request.ctx, id)));
}

function preconditionFailed(reply: FastifyReply) {
  // webob's bare 412 (Cinder returns webob.Response(status_int=412)).
  return reply.code(412).type('text/html; charset=UTF-8').send('');
}

export function registerVolumeMetadataRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/volumes/:id/metadata', async (request, reply) => {
    const { id } = request.params as { id: string };
    const metadata = await workflow.getVolumeMetadata(request.ctx, id);
    if (atLeast(request.ctx.version, 26)) reply.header('ETag', etagOf(metadata));
    return { metadata };
  });

  app.post('/volumes/:id/metadata', async (request) => {
    const { id } = request.params as { id: string };
    const body = validate(MetadataCreateBody, request.body);
    return { metadata: await workflow.setVolumeMetadata(request.ctx, id, body.metadata, { replace: false }) };
  });

  app.put('/volumes/:id/metadata', async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = validate(MetadataCreateBody, request.body);
    if (!(await etagMatches(request, workflow, id))) return preconditionFailed(reply);
    return { metadata: await workflow.setVolumeMetadata(request.ctx, id, body.metadata, { replace: true }) };
  });

  app.get('/volumes/:id/metadata/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    return { meta: { [key]: await workflow.getVolumeMetadataItem(request.ctx, id, key) } };
  });

  app.put('/volumes/:id/metadata/:key', async (request, reply) => {
    const { id, key } = request.params as { id: string; key: string };
    const meta = validate(MetadataItemBody, request.body).meta;
    if (!(await etagMatches(request, workflow, id))) return preconditionFailed(reply);
    if (!Object.hasOwn(meta, key)) throw new CinderFault(400, 'Request body and URI mismatch');
    await workflow.setVolumeMetadata(request.ctx, id, meta, { replace: false });
    return { meta };
  });

  app.delete('/volumes/:id/metadata/:key', async (request, reply) => {
    const { id, key } = request.params as { id: string; key: string };
    await workflow.deleteVolumeMetadataItem(request.ctx, id, key);
    return reply.code(200).send();
  });
}
