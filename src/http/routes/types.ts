// /types and /types/{id}/extra_specs (reference 7.5).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { Workflow } from '../../workflow/model.js';
import { ExtraSpecItemBody, ExtraSpecsBody, TypeCreateBody, TypeUpdateBody } from '../schemas.js';
import { toBoolean, validate } from '../validation.js';
import { typeView } from '../views/types.js';

export function registerTypeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/types', async (request) => {
    const types = await workflow.listTypes(request.ctx);
    return { volume_types: types.map((t) => typeView(request.ctx, t)) };
  });

  app.get('/types/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { volume_type: typeView(request.ctx, await workflow.getType(request.ctx, id)) };
  });

  app.post('/types', { schema: { body: TypeCreateBody } }, async (request) => {
    const t = validate(TypeCreateBody, request.body).volume_type;
    const isPublic = t['os-volume-type-access:is_public'];
    const created = await workflow.createType(request.ctx, {
      name: t.name,
      description: t.description ?? null,
      isPublic: isPublic === undefined ? true : toBoolean(isPublic),
      extraSpecs: t.extra_specs ?? null,
    });
    return { volume_type: typeView(request.ctx, created) };
  });

  app.put('/types/:id', { schema: { body: TypeUpdateBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const t = validate(TypeUpdateBody, request.body).volume_type;
    const updated = await workflow.updateType(request.ctx, id, {
      name: t.name ?? undefined,
      description: t.description,
      isPublic: t.is_public === undefined ? undefined : toBoolean(t.is_public),
    });
    return { volume_type: typeView(request.ctx, updated) };
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
    const specs = validate(ExtraSpecsBody, request.body).extra_specs;
    return { extra_specs: await workflow.setExtraSpecs(request.ctx, id, specs) };
  });

  app.get('/types/:id/extra_specs/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    return workflow.getExtraSpec(request.ctx, id, key);
  });

  app.put('/types/:id/extra_specs/:key', { schema: { body: ExtraSpecItemBody } }, async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const body = validate(ExtraSpecItemBody, request.body);
    const keys = Object.keys(body);
    if (keys.length > 1) throw new CinderFault(400, 'Request body contains too many items.');
    if (keys[0] !== key) throw new CinderFault(400, 'Request body and URI mismatch');
    return workflow.setExtraSpecs(request.ctx, id, body);
  });

  app.delete('/types/:id/extra_specs/:key', async (request, reply) => {
    const { id, key } = request.params as { id: string; key: string };
    await workflow.deleteExtraSpec(request.ctx, id, key);
    return reply.code(202).send();
  });
}
