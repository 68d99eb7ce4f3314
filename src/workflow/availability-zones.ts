// os-availability-zone (cinder/api/contrib/availability_zones.py): the zones volumes can be created in, those of
// the registered volume services; a zone is available while one of its services is up and enabled.
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import type { AvailabilityZoneInfo } from './volume-extras-model.js';
import { servicesActions } from './services.js';

export function availabilityZones(deps: Deps) {
  return {
    async listAvailabilityZones(_ctx: RequestContext): Promise<AvailabilityZoneInfo[]> {
      return servicesActions(deps).zones();
    },
  };
}
