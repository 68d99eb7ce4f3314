// Private volume types: POST /types/{id}/action (addProjectAccess, removeProjectAccess) and
// GET /types/{id}/os-volume-type-access (cinder/api/contrib/volume_type_access.py).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { Workflow } from '../../workflow/model.js';
import { AddProjectAccessBody, RemoveProjectAccessBody } from '../types-schemas.js';
import { validate } from '../validation.js';

export function registerTypeAccessRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/types/:id/os-volume-type-access', async (request) => {
    const { id } = request.params as { id: string };
    const list = await workflow.listTypeAccess(request.ctx, id);
    return { volume_type_access: list.map((a) => ({ volume_type_id: a.volumeTypeId, project_id: a.projectId })) };
  });

  app.post('/types/:id/action', async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new CinderFault(400, 'Malformed request body');
    const keys = Object.keys(body).filter((k) => k !== 'type');
    if (keys.includes('addProjectAccess')) {
      const v = validate(AddProjectAccessBody, body);
      await workflow.addTypeAccess(request.ctx, id, (v.addProjectAccess as { project: string }).project);
    } else if (keys.includes('removeProjectAccess')) {
      const v = validate(RemoveProjectAccessBody, body);
      await workflow.removeTypeAccess(request.ctx, id, (v.removeProjectAccess as { project: string }).project);
    } else {
      throw new CinderFault(400, `There is no such action: ${keys[0] ?? 'None'}`);
    }
    return reply.code(202).send();
  });
}
