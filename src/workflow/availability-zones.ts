// os-availability-zone (cinder/api/contrib/availability_zones.py): the zones volumes can be created in. This
// service has one volume host, so one zone, available while the service answers.
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import type { AvailabilityZoneInfo } from './volume-extras-model.js';

export function availabilityZones(deps: Deps) {
  return {
    async listAvailabilityZones(_ctx: RequestContext): Promise<AvailabilityZoneInfo[]> {
      return [{ name: deps.availabilityZone, available: true }];
    },
  };
}
