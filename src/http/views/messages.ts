// Cinder's message JSON (cinder/api/v3/views/messages.py).
import type { RequestContext } from '../../workflow/context.js';
import type { MessageInfo } from '../../workflow/model.js';

export function messageView(origin: string, ctx: RequestContext, m: MessageInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: m.id,
    event_id: m.eventId,
    user_message: m.userMessage,
    message_level: m.messageLevel,
    created_at: m.createdAt,
    guaranteed_until: m.expiresAt,
    request_id: m.requestId,
    links: [
      { rel: 'self', href: `${origin}/v3/${ctx.projectId}/messages/${m.id}` },
      { rel: 'bookmark', href: `${origin}/${ctx.projectId}/messages/${m.id}` },
    ],
  };
  // Both are left out when empty, as Cinder's view does.
  if (m.resourceType) out.resource_type = m.resourceType;
  if (m.resourceUuid) out.resource_uuid = m.resourceUuid;
  return out;
}
