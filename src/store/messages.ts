// User messages (cinder/db/sqlalchemy/api.py message_*): one row per failed asynchronous request, soft-deleted.
import { sql, type Insertable, type Selectable } from 'kysely';
import type { Db } from './schema.js';
import { dbBool, nowTimestamp, type MessagesTable } from './schema.js';
import { paged } from './paging.js';
import { containsAnyCase } from './text-match.js';

export type MessageRow = Selectable<MessagesTable>;
export type NewMessage = Omit<Insertable<MessagesTable>, 'deleted' | 'deleted_at'>;

export async function insertMessage(db: Db, row: NewMessage): Promise<void> {
  await db.insertInto('messages').values({ ...row, deleted: dbBool(false), deleted_at: null }).execute();
}

/** A live message; `projectId` null finds it in any project (admin). Expired ones stay until reaped, as in Cinder. */
export async function findMessage(db: Db, id: string, projectId: string | null): Promise<MessageRow | undefined> {
  let q = db.selectFrom('messages').selectAll().where('id', '=', id).where('deleted', '=', dbBool(false));
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  return q.executeTakeFirst();
}

export type MessageSortKey = 'created_at' | 'id' | 'event_id' | 'message_level' | 'resource_type' | 'resource_uuid' | 'request_id' | 'expires_at';

export interface ListMessagesQuery {
  /** null: every project. */
  projectId: string | null;
  /** Exact matches on columns (already checked against the allowed filter keys). */
  equals?: Partial<Record<'resource_uuid' | 'resource_type' | 'event_id' | 'request_id' | 'message_level', string>>;
  /** Substring matches (3.34 `key~` filters), unescaped like Cinder's column.like('%' + value + '%'). */
  like?: Partial<Record<'resource_uuid' | 'resource_type' | 'event_id' | 'request_id' | 'message_level', string>>;
  sort: { key: MessageSortKey; dir: 'asc' | 'desc' }[];
  markerRow?: MessageRow;
  limit?: number;
  offset?: number;
}

export async function listMessages(db: Db, query: ListMessagesQuery): Promise<MessageRow[]> {
  let q = db.selectFrom('messages').selectAll().where('deleted', '=', dbBool(false));
  if (query.projectId !== null) q = q.where('project_id', '=', query.projectId);
  for (const [k, v] of Object.entries(query.equals ?? {})) q = q.where(k as keyof MessagesTable, '=', v);
  for (const [k, v] of Object.entries(query.like ?? {})) q = q.where(containsAnyCase(sql.ref(k), v));
  return paged(q, query).execute();
}

export async function softDeleteMessage(db: Db, id: string): Promise<boolean> {
  const now = nowTimestamp();
  const r = await db
    .updateTable('messages')
    .set({ deleted: dbBool(true), deleted_at: now })
    .where('id', '=', id)
    .where('deleted', '=', dbBool(false))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Cinder's cleanup_expired_messages: drops every message past its expires_at; returns how many. */
export async function deleteExpiredMessages(db: Db, now: string = nowTimestamp()): Promise<number> {
  const r = await db.deleteFrom('messages').where('expires_at', '<', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}
