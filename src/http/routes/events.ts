// GET /v3/{project_id}/volumes/{volume_id}/events — admin only: the volume's state history, oldest first.
// An embervol extension (Cinder has no such resource): every transition of the volume and of its attachments,
// with who (user, project, request id), what (the action), from, to, when, and a reason for system actions.
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { Workflow, VolumeEventInfo } from '../../workflow/model.js';
import { one, type Query } from './listing.js';

/** Most events one response carries (a volume attached and detached every minute for a week stays under it). */
export const MAX_EVENTS = 10_000;

export function eventView(e: VolumeEventInfo): Record<string, unknown> {
  return {
    id: e.id,
    seq: e.seq,
    volume_id: e.volumeId,
    resource_type: e.resourceType,
    resource_id: e.resourceId,
    action: e.action,
    from_status: e.from,
    to_status: e.to,
    user_id: e.userId,
    project_id: e.projectId,
    request_id: e.requestId,
    reason: e.reason,
    created_at: e.createdAt,
  };
}

function parseLimit(s: string | undefined): number {
  if (s === undefined) return MAX_EVENTS;
  if (typeof s !== 'string' || !/^\d{1,9}$/.test(s.trim())) throw new CinderFault(400, 'limit param must be an integer');
  return Math.min(Number(s), MAX_EVENTS);
}

export function registerEventRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/volumes/:id/events', async (request) => {
    const { id } = request.params as { id: string };
    const limit = parseLimit(one(request.query as Query, 'limit'));
    const events = await workflow.listVolumeEvents(request.ctx, id, { limit });
    return { events: events.map(eventView) };
  });
}
