// /types/{type_id}/encryption (cinder/api/contrib/volume_type_encryption.py): the spec, one key of it, create,
// update and delete. Create and update answer with the request body, as Cinder does (create adds the ids).
import type { FastifyInstance } from 'fastify';
import { CinderFault } from '../../errors.js';
import type { EncryptionSpecInfo, Workflow } from '../../workflow/model.js';
import { EncryptionCreateBody, EncryptionUpdateBody } from '../types-schemas.js';
import { validate } from '../validation.js';

/** The encryption model's columns, as index lists them. */
function specView(s: EncryptionSpecInfo): Record<string, unknown> {
  return {
    volume_type_id: s.volumeTypeId,
    encryption_id: s.encryptionId,
    key_size: s.keySize,
    provider: s.provider,
    control_location: s.controlLocation,
    cipher: s.cipher,
    deleted: false,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    deleted_at: null,
  };
}

function keySize(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return v as null | undefined;
  const n = typeof v === 'number' ? v : Number.parseInt(String(v).trim(), 10);
  if (!Number.isSafeInteger(n) || n < 0) throw new CinderFault(400, 'Invalid input received: key_size must be an integer.');
  return n;
}

export function registerEncryptionTypeRoutes(app: FastifyInstance, workflow: Workflow): void {
  app.get('/types/:typeId/encryption', async (request) => {
    const { typeId } = request.params as { typeId: string };
    const spec = await workflow.getEncryptionType(request.ctx, typeId);
    return spec ? specView(spec) : {};
  });

  app.get('/types/:typeId/encryption/:key', async (request) => {
    const { typeId, key } = request.params as { typeId: string; key: string };
    const spec = await workflow.getEncryptionType(request.ctx, typeId);
    const view = spec ? specView(spec) : {};
    if (!(key in view)) throw new CinderFault(404, `Volume type encryption for type ${typeId} does not exist.`);
    return { [key]: view[key] };
  });

  app.post('/types/:typeId/encryption', { schema: { body: EncryptionCreateBody } }, async (request) => {
    const { typeId } = request.params as { typeId: string };
    const body = validate(EncryptionCreateBody, request.body);
    const e = { ...body.encryption } as Record<string, unknown>;
    const size = keySize(e.key_size);
    if (size !== undefined) e.key_size = size;
    const created = await workflow.createEncryptionType(request.ctx, typeId, {
      provider: body.encryption.provider,
      cipher: body.encryption.cipher,
      keySize: size,
      controlLocation: body.encryption.control_location,
    });
    return { encryption: { ...e, volume_type_id: created.volumeTypeId, encryption_id: created.encryptionId } };
  });

  app.put('/types/:typeId/encryption/:id', { schema: { body: EncryptionUpdateBody } }, async (request) => {
    const { typeId } = request.params as { typeId: string };
    const body = validate(EncryptionUpdateBody, request.body);
    const e = { ...body.encryption } as Record<string, unknown>;
    const size = keySize(e.key_size);
    if (size !== undefined) e.key_size = size;
    await workflow.updateEncryptionType(request.ctx, typeId, {
      provider: body.encryption.provider,
      cipher: body.encryption.cipher,
      keySize: size,
      controlLocation: body.encryption.control_location,
    });
    return { encryption: e };
  });

  app.delete('/types/:typeId/encryption/:id', async (request, reply) => {
    const { typeId } = request.params as { typeId: string };
    await workflow.deleteEncryptionType(request.ctx, typeId);
    return reply.code(202).send();
  });
}
