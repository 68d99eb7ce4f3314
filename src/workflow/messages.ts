// User messages (cinder/api/v3/messages.py): listed, shown and deleted by the project they belong to; they are
// recorded by message-record.ts where an asynchronous request fails after its 2xx.
import { CinderFault } from '../errors.js';
import type { RequestContext } from './context.js';
import { atLeast } from './context.js';
import * as messages from '../store/messages.js';
import type { Db } from '../store/schema.js';
import type { Deps } from './deps.js';
import { actionText, detailText } from './message-fields.js';
import { markerNotFound, pageLimit, resolveSort } from './paging.js';
import { requireMember } from './policy.js';
import { RESOURCE_FILTERS } from './resource-filters.js';
import type { ListMessagesRequest, ListMessagesResult, MessageInfo } from './volume-extras-model.js';

function info(r: messages.MessageRow): MessageInfo {
  return {
    id: r.id,
    projectId: r.project_id,
    requestId: r.request_id,
    resourceType: r.resource_type,
    resourceUuid: r.resource_uuid,
    eventId: r.event_id,
    userMessage: `${actionText(r.action_id)}:${detailText(r.detail_id)}`,
    messageLevel: r.message_level,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

const SORT_KEYS: Record<string, messages.MessageSortKey> = {
  created_at: 'created_at',
  id: 'id',
  event_id: 'event_id',
  message_level: 'message_level',
  resource_type: 'resource_type',
  resource_uuid: 'resource_uuid',
  request_id: 'request_id',
  expires_at: 'expires_at',
};

type FilterKey = 'resource_uuid' | 'resource_type' | 'event_id' | 'request_id' | 'message_level';

const notFound = (id: string) => new CinderFault(404, `Message ${id} could not be found.`);

/** The 3.3 gate of every messages route (wsgi.Controller.api_version(mv.MESSAGES)). */
function requireMessagesVersion(ctx: RequestContext): void {
  if (!atLeast(ctx.version, 3)) throw new CinderFault(404, 'The resource could not be found.');
}

async function load(db: Db, ctx: RequestContext, id: string): Promise<messages.MessageRow> {
  const row = await messages.findMessage(db, id, ctx.isAdmin ? null : ctx.projectId);
  if (!row) throw notFound(id);
  return row;
}

export function messageActions(deps: Deps) {
  const db = deps.store.db;

  async function listMessages(ctx: RequestContext, req: ListMessagesRequest): Promise<ListMessagesResult> {
    requireMessagesVersion(ctx);
    // Filters, sorting and paging arrived with 3.5 (MESSAGES_PAGINATION); before it every message is listed.
    const paging = atLeast(ctx.version, 5);
    const raw = paging ? { ...(req.filters ?? {}) } : {};
    const allowed = RESOURCE_FILTERS.message;
    const like = atLeast(ctx.version, 34);
    if (atLeast(ctx.version, 33)) {
      for (const key of Object.keys(raw)) {
        if (!/^[\x00-\x7f]*$/.test(key)) throw new CinderFault(400, 'Filter keys can only contain ASCII characters.');
      }
      if (!ctx.isAdmin) {
        const invalid = Object.keys(raw).filter((k) => !(allowed.includes(k) || (like && allowed.includes(`${k}~`))) && k !== 'all_tenants');
        if (invalid.length) throw new CinderFault(400, `Invalid filters ${invalid.join(',')} are found in query options.`);
      }
    }
    const equals: Partial<Record<FilterKey, string>> = {};
    const likes: Partial<Record<FilterKey, string>> = {};
    let nothing = false;
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'all_tenants') continue;
      const base = k.endsWith('~') ? k.slice(0, -1) : k;
      if (!(allowed as readonly string[]).includes(base)) {
        // An admin's filter on something a message does not have matches nothing.
        nothing = true;
        continue;
      }
      if (k.endsWith('~')) likes[base as FilterKey] = v;
      else equals[base as FilterKey] = v;
    }
    const sort = resolveSort(paging ? req.sort : undefined, SORT_KEYS);
    let markerRow: messages.MessageRow | undefined;
    if (paging && req.marker) {
      markerRow = await messages.findMessage(db, req.marker, ctx.isAdmin ? null : ctx.projectId);
      if (!markerRow) throw markerNotFound(req.marker);
    }
    const limit = pageLimit(paging ? req.limit : undefined);
    const rows = nothing
      ? []
      : await messages.listMessages(db, {
          projectId: ctx.isAdmin ? null : ctx.projectId,
          equals,
          like: likes,
          sort,
          markerRow,
          limit,
          offset: paging ? req.offset : undefined,
        });
    const result: ListMessagesResult = { messages: rows.map(info) };
    if (rows.length > 0 && rows.length >= limit) result.nextMarker = rows[rows.length - 1].id;
    return result;
  }

  return {
    listMessages,
    reapExpiredMessages: () => messages.deleteExpiredMessages(db),

    async getMessage(ctx: RequestContext, id: string): Promise<MessageInfo> {
      requireMessagesVersion(ctx);
      return info(await load(db, ctx, id));
    },

    async deleteMessage(ctx: RequestContext, id: string): Promise<void> {
      requireMessagesVersion(ctx);
      await load(db, ctx, id);
      requireMember(ctx, 'message:delete');
      if (!(await messages.softDeleteMessage(db, id))) throw notFound(id);
    },
  };
}
