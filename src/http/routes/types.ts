// /types and /types/{id}/extra_specs (cinder/api/v3/types.py, contrib/types_manage.py, contrib/types_extra_specs.py).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { Workflow } from '../../workflow/model.js';
import { ExtraSpecItemBody, ExtraSpecsBody, TypeCreateBody, TypeUpdateBody } from '../types-schemas.js';
import { toBoolean, validate } from '../validation.js';
import { typeCreateView, typeUpdateView, typeView } from '../views/types.js';
import { nextLink, parsePage, type Query } from './listing.js';

const BOOL_TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const BOOL_FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/** api_utils._parse_is_public: absent = public only, "none" = all, else a strict boolean. */
function parseIsPublic(v: unknown): boolean | null {
  if (v === undefined) return true;
  const s = String(Array.isArray(v) ? v[v.length - 1] : v).trim().toLowerCase();
  if (s === 'none') return null;
  if (BOOL_TRUE.includes(s)) return true;
  if (BOOL_FALSE.includes(s)) return false;
  throw new CinderFault(400, `Invalid is_public filter [${String(v)}]`);
}

/** Extra spec values may be null in Cinder's schemas; the store keeps strings, so null is kept as "". */
function specStrings(specs: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, v ?? '']));
}

export function registerTypeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/types', async (request) => {
    const q = request.query as Query;
    const page = parsePage(q);
    const r = await workflow.listTypes(request.ctx, { isPublic: request.ctx.isAdmin ? parseIsPublic(q.is_public) : true, ...page });
    const body: Record<string, unknown> = { volume_types: r.types.map((t) => typeView(request.ctx, t)) };
    if (r.nextMarker !== undefined) body.volume_type_links = nextLink(request, 'types', q, r.nextMarker);
    return body;
  });

  app.get('/types/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { volume_type: typeView(request.ctx, await workflow.getType(request.ctx, id)) };
  });

  app.post('/types', { schema: { body: TypeCreateBody } }, async (request) => {
    const t = validate(TypeCreateBody, request.body).volume_type;
    // The 'name' format check (cinder/api/validation/validators.py _validate_name).
    if (t.name.trim().length === 0) throw new CinderFault(400, "An invalid 'name' value was provided. The 'name' can not be empty.");
    const isPublic = t['os-volume-type-access:is_public'];
    const created = await workflow.createType(request.ctx, {
      name: t.name,
      description: t.description ?? null,
      isPublic: isPublic === undefined ? true : toBoolean(isPublic),
      extraSpecs: t.extra_specs ? specStrings(t.extra_specs) : null,
    });
    return { volume_type: typeCreateView(created) };
  });

  app.put('/types/:id', { schema: { body: TypeUpdateBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const t = validate(TypeUpdateBody, request.body).volume_type;
    const updated = await workflow.updateType(request.ctx, id, {
      name: t.name ?? undefined,
      description: t.description,
      isPublic: t.is_public === undefined ? undefined : toBoolean(t.is_public),
    });
    return { volume_type: typeUpdateView(updated) };
  });

  app.delete('/types/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.deleteType(request.ctx, id);
    return reply.code(202).send();
  });

  app.get('/types/:id/extra_specs', async (request) => {
    const { id } = request.params as { id: string };
    return { extra_specs: await workflow.getExtraSpecs(request.ctx, id) };
  });

  app.post('/types/:id/extra_specs', { schema: { body: ExtraSpecsBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const specs = specStrings(validate(ExtraSpecsBody, request.body).extra_specs);
    return { extra_specs: await workflow.setExtraSpecs(request.ctx, id, specs) };
  });

  app.get('/types/:id/extra_specs/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    return workflow.getExtraSpec(request.ctx, id, key);
  });

  app.put('/types/:id/extra_specs/:key', { schema: { body: ExtraSpecItemBody } }, async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const body = specStrings(validate(ExtraSpecItemBody, request.body));
    return workflow.setExtraSpecs(request.ctx, id, body, { uriKey: key });
  });

  app.delete('/types/:id/extra_specs/:key', async (request, reply) => {
    const { id, key } = request.params as { id: string; key: string };
    await workflow.deleteExtraSpec(request.ctx, id, key);
    return reply.code(202).send();
  });
}
