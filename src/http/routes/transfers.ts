// /os-volume-transfer (cinder/api/contrib/volume_transfer.py) and /volume-transfers (cinder/api/v3/volume_transfer.py).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { ListTransfersRequest, Workflow } from '../../workflow/model.js';
import { Bool, toBoolean, Uuid, validate } from '../validation.js';
import { transferCreated, transferDetail, transferSummary } from '../views/transfers.js';
import { linkBase } from './volumes.js';
import { nextLink, one, parseAllTenants, parseIntParam, parsePage, type Query } from './listing.js';

// cinder/api/schemas/volume_transfer.py: create, create_v355 (no_snapshots), accept.
const TransferName = Type.Union([Type.String(), Type.Null()]);

/** Cinder's 'name_skip_leading_trailing_spaces' format (cinder/api/validation/validators.py). */
function transferName(name: string | null | undefined): string | null {
  if (name === undefined || name === null) return null;
  const invalid = (why: string) => new CinderFault(400, `An invalid 'name' value was provided. ${why}`);
  if (name === '') throw invalid("The 'name' can not be None.");
  const trimmed = name.trim();
  if (trimmed.length === 0) throw invalid("The 'name' can not be empty.");
  if (trimmed.length > 255) throw invalid("The 'name' can not be greater than 255 characters.");
  return trimmed;
}
const CreateBody = Type.Object(
  { transfer: Type.Object({ volume_id: Uuid, name: Type.Optional(TransferName) }, { additionalProperties: false }) },
  { additionalProperties: false },
);
const CreateBody355 = Type.Object(
  {
    transfer: Type.Object(
      { volume_id: Uuid, name: Type.Optional(TransferName), no_snapshots: Type.Optional(Bool) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
const AcceptBody = Type.Object(
  { accept: Type.Object({ auth_key: Type.Union([Type.String(), Type.Integer()]) }, { additionalProperties: false }) },
  { additionalProperties: false },
);

export function registerTransferRoutes(app: FastifyInstance, workflow: Workflow): void {
  for (const prefix of ['/os-volume-transfer', '/volume-transfers']) {
    // The v2 controller (os-volume-transfer) never takes no_snapshots; /volume-transfers does from 3.55.
    const v3 = prefix === '/volume-transfers';

    app.post(prefix, async (request, reply) => {
      const ctx = request.ctx;
      const withSnapshots = v3 && atLeast(ctx.version, 55);
      const t = withSnapshots ? validate(CreateBody355, request.body).transfer : validate(CreateBody, request.body).transfer;
      const raw = (t as { no_snapshots?: boolean | string }).no_snapshots;
      const noSnapshots = raw === undefined ? false : toBoolean(raw);
      const created = await workflow.createTransfer(ctx, { volumeId: t.volume_id, name: transferName(t.name), noSnapshots });
      return reply.code(202).send({ transfer: transferCreated(linkBase(request), ctx, created) });
    });

    const list = (detail: boolean) => async (request: FastifyRequest) => {
      const q = request.query as Query;
      const req: ListTransfersRequest = {};
      const allTenants = parseAllTenants(q);
      if (allTenants !== undefined) req.allTenants = allTenants;
      const name = one(q, 'name');
      if (name !== undefined) req.name = name;
      if (atLeast(request.ctx.version, 59)) {
        // Pagination and sorting arrived with 3.59 (SUPPORT_TRANSFER_PAGINATION); sort defaults to created_at desc.
        const page = parsePage(q);
        req.sort = page.sort ?? [{ key: 'created_at', dir: 'desc' }];
        if (page.marker !== undefined) req.marker = page.marker;
        if (page.limit !== undefined) req.limit = page.limit;
        if (page.offset !== undefined) req.offset = page.offset;
      } else {
        const limit = parseIntParam('limit', one(q, 'limit'));
        if (limit !== undefined) req.limit = limit;
        const offset = parseIntParam('offset', one(q, 'offset'));
        if (offset !== undefined) req.offset = offset;
      }
      const { transfers, nextMarker } = await workflow.listTransfers(request.ctx, req);
      const base = linkBase(request);
      const out: Record<string, unknown> = {
        transfers: transfers.map((t) => (detail ? transferDetail(base, request.ctx, t) : transferSummary(base, request.ctx, t))),
      };
      if (nextMarker !== undefined) out.transfers_links = nextLink(request, `os-volume-transfer${detail ? '/detail' : ''}`, q, nextMarker);
      return out;
    };
    app.get(prefix, list(false));
    app.get(`${prefix}/detail`, list(true));

    app.get(`${prefix}/:id`, async (request) => {
      const { id } = request.params as { id: string };
      return { transfer: transferDetail(linkBase(request), request.ctx, await workflow.getTransfer(request.ctx, id)) };
    });

    app.delete(`${prefix}/:id`, async (request, reply) => {
      const { id } = request.params as { id: string };
      await workflow.deleteTransfer(request.ctx, id);
      return reply.code(202).send();
    });

    app.post(`${prefix}/:id/accept`, async (request, reply) => {
      const { id } = request.params as { id: string };
      const key = validate(AcceptBody, request.body).accept.auth_key;
      const accepted = await workflow.acceptTransfer(request.ctx, id, String(key));
      return reply.code(202).send({ transfer: transferSummary(linkBase(request), request.ctx, accepted) });
    });
  }
}
