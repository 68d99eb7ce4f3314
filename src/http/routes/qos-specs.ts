// /qos-specs (cinder/api/contrib/qos_specs_manage.py): CRUD, set and unset keys, and the association of a
// spec with volume types (associate, disassociate and disassociate_all are GETs with vol_type_id, as in Cinder).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { Workflow } from '../../workflow/model.js';
import { QosCreateBody, QosSetBody, QosUnsetBody } from '../types-schemas.js';
import { validate } from '../validation.js';
import { qosSpecsDetail, qosSpecsSummary } from '../views/qos-specs.js';
import { linkBase } from './volumes.js';

const BOOL_TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const BOOL_FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/** utils.get_bool_param: a strict boolean string, false when absent. */
function boolParam(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  const s = String(Array.isArray(v) ? v[v.length - 1] : v).trim().toLowerCase();
  if (BOOL_TRUE.includes(s)) return true;
  if (BOOL_FALSE.includes(s)) return false;
  throw new CinderFault(400, `Invalid input received: Value '${String(v)}' for '${name}' is not a boolean.`);
}

function strings(specs: Record<string, string | null | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, v ?? '']));
}

function last(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  return String(Array.isArray(v) ? v[v.length - 1] : v);
}

export function registerQosSpecsRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/qos-specs', async (request) => {
    const q = request.query as Record<string, unknown>;
    const list = await workflow.listQosSpecs(request.ctx, { id: last(q.id), name: last(q.name), consumer: last(q.consumer) });
    return { qos_specs: list.map(qosSpecsSummary) };
  });

  app.post('/qos-specs', { schema: { body: QosCreateBody } }, async (request) => {
    const { name, ...specs } = validate(QosCreateBody, request.body).qos_specs as Record<string, string | null>;
    const created = await workflow.createQosSpecs(request.ctx, name as string, strings(specs));
    return qosSpecsDetail(linkBase(request), request.ctx, created);
  });

  app.get('/qos-specs/:id', async (request) => {
    const { id } = request.params as { id: string };
    return qosSpecsDetail(linkBase(request), request.ctx, await workflow.getQosSpecs(request.ctx, id));
  });

  app.put('/qos-specs/:id', { schema: { body: QosSetBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const specs = strings(validate(QosSetBody, request.body).qos_specs);
    return { qos_specs: await workflow.setQosKeys(request.ctx, id, specs) };
  });

  app.delete('/qos-specs/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const force = boolParam('force', (request.query as Record<string, unknown>).force);
    await workflow.deleteQosSpecs(request.ctx, id, { force });
    return reply.code(202).send();
  });

  app.put('/qos-specs/:id/delete_keys', { schema: { body: QosUnsetBody } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.unsetQosKeys(request.ctx, id, validate(QosUnsetBody, request.body).keys);
    return reply.code(202).send();
  });

  app.get('/qos-specs/:id/associations', async (request) => {
    const { id } = request.params as { id: string };
    return { qos_associations: await workflow.qosAssociations(request.ctx, id) };
  });

  app.get('/qos-specs/:id/associate', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.associateQos(request.ctx, id, last((request.query as Record<string, unknown>).vol_type_id) ?? '');
    return reply.code(202).send();
  });

  app.get('/qos-specs/:id/disassociate', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.disassociateQos(request.ctx, id, last((request.query as Record<string, unknown>).vol_type_id) ?? '');
    return reply.code(202).send();
  });

  app.get('/qos-specs/:id/disassociate_all', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.disassociateAllQos(request.ctx, id);
    return reply.code(202).send();
  });
}
