// POST /volumes/{id}/action: dispatch on the body's single key (docs/cinder-compatibility.md#volume-actions).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { CinderFault } from '../../errors.js';
import { atLeast, type RequestContext } from '../../workflow/context.js';
import type { Workflow } from '../../workflow/model.js';
import { VOLUME_STATUSES } from '../../workflow/states.js';
import {
  AttachBody,
  BootableBody,
  DetachBody,
  ExtendBody,
  ForceDetachBody,
  InitializeConnectionBody,
  ReadonlyBody,
  ResetStatusBody,
  RevertBody,
  TerminateConnectionBody,
} from '../schemas.js';
import { RetypeBody } from '../types-schemas.js';
import { pyRepr, toBoolean, validate } from '../validation.js';

type Reply = { status: number; body?: unknown };
type Handler = (ctx: RequestContext, id: string, value: any) => Promise<Reply>;

const ACCEPTED: Reply = { status: 202 };
const MIGRATION_STATUSES = ['migrating', 'error', 'success', 'completing', 'none', 'starting'];

function oneOf(field: string, value: string, allowed: readonly string[]): string {
  const v = value.toLowerCase();
  if (!allowed.includes(v)) {
    throw new CinderFault(400, `Invalid input for field/attribute ${field}. Value: ${pyRepr(value)}. ${pyRepr(v)} is not one of ${pyRepr(allowed)}`);
  }
  return v;
}

/** The action name -> [body schema or null when any value is accepted, handler]. */
function actionTable(workflow: Workflow): Record<string, [TSchema | null, Handler]> {
  return {
    'os-reserve': [null, async (ctx, id) => (await workflow.reserve(ctx, id), ACCEPTED)],
    'os-unreserve': [null, async (ctx, id) => (await workflow.unreserve(ctx, id), ACCEPTED)],
    'os-begin_detaching': [null, async (ctx, id) => (await workflow.beginDetaching(ctx, id), ACCEPTED)],
    'os-roll_detaching': [null, async (ctx, id) => (await workflow.rollDetaching(ctx, id), ACCEPTED)],
    'os-force_delete': [null, async (ctx, id) => (await workflow.forceDeleteVolume(ctx, id), ACCEPTED)],
    'os-initialize_connection': [
      InitializeConnectionBody,
      async (ctx, id, v) => ({ status: 200, body: { connection_info: await workflow.initializeConnection(ctx, id, v.connector) } }),
    ],
    'os-terminate_connection': [TerminateConnectionBody, async (ctx, id, v) => (await workflow.terminateConnection(ctx, id, v.connector), ACCEPTED)],
    'os-attach': [
      AttachBody,
      async (ctx, id, v) => {
        if (v.instance_uuid === undefined && v.host_name === undefined) {
          throw new CinderFault(400, `Invalid input for field/attribute os-attach. Value: ${pyRepr(v)}. ${pyRepr(v)} is not valid under any of the given schemas`);
        }
        await workflow.attach(ctx, id, { instanceUuid: v.instance_uuid, hostName: v.host_name, mountpoint: v.mountpoint, mode: v.mode });
        return ACCEPTED;
      },
    ],
    'os-detach': [DetachBody, async (ctx, id, v) => (await workflow.detach(ctx, id, v?.attachment_id ?? null), ACCEPTED)],
    'os-force_detach': [
      ForceDetachBody,
      async (ctx, id, v) => (await workflow.forceDetach(ctx, id, { connector: v?.connector ?? null, attachmentId: v?.attachment_id ?? null }), ACCEPTED),
    ],
    'os-reset_status': [
      ResetStatusBody,
      async (ctx, id, v) => {
        const migration = v.migration_status === undefined ? undefined : oneOf('migration_status', v.migration_status, MIGRATION_STATUSES);
        await workflow.resetStatus(ctx, id, {
          status: v.status === undefined ? undefined : oneOf('status', v.status, VOLUME_STATUSES),
          attachStatus: v.attach_status === undefined ? undefined : oneOf('attach_status', v.attach_status, ['attached', 'detached']),
          migrationStatus: migration === undefined ? undefined : migration === 'none' ? null : migration,
        });
        return ACCEPTED;
      },
    ],
    'os-update_readonly_flag': [ReadonlyBody, async (ctx, id, v) => (await workflow.updateReadonlyFlag(ctx, id, toBoolean(v.readonly)), ACCEPTED)],
    'os-set_bootable': [BootableBody, async (ctx, id, v) => (await workflow.setBootable(ctx, id, toBoolean(v.bootable)), { status: 200 })],
    revert: [
      RevertBody,
      async (ctx, id, v) => {
        // api/v3/volumes.py revert exists from 3.40 (VOLUME_REVERT); below it the action is unknown (404).
        if (!atLeast(ctx.version, 40)) throw new CinderFault(404, 'The resource could not be found.');
        await workflow.revertToSnapshot(ctx, id, typeof v.snapshot_id === 'string' ? v.snapshot_id : null);
        return ACCEPTED;
      },
    ],
    'os-retype': [RetypeBody, async (ctx, id, v) => (await workflow.retype(ctx, id, v.new_type, v.migration_policy ?? null), ACCEPTED)],
    'os-extend': [ExtendBody, async (ctx, id, v) => (await workflow.extend(ctx, id, Number(v.new_size)), ACCEPTED)],
  };
}

export function registerActionRoutes(app: FastifyInstance, workflow: Workflow): void {
  const table = actionTable(workflow);
  app.post('/volumes/:id/action', async (request, reply: FastifyReply) => {
    const { id } = request.params as { id: string };
    const body = request.body;
    if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
      throw new CinderFault(400, 'Malformed request body');
    }
    const name = Object.keys(body)[0];
    const entry = table[name];
    if (!entry) {
      throw new CinderFault(400, `There is no such action: ${name}. Verify the request body and Content-Type header and try again.`);
    }
    const [schema, handler] = entry;
    if (schema) validate(schema, body);
    const result = await handler(request.ctx, id, (body as Record<string, unknown>)[name]);
    reply.code(result.status);
    return result.body === undefined ? reply.send() : reply.send(result.body);
  });
}
