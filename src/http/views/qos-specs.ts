// QoS specs JSON (cinder/api/views/qos_specs.py): show and create carry links; list has none.
import type { RequestContext } from '../../workflow/context.js';
import type { QosSpecsInfo } from '../../workflow/model.js';
import type { LinkBase } from './volumes.js';

export function qosSpecsSummary(q: QosSpecsInfo): Record<string, unknown> {
  return { id: q.id, name: q.name, consumer: q.consumer, specs: q.specs };
}

export function qosSpecsDetail(base: LinkBase, ctx: RequestContext, q: QosSpecsInfo): Record<string, unknown> {
  return {
    qos_specs: qosSpecsSummary(q),
    links: [
      { rel: 'self', href: `${base.origin}/v3/${ctx.projectId}/qos-specs/${q.id}` },
      { rel: 'bookmark', href: `${base.origin}/${ctx.projectId}/qos-specs/${q.id}` },
    ],
  };
}
