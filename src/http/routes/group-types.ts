// /group_types and /group_types/{id}/group_specs (cinder/api/v3/group_types.py, group_specs.py): 3.11+.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CinderFault } from '../../errors.js';
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import type { GroupTypeInfo } from '../../workflow/group-model.js';
import { Bool, Metadata, NullableString, toBoolean, validate } from '../validation.js';
import { one, parsePage, parseBoolParam, type Query } from './listing.js';

const GROUP_TYPE_VERSION = 11;

const GroupTypeCreateBody = Type.Object(
  {
    group_type: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 255 }),
        description: Type.Optional(NullableString(255)),
        is_public: Type.Optional(Bool),
        group_specs: Type.Optional(Type.Union([Metadata, Type.Null()])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const GroupTypeUpdateBody = Type.Object(
  {
    group_type: Type.Object(
      {
        name: Type.Optional(NullableString(255)),
        description: Type.Optional(NullableString(255)),
        is_public: Type.Optional(Bool),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const GroupSpecsBody = Type.Object({ group_specs: Metadata }, { additionalProperties: false });

/** api/v3/views/group_types.py: group_specs only for those who may see them (admins). */
function view(ctx: RequestContext, t: GroupTypeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { id: t.id, name: t.name, description: t.description, is_public: t.isPublic };
  if (ctx.isAdmin) out.group_specs = t.groupSpecs;
  return out;
}

function requireVersion(request: FastifyRequest): void {
  if (!atLeast(request.ctx.version, GROUP_TYPE_VERSION)) throw new CinderFault(404, 'The resource could not be found.');
}

export function registerGroupTypeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/group_types', async (request, reply) => {
    requireVersion(request);
    const t = validate(GroupTypeCreateBody, request.body).group_type;
    const info = await workflow.createGroupType(request.ctx, {
      name: t.name,
      description: t.description ?? null,
      isPublic: t.is_public === undefined ? true : toBoolean(t.is_public),
      groupSpecs: t.group_specs ?? null,
    });
    return reply.code(202).send({ group_type: view(request.ctx, info) });
  });

  app.get('/group_types', async (request) => {
    requireVersion(request);
    const q = request.query as Query;
    const isPublicParam = one(q, 'is_public');
    // api_utils._parse_is_public: "none" lists public and private types.
    const isPublic = isPublicParam === undefined ? true : isPublicParam.toLowerCase() === 'none' ? undefined : parseBoolParam('is_public', isPublicParam);
    const list = await workflow.listGroupTypes(request.ctx, { ...parsePage(q), isPublic });
    return { group_types: list.map((t) => view(request.ctx, t)) };
  });

  app.get('/group_types/:id', async (request) => {
    requireVersion(request);
    const { id } = request.params as { id: string };
    return { group_type: view(request.ctx, await workflow.getGroupType(request.ctx, id)) };
  });

  app.put('/group_types/:id', async (request) => {
    requireVersion(request);
    const { id } = request.params as { id: string };
    const t = validate(GroupTypeUpdateBody, request.body).group_type;
    const info = await workflow.updateGroupType(request.ctx, id, {
      name: t.name,
      description: t.description,
      isPublic: t.is_public === undefined ? undefined : toBoolean(t.is_public),
    });
    return { group_type: view(request.ctx, info) };
  });

  app.delete('/group_types/:id', async (request, reply) => {
    requireVersion(request);
    const { id } = request.params as { id: string };
    await workflow.deleteGroupType(request.ctx, id);
    return reply.code(202).send();
  });

  app.get('/group_types/:id/group_specs', async (request) => {
    requireVersion(request);
    const { id } = request.params as { id: string };
    return { group_specs: await workflow.getGroupSpecs(request.ctx, id) };
  });

  app.post('/group_types/:id/group_specs', async (request, reply) => {
    requireVersion(request);
    const { id } = request.params as { id: string };
    const body = validate(GroupSpecsBody, request.body);
    await workflow.setGroupSpecs(request.ctx, id, body.group_specs);
    return reply.code(202).send(body);
  });

  app.get('/group_types/:id/group_specs/:key', async (request) => {
    requireVersion(request);
    const { id, key } = request.params as { id: string; key: string };
    const specs = await workflow.getGroupSpecs(request.ctx, id);
    if (!(key in specs)) throw new CinderFault(404, `Group Type ${id} has no extra spec with key ${key}.`);
    return { [key]: specs[key] };
  });

  app.put('/group_types/:id/group_specs/:key', async (request) => {
    requireVersion(request);
    const { id, key } = request.params as { id: string; key: string };
    const body = validate(Metadata, request.body);
    if (!(key in body)) throw new CinderFault(400, 'Request body and URI mismatch');
    await workflow.setGroupSpecs(request.ctx, id, body);
    return body;
  });

  app.delete('/group_types/:id/group_specs/:key', async (request, reply) => {
    requireVersion(request);
    const { id, key } = request.params as { id: string; key: string };
    await workflow.deleteGroupSpec(request.ctx, id, key);
    return reply.code(202).send();
  });
}
