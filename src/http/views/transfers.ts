// Transfer JSON (cinder/api/views/transfers.py): summary, detail (3.55 no_snapshots, 3.57 history), create (+ auth_key).
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { TransferInfo } from '../../workflow/model.js';
import type { LinkBase } from './volumes.js';

function links(base: LinkBase, ctx: RequestContext, id: string) {
  // Cinder's collection name for both URL forms is os-volume-transfer.
  return [
    { rel: 'self', href: `${base.origin}/v3/${ctx.projectId}/os-volume-transfer/${id}` },
    { rel: 'bookmark', href: `${base.origin}/${ctx.projectId}/os-volume-transfer/${id}` },
  ];
}

export function transferSummary(base: LinkBase, ctx: RequestContext, t: TransferInfo) {
  return { id: t.id, volume_id: t.volumeId, name: t.name, links: links(base, ctx, t.id) };
}

export function transferDetail(base: LinkBase, ctx: RequestContext, t: TransferInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { id: t.id, created_at: t.createdAt, name: t.name, volume_id: t.volumeId, links: links(base, ctx, t.id) };
  if (atLeast(ctx.version, 55)) out.no_snapshots = t.noSnapshots;
  if (atLeast(ctx.version, 57)) {
    out.destination_project_id = t.destinationProjectId;
    out.source_project_id = t.sourceProjectId;
    out.accepted = t.accepted;
  }
  return out;
}

/** The create answer: the only place the auth key is ever shown. */
export function transferCreated(base: LinkBase, ctx: RequestContext, t: TransferInfo & { authKey: string }): Record<string, unknown> {
  const d = transferDetail(base, ctx, t);
  return { id: d.id, created_at: d.created_at, name: d.name, volume_id: d.volume_id, auth_key: t.authKey, ...d };
}
