// /groups (cinder/api/v3/groups.py, 3.13+) and /group_snapshots (api/v3/group_snapshots.py, 3.14+): CRUD, the
// group actions (delete, reset_status 3.20, create-from-src 3.14) and the group snapshot action reset_status (3.19).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import type { ListGroupsRequest } from '../../workflow/group-model.js';
import { GROUP_SNAPSHOT_STATUSES, GROUP_STATUSES } from '../../workflow/groups.js';
import { Bool, NullableString, pyRepr, toBoolean, Uuid, validate } from '../validation.js';
import { groupDetail, groupSnapshotDetail, groupSnapshotSummary, groupSummary } from '../views/groups.js';
import { nextLink, one, parseAllTenants, parseBoolParam, parsePage, type Query } from './listing.js';

const GROUP_VOLUME = 13;
const GROUP_SNAPSHOTS = 14;
const GROUP_SNAPSHOT_RESET_STATUS = 19;
const GROUP_VOLUME_RESET_STATUS = 20;
const GROUP_VOLUME_LIST = 25;
const GROUP_SNAPSHOT_PAGINATION = 29;
const GROUP_REPLICATION = 38;

const Name = NullableString(255);

const GroupCreateBody = Type.Object(
  {
    group: Type.Object(
      {
        description: Type.Optional(Name),
        group_type: Type.String(),
        name: Type.Optional(Name),
        volume_types: Type.Array(Type.String({ maxLength: 255 }), { minItems: 1, uniqueItems: true }),
        availability_zone: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const GroupFromSourceBody = Type.Object(
  {
    'create-from-src': Type.Object(
      {
        description: Type.Optional(Name),
        name: Type.Optional(Name),
        source_group_id: Type.Optional(Uuid),
        group_snapshot_id: Type.Optional(Uuid),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const GroupUpdateBody = Type.Object(
  {
    group: Type.Object(
      { description: Type.Optional(Name), name: Type.Optional(Name), add_volumes: Type.Optional(Name), remove_volumes: Type.Optional(Name) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const GroupDeleteBody = Type.Object({ delete: Type.Object({ 'delete-volumes': Type.Optional(Bool) }, { additionalProperties: false }) }, { additionalProperties: false });

const ResetStatusBody = Type.Object({ reset_status: Type.Object({ status: Type.String() }, { additionalProperties: false }) }, { additionalProperties: false });

const GroupSnapshotCreateBody = Type.Object(
  {
    group_snapshot: Type.Object({ group_id: Uuid, name: Type.Optional(Name), description: Type.Optional(Name) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

const notFound = () => new CinderFault(404, 'The resource could not be found.');

function requireVersion(request: FastifyRequest, minor: number): void {
  if (!atLeast(request.ctx.version, minor)) throw notFound();
}

/** A Python tuple of strings, as Cinder's status messages print fields.*Status.ALL. */
const pyTuple = (items: readonly string[]) => `(${items.map((s) => `'${s}'`).join(', ')})`;

/** The reset_status body and its status format checker (api/validation/validators.py _validate_group_status / _validate_status). */
function resetStatusOf(body: unknown, kind: 'group' | 'group_snapshot'): string {
  const status = validate(ResetStatusBody, body).reset_status.status;
  if (status.trim().length === 0) {
    throw new CinderFault(400, kind === 'group' ? "Invalid Group Status: The 'status' can not be empty." : "Invalid GroupSnapshot Status: The 'status' can not be empty.");
  }
  // Cinder compares a group's status with the group snapshot statuses too (so 'in-use' is refused), and lists the group ones.
  if (!(GROUP_SNAPSHOT_STATUSES as readonly string[]).includes(status.toLowerCase())) {
    throw new CinderFault(
      400,
      kind === 'group'
        ? `Invalid Group Status: Group status: ${status} is invalid, valid status are: ${pyTuple(GROUP_STATUSES)}.`
        : `Invalid GroupSnapshot Status: Group snapshot status: ${status} is invalid, valid statuses are: ${pyTuple(GROUP_SNAPSHOT_STATUSES)}.`,
    );
  }
  return status.toLowerCase();
}

/** Query parameters that page and sort (common.get_pagination_params, get_sort_params) or only shape the view. */
const NOT_FILTERS = new Set(['marker', 'limit', 'offset', 'sort', 'sort_key', 'sort_dir', 'list_volume']);

function listRequest(q: Query, paging: boolean): ListGroupsRequest {
  if (!paging) return { filters: {} };
  const req: ListGroupsRequest = { ...parsePage(q), filters: {} };
  const allTenants = parseAllTenants(q);
  if (allTenants !== undefined) req.allTenants = allTenants;
  for (const key of Object.keys(q)) {
    if (NOT_FILTERS.has(key)) continue;
    const v = one(q, key);
    if (v !== undefined) req.filters[key] = v;
  }
  return req;
}

function listVolumes(request: FastifyRequest): boolean {
  const v = one(request.query as Query, 'list_volume');
  return atLeast(request.ctx.version, GROUP_VOLUME_LIST) && v !== undefined && parseBoolParam('list_volume', v);
}

function body<T extends TSchema>(schema: T, value: unknown) {
  return validate(schema, value);
}

export function registerGroupRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.post('/groups', async (request, reply) => {
    requireVersion(request, GROUP_VOLUME);
    const g = body(GroupCreateBody, request.body).group;
    if (g.group_type.trim().length === 0) throw new CinderFault(400, "The 'group_type' can not be None.");
    if (g.group_type.trim().length > 255) {
      throw new CinderFault(400, `Invalid input received: group_type has ${g.group_type.trim().length} characters, more than 255.`);
    }
    if (typeof g.availability_zone === 'string' && g.availability_zone.trim().length === 0) {
      throw new CinderFault(400, "The 'availability_zone' can not be None.");
    }
    const info = await workflow.createGroup(request.ctx, {
      name: g.name?.trim() ?? null,
      description: g.description?.trim() ?? null,
      groupType: g.group_type.trim(),
      volumeTypes: g.volume_types,
      availabilityZone: g.availability_zone ?? null,
    });
    return reply.code(202).send({ group: groupSummary(info) });
  });

  const list = (detail: boolean) => async (request: FastifyRequest) => {
    requireVersion(request, GROUP_VOLUME);
    const q = request.query as Query;
    const result = await workflow.listGroups(request.ctx, listRequest(q, true));
    const withVolumes = listVolumes(request);
    const out: Record<string, unknown> = {
      groups: result.items.map((g) => (detail ? groupDetail(request.ctx, g, withVolumes) : groupSummary(g))),
    };
    if (result.nextMarker) out.group_links = nextLink(request, detail ? 'groups/detail' : 'groups', q, result.nextMarker);
    return out;
  };
  app.get('/groups', list(false));
  app.get('/groups/detail', list(true));

  app.get('/groups/:id', async (request) => {
    requireVersion(request, GROUP_VOLUME);
    const { id } = request.params as { id: string };
    return { group: groupDetail(request.ctx, await workflow.getGroup(request.ctx, id), listVolumes(request)) };
  });

  app.put('/groups/:id', async (request, reply) => {
    requireVersion(request, GROUP_VOLUME);
    const { id } = request.params as { id: string };
    const g = body(GroupUpdateBody, request.body).group;
    if (g.name === undefined && g.description === undefined && g.add_volumes === undefined && g.remove_volumes === undefined) {
      throw new CinderFault(400, `Invalid input for field/attribute group. Value: ${pyRepr(g)}. ${pyRepr(g)} is not valid under any of the given schemas`);
    }
    await workflow.updateGroup(request.ctx, id, {
      name: g.name ? g.name.trim() : g.name,
      description: g.description ? g.description.trim() : g.description,
      addVolumes: g.add_volumes,
      removeVolumes: g.remove_volumes,
    });
    return reply.code(202).send();
  });

  app.post('/groups/action', async (request, reply) => {
    requireVersion(request, GROUP_VOLUME);
    const b = request.body;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || !('create-from-src' in b)) {
      const name = b && typeof b === 'object' && !Array.isArray(b) ? Object.keys(b)[0] : undefined;
      throw new CinderFault(400, `There is no such action: ${name ?? 'None'}. Verify the request body and Content-Type header and try again.`);
    }
    requireVersion(request, GROUP_SNAPSHOTS);
    const src = body(GroupFromSourceBody, b)['create-from-src'];
    // oneOf: exactly one source.
    if ((src.group_snapshot_id === undefined) === (src.source_group_id === undefined)) {
      throw new CinderFault(400, `Invalid input for field/attribute create-from-src. Value: ${pyRepr(src)}. ${pyRepr(src)} is not valid under any of the given schemas`);
    }
    const info = await workflow.createGroupFromSource(request.ctx, {
      name: src.name?.trim() ?? null,
      description: src.description?.trim() ?? null,
      groupSnapshotId: src.group_snapshot_id ?? null,
      sourceGroupId: src.source_group_id ?? null,
    });
    return reply.code(202).send({ group: groupSummary(info) });
  });

  app.post('/groups/:id/action', async (request, reply) => {
    requireVersion(request, GROUP_VOLUME);
    const { id } = request.params as { id: string };
    const b = request.body;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || Object.keys(b).length !== 1) throw new CinderFault(400, 'Malformed request body');
    const action = Object.keys(b)[0];
    switch (action) {
      case 'delete': {
        const d = body(GroupDeleteBody, b).delete;
        await workflow.deleteGroup(request.ctx, id, d['delete-volumes'] !== undefined && toBoolean(d['delete-volumes']));
        break;
      }
      case 'reset_status':
        requireVersion(request, GROUP_VOLUME_RESET_STATUS);
        await workflow.resetGroupStatus(request.ctx, id, resetStatusOf(b, 'group'));
        break;
      case 'enable_replication':
      case 'disable_replication':
      case 'failover_replication':
      case 'list_replication_targets':
        requireVersion(request, GROUP_REPLICATION);
        await workflow.getGroup(request.ctx, id);
        // No group type here enables replication (group/api.py _check_type).
        throw new CinderFault(400, `Invalid group type: Group ${id} is not a replication group type.`);
      default:
        throw new CinderFault(400, `There is no such action: ${action}. Verify the request body and Content-Type header and try again.`);
    }
    return reply.code(202).send();
  });

  // ---- group snapshots ----

  app.post('/group_snapshots', async (request, reply) => {
    requireVersion(request, GROUP_SNAPSHOTS);
    const s = body(GroupSnapshotCreateBody, request.body).group_snapshot;
    const info = await workflow.createGroupSnapshot(request.ctx, { groupId: s.group_id, name: s.name ?? null, description: s.description ?? null });
    return reply.code(202).send({ group_snapshot: groupSnapshotSummary(info, true) });
  });

  const listSnapshots = (detail: boolean) => async (request: FastifyRequest) => {
    requireVersion(request, GROUP_SNAPSHOTS);
    const q = request.query as Query;
    // Filters, sorting and paging arrived with 3.29; before, every group snapshot of the project is listed.
    const result = await workflow.listGroupSnapshots(request.ctx, listRequest(q, atLeast(request.ctx.version, GROUP_SNAPSHOT_PAGINATION)));
    const out: Record<string, unknown> = {
      group_snapshots: result.items.map((s) => (detail ? groupSnapshotDetail(request.ctx, s) : groupSnapshotSummary(s, false))),
    };
    if (result.nextMarker) out.group_snapshot_links = nextLink(request, detail ? 'group_snapshots/detail' : 'group_snapshots', q, result.nextMarker);
    return out;
  };
  app.get('/group_snapshots', listSnapshots(false));
  app.get('/group_snapshots/detail', listSnapshots(true));

  app.get('/group_snapshots/:id', async (request) => {
    requireVersion(request, GROUP_SNAPSHOTS);
    const { id } = request.params as { id: string };
    return { group_snapshot: groupSnapshotDetail(request.ctx, await workflow.getGroupSnapshot(request.ctx, id)) };
  });

  app.delete('/group_snapshots/:id', async (request, reply) => {
    requireVersion(request, GROUP_SNAPSHOTS);
    const { id } = request.params as { id: string };
    await workflow.deleteGroupSnapshot(request.ctx, id);
    return reply.code(202).send();
  });

  app.post('/group_snapshots/:id/action', async (request, reply) => {
    requireVersion(request, GROUP_SNAPSHOTS);
    const { id } = request.params as { id: string };
    const b = request.body;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || Object.keys(b).length !== 1) throw new CinderFault(400, 'Malformed request body');
    const action = Object.keys(b)[0];
    if (action !== 'reset_status') throw new CinderFault(400, `There is no such action: ${action}. Verify the request body and Content-Type header and try again.`);
    requireVersion(request, GROUP_SNAPSHOT_RESET_STATUS);
    await workflow.resetGroupSnapshotStatus(request.ctx, id, resetStatusOf(b, 'group_snapshot'));
    return reply.code(202).send();
  });
}
