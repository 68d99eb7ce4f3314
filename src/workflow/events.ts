// Recording transitions. A workflow step that may change a volume's or an attachment's state runs inside
// tracked(): it snapshots the volume and its live attachments, runs the step in one transaction, diffs,
// writes one event per transition and (re)sets the lease of every row that entered or left an interim
// state, all in that same transaction. A step that throws (a client's 4xx) rolls back and records nothing.
import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import * as events from '../store/events.js';
import * as volumes from '../store/volumes.js';
import * as attachments from '../store/attachments.js';
import type { RequestContext } from './context.js';
import { CinderFault } from '../errors.js';
import { canSeeProject, requireAdmin } from './policy.js';
import { leaseDeadline } from './leases.js';
import type { Deps } from './deps.js';
import type { VolumeEventInfo } from './model.js';

export interface Actor {
  userId: string | null;
  projectId: string | null;
  requestId: string | null;
}

export function actorOf(ctx: RequestContext): Actor {
  return { userId: ctx.userId, projectId: ctx.projectId, requestId: ctx.requestId };
}

/** Transitions made by embervol itself (lease expiry, restart recovery, host task completion). */
export const SYSTEM_ACTOR: Actor = { userId: null, projectId: null, requestId: 'embervol-reconciler' };

export interface TrackOptions {
  reason?: string | null;
  /** Run inside this transaction instead of opening one (the caller commits). */
  trx?: Transaction<Database>;
  /**
   * 'volume': the step decides only from this volume's own rows (the volume, its attachments, pending connections,
   * admin metadata, events), so it runs in Store.volumeTransaction, which steps on other volumes never conflict
   * with. The default, 'database', is serializable, for steps that also read what other volumes or projects share
   * (quota usage, volume types, groups, snapshots). Either way the step holds the volume (its events are numbered
   * from the volume's last one).
   */
  scope?: 'volume' | 'database';
}

/** Runs `fn` in one transaction and records every transition it made on the volume and its attachments. */
export async function tracked<T>(
  deps: Pick<Deps, 'store' | 'leases'>,
  actor: Actor,
  action: string,
  volumeId: string,
  /** `before`: the state as the transaction found it, before `fn` ran (fn need not read it again). */
  fn: (trx: Transaction<Database>, before: volumes.TransitionState) => Promise<T>,
  opts: TrackOptions = {},
): Promise<T> {
  const body = async (trx: Transaction<Database>): Promise<T> => {
    const setAttachmentLease = async (now: attachments.AttachmentRow) => {
      const lease = leaseDeadline(deps.leases, now.attach_status);
      if (lease !== null || now.lease_expires_at !== null) await attachments.setLease(trx, now.id, lease);
    };
    const before = await volumes.transitionState(trx, volumeId);
    const result = await fn(trx, before);
    const after = await volumes.transitionState(trx, volumeId);
    const out: events.NewEvent[] = [];
    const base = { volumeId, action, userId: actor.userId, projectId: actor.projectId, requestId: actor.requestId, reason: opts.reason ?? null };
    const vFrom = before.volume && !before.volume.deleted ? before.volume.status : null;
    const vTo = after.volume ? (after.volume.deleted ? 'deleted' : after.volume.status) : null;
    if (vFrom !== vTo && !(vFrom === null && vTo === null)) {
      out.push({ ...base, resourceType: 'volume', resourceId: volumeId, from: vFrom, to: vTo });
      if (after.volume && !after.volume.deleted) {
        const lease = leaseDeadline(deps.leases, after.volume.status);
        // A state that needs no lease entered from one whose lease is already clear: nothing to write.
        if (lease !== null || after.volume.leaseExpiresAt !== null) await volumes.setLease(trx, volumeId, lease);
      } else if (after.volume) {
        await volumes.clearInterimState(trx, volumeId);
      }
    } else if (before.volume && after.volume && before.volume.attachStatus !== after.volume.attachStatus) {
      out.push({
        ...base,
        resourceType: 'volume',
        resourceId: volumeId,
        from: vFrom,
        to: vTo,
        reason: [opts.reason, `attach_status ${before.volume.attachStatus} -> ${after.volume.attachStatus}`].filter(Boolean).join('; '),
      });
    }
    for (const [id, { attach_status: from }] of before.attachments) {
      const to = after.attachments.get(id);
      if (to?.attach_status === from) continue;
      out.push({ ...base, resourceType: 'attachment', resourceId: id, from, to: to?.attach_status ?? 'deleted' });
      if (to !== undefined) await setAttachmentLease(to);
    }
    for (const [id, to] of after.attachments) {
      if (before.attachments.has(id)) continue;
      out.push({ ...base, resourceType: 'attachment', resourceId: id, from: null, to: to.attach_status });
      await setAttachmentLease(to);
    }
    await events.insertEvents(trx, out);
    return result;
  };
  if (opts.trx) return body(opts.trx);
  return deps.store.volumeTransaction(volumeId, body, { serializable: opts.scope !== 'volume' });
}

export function eventActions(deps: Deps) {
  return {
    /** Admin only: the transition history of a volume, deleted ones included, oldest first. */
    async listVolumeEvents(ctx: RequestContext, volumeId: string, opts: { limit?: number } = {}): Promise<VolumeEventInfo[]> {
      const row = await volumes.findVolumeEvenDeleted(deps.store.db, volumeId);
      if (!row || !canSeeProject(ctx, row.project_id)) throw new CinderFault(404, `Volume ${volumeId} could not be found.`);
      requireAdmin(ctx, 'volume_extension:volume_events:index');
      const rows = await events.eventsFor(deps.store.db, volumeId, opts);
      return rows.map((r) => ({
        id: r.id,
        seq: Number(r.seq),
        volumeId: r.volume_id,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        action: r.action,
        from: r.from_status,
        to: r.to_status,
        userId: r.user_id,
        projectId: r.project_id,
        requestId: r.request_id,
        reason: r.reason,
        createdAt: r.created_at,
      }));
    },
  };
}
