// What a client asks to learn what this service offers: os-availability-zone, extensions, and the 3.33
// resource filters (cinder/api/contrib/availability_zones.py, cinder/api/extensions.py,
// cinder/api/v3/resource_filters.py).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import { atLeast } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import { RESOURCE_FILTERS } from '../../workflow/resource-filters.js';
import { extensionsView } from '../views/extensions.js';
import { one, type Query } from './listing.js';

export function registerDiscoveryRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/os-availability-zone', async (request) => {
    const zones = await workflow.listAvailabilityZones(request.ctx);
    return { availabilityZoneInfo: zones.map((z) => ({ zoneName: z.name, zoneState: { available: z.available } })) };
  });

  app.get('/extensions', async () => extensionsView());

  app.get('/resource_filters', async (request) => {
    // RESOURCE_FILTER_CONFIG: the route exists from 3.33.
    if (!atLeast(request.ctx.version, 33)) throw new CinderFault(404, 'The resource could not be found.');
    const resource = one(request.query as Query, 'resource');
    const entries = resource === undefined ? Object.entries(RESOURCE_FILTERS) : Object.entries(RESOURCE_FILTERS).filter(([r]) => r === resource);
    return { resource_filters: entries.map(([r, filters]) => ({ resource: r, filters: [...filters] })) };
  });
}
