// Encryption specs of volume types (cinder/api/contrib/volume_type_encryption.py). embervol keeps the spec and
// gives every volume of such a type an encryption_key_id; the data itself is encrypted where Cinder's front-end
// encryption does it, in the attaching host (os-brick), so the volume host stores what it is given.
import { randomUUID } from 'node:crypto';
import { CinderFault } from '../errors.js';
import type { RequestContext } from './context.js';
import type { Db } from '../store/schema.js';
import * as types from '../store/volume-types.js';
import * as encryption from '../store/encryption.js';
import * as volumes from '../store/volumes.js';
import { nowTimestamp } from '../store/schema.js';
import type { Deps } from './deps.js';
import type { EncryptionSpecInfo, EncryptionTypesWorkflow } from './types-services-model.js';
import { requireAdmin } from './policy.js';
import { typeNotFound, typeVisible } from './volume-types.js';

const specNotFound = (typeId: string) => new CinderFault(404, `Volume type encryption for type ${typeId} does not exist.`);

function specInfo(r: encryption.EncryptionRow): EncryptionSpecInfo {
  return {
    volumeTypeId: r.volume_type_id,
    encryptionId: r.encryption_id,
    provider: r.provider,
    cipher: r.cipher,
    keySize: r.key_size,
    controlLocation: r.control_location,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A new volume of an encrypted type gets a key id (Cinder asks its key manager for one at create). */
export async function encryptionKeyFor(db: Db, typeId: string): Promise<string | null> {
  return (await encryption.findEncryption(db, typeId)) ? randomUUID() : null;
}

export async function isEncryptedType(db: Db, typeId: string): Promise<boolean> {
  return (await encryption.findEncryption(db, typeId)) !== undefined;
}

export function encryptionTypeActions(deps: Deps): EncryptionTypesWorkflow {
  const db = deps.store.db;

  async function checkType(ctx: RequestContext, db: Db, typeId: string): Promise<types.TypeRow> {
    const row = await types.findType(db, typeId);
    if (!row || !(await typeVisible(db, ctx, row))) throw typeNotFound(typeId);
    return row;
  }

  return {
    async getEncryptionType(ctx, typeId) {
      requireAdmin(ctx, 'volume_extension:volume_type_encryption:get');
      const row = await checkType(ctx, db, typeId);
      const spec = await encryption.findEncryption(db, row.id);
      return spec ? specInfo(spec) : null;
    },

    async createEncryptionType(ctx, typeId, spec) {
      requireAdmin(ctx, 'volume_extension:volume_type_encryption:create');
      return deps.store.transaction(async (trx) => {
        // Cinder's order: a type in use is refused before the type is even looked up.
        if ((await volumes.volumesUsingType(trx, typeId)) > 0) throw new CinderFault(400, 'Cannot create encryption specs. Volume type in use.');
        const row = await checkType(ctx, trx, typeId);
        const values: encryption.EncryptionRow = {
          encryption_id: randomUUID(),
          volume_type_id: row.id,
          provider: spec.provider ?? null,
          cipher: spec.cipher ?? null,
          key_size: spec.keySize ?? null,
          control_location: spec.controlLocation ?? 'front-end',
          created_at: nowTimestamp(),
          updated_at: null,
        };
        if (!(await encryption.insertEncryption(trx, values))) {
          throw new CinderFault(400, `Volume type encryption for type ${typeId} already exists.`);
        }
        return specInfo(values);
      });
    },

    async updateEncryptionType(ctx, typeId, spec) {
      requireAdmin(ctx, 'volume_extension:volume_type_encryption:update');
      await deps.store.transaction(async (trx) => {
        const row = await checkType(ctx, trx, typeId);
        if ((await volumes.volumesUsingType(trx, row.id)) > 0) throw new CinderFault(400, 'Cannot update encryption specs. Volume type in use.');
        const ok = await encryption.updateEncryption(trx, row.id, {
          ...(spec.provider !== undefined ? { provider: spec.provider } : {}),
          ...(spec.cipher !== undefined ? { cipher: spec.cipher } : {}),
          ...(spec.keySize !== undefined ? { key_size: spec.keySize } : {}),
          ...(spec.controlLocation !== undefined ? { control_location: spec.controlLocation } : {}),
          updated_at: nowTimestamp(),
        });
        if (!ok) throw specNotFound(typeId);
      });
    },

    async deleteEncryptionType(ctx, typeId) {
      requireAdmin(ctx, 'volume_extension:volume_type_encryption:delete');
      await deps.store.transaction(async (trx) => {
        if ((await volumes.volumesUsingType(trx, typeId)) > 0) throw new CinderFault(400, 'Cannot delete encryption specs. Volume type in use.');
        if (!(await encryption.deleteEncryption(trx, typeId))) throw specNotFound(typeId);
      });
    },
  };
}
