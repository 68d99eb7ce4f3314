// Volume type JSON. Cinder builds it in three places, and tempest's schemas (additionalProperties false) hold each:
// show and list (cinder/api/v3/views/types.py plus the os-volume-type-access extension), create and update
// (cinder/api/views/types.py, used by contrib/types_manage.py; create gets the access extension, update does not).
import type { RequestContext } from '../../workflow/context.js';
import type { VolumeTypeInfo } from '../../workflow/model.js';

/** GET /types and /types/{id}: qos_specs_id only for admins (volume_extension:access_types_qos_specs_id). */
export function typeView(ctx: RequestContext, t: VolumeTypeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: t.id,
    name: t.name,
    description: t.description,
    is_public: t.isPublic,
    'os-volume-type-access:is_public': t.isPublic,
    extra_specs: t.extraSpecs,
  };
  if (ctx.isAdmin) out.qos_specs_id = t.qosSpecsId ?? null;
  return out;
}

/** POST /types: the manage view with the access extension, never qos_specs_id. */
export function typeCreateView(t: VolumeTypeInfo): Record<string, unknown> {
  return { ...typeUpdateView(t), 'os-volume-type-access:is_public': t.isPublic };
}

/** PUT /types/{id}: the manage view alone. */
export function typeUpdateView(t: VolumeTypeInfo): Record<string, unknown> {
  return { id: t.id, name: t.name, is_public: t.isPublic, extra_specs: t.extraSpecs, description: t.description };
}
