// Recording a user message (cinder/message/api.py create): where an asynchronous request fails after its 2xx.
import { randomUUID } from 'node:crypto';
import type { RequestContext } from './context.js';
import * as messages from '../store/messages.js';
import { nowTimestamp } from '../store/schema.js';
import type { Deps } from './deps.js';
import type { MessageField } from './message-fields.js';

/** Cinder's message_reap_interval default: how often expired messages are dropped. */
export const MESSAGE_REAP_INTERVAL_MS = 86_400_000;

/** Cinder's message_ttl default: a message is guaranteed to stay this long. */
export const MESSAGE_TTL_SECONDS = 2_592_000;

export interface MessageOrigin {
  projectId: string;
  requestId: string;
}

/** Who a background task's message belongs to: the request that started it. */
export function messageOrigin(ctx: RequestContext): MessageOrigin {
  return { projectId: ctx.projectId, requestId: ctx.requestId };
}

/**
 * message_api.create: records what failed. A failure to record is logged and swallowed, as in Cinder, so the
 * task that failed still finishes its own bookkeeping.
 */
export async function recordMessage(
  deps: Pick<Deps, 'store' | 'logger'>,
  origin: MessageOrigin,
  m: { action: MessageField; detail: MessageField; resourceType?: string; resourceUuid?: string | null; level?: string },
): Promise<void> {
  const resourceType = m.resourceType ?? 'VOLUME';
  const created = new Date();
  try {
    await messages.insertMessage(deps.store.db, {
      id: randomUUID(),
      project_id: origin.projectId,
      request_id: origin.requestId,
      resource_type: resourceType,
      resource_uuid: m.resourceUuid ?? null,
      action_id: m.action[0],
      detail_id: m.detail[0],
      event_id: `VOLUME_${resourceType}_${m.action[0]}_${m.detail[0]}`,
      message_level: m.level ?? 'ERROR',
      created_at: nowTimestamp(created),
      expires_at: nowTimestamp(new Date(created.getTime() + MESSAGE_TTL_SECONDS * 1000)),
    });
  } catch (err) {
    deps.logger.error({ err, requestId: origin.requestId }, 'failed to record a user message');
  }
}
