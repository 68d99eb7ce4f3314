// /messages (3.3): list, show, delete (cinder/api/v3/messages.py).
import type { FastifyInstance } from 'fastify';
import type { Workflow } from '../../workflow/model.js';
import { messageView } from '../views/messages.js';
import { nextLink, parsePage, requestOrigin, type Query } from './listing.js';
import { queryFilters } from './volumes.js';

export function registerMessageRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/messages', async (request) => {
    const ctx = request.ctx;
    const q = request.query as Query;
    // Below 3.5 the workflow ignores paging and filters, as Cinder does: parse them only where they count.
    const page = ctx.version.minor >= 5 ? parsePage(q) : {};
    const result = await workflow.listMessages(ctx, { ...page, filters: queryFilters(q) });
    const origin = requestOrigin(request);
    const out: Record<string, unknown> = { messages: result.messages.map((m) => messageView(origin, ctx, m)) };
    if (result.nextMarker) out.messages_links = nextLink(request, 'messages', q, result.nextMarker);
    return out;
  });

  app.get('/messages/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { message: messageView(requestOrigin(request), request.ctx, await workflow.getMessage(request.ctx, id)) };
  });

  app.delete('/messages/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await workflow.deleteMessage(request.ctx, id);
    return reply.code(204).send();
  });
}
