// Volume type JSON (reference 7.5).
import type { RequestContext } from '../../workflow/context.js';
import type { VolumeTypeInfo } from '../../workflow/model.js';

export function typeView(ctx: RequestContext, t: VolumeTypeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: t.id,
    name: t.name,
    description: t.description,
    is_public: t.isPublic,
    'os-volume-type-access:is_public': t.isPublic,
    extra_specs: t.extraSpecs,
  };
  if (ctx.isAdmin) out.qos_specs_id = null;
  return out;
}
