// /os-quota-sets, /os-quota-class-sets (cinder/api/contrib/quotas.py, quota_classes.py) and /limits
// (cinder/api/v3/limits.py, cinder/api/views/limits.py).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { atLeast } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import { validate } from '../validation.js';
import { one, parseBoolParam, type Query } from './listing.js';

// cinder/api/schemas/quotas.py: the values are checked per key by the workflow (Cinder's 'quota_set' format).
const QuotaSetBody = Type.Object(
  { quota_set: Type.Record(Type.String(), Type.Unknown(), { minProperties: 1 }) },
  { additionalProperties: false },
);

// cinder/api/validation/parameter_types.py quota_class_set.
const QuotaClassSetBody = Type.Object(
  {
    quota_class_set: Type.Record(
      Type.String({ pattern: '^[a-zA-Z0-9-_:. ]{1,255}$' }),
      Type.Union([Type.Integer({ minimum: -1, maximum: 0x7fffffff }), Type.String({ pattern: '^[0-9]+$' })]),
    ),
  },
  { additionalProperties: false },
);

export function registerQuotaRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/os-quota-sets/:id', async (request) => {
    const { id } = request.params as { id: string };
    const q = request.query as Query;
    const u = one(q, 'usage');
    const usage = u === undefined ? false : parseBoolParam('usage', u);
    const set = await workflow.showQuotaSet(request.ctx, id, { usage });
    return { quota_set: { ...set, id } };
  });

  app.get('/os-quota-sets/:id/defaults', async (request) => {
    const { id } = request.params as { id: string };
    return { quota_set: { ...(await workflow.defaultQuotaSet(request.ctx, id)), id } };
  });

  app.put('/os-quota-sets/:id', async (request) => {
    const { id } = request.params as { id: string };
    const body = validate(QuotaSetBody, request.body);
    return { quota_set: await workflow.updateQuotaSet(request.ctx, id, body.quota_set) };
  });

  app.delete('/os-quota-sets/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.deleteQuotaSet(request.ctx, id);
    return reply.code(200).send();
  });

  app.get('/os-quota-class-sets/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { quota_class_set: { ...(await workflow.showQuotaClassSet(request.ctx, id)), id } };
  });

  app.put('/os-quota-class-sets/:id', async (request) => {
    const { id } = request.params as { id: string };
    const body = validate(QuotaClassSetBody, request.body);
    return { quota_class_set: await workflow.updateQuotaClassSet(request.ctx, id, body.quota_class_set) };
  });

  app.get('/limits', async (request) => {
    const q = request.query as Query;
    // From 3.39 an admin may ask for another project's limits (project_id, or the older tenant_id).
    const target = atLeast(request.ctx.version, 39) ? (one(q, 'project_id') ?? one(q, 'tenant_id')) : undefined;
    return { limits: { rate: [], absolute: await workflow.absoluteLimits(request.ctx, target) } };
  });
}
