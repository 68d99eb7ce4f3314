// The volume metadata subresource (cinder/api/v2/volume_metadata.py, cinder/volume/api.py *_volume_metadata):
// user metadata only; admin metadata (readonly, attached_mode) is not part of it.
import { CinderFault, invalidVolume } from '../errors.js';
import type { RequestContext } from './context.js';
import * as volumes from '../store/volumes.js';
import type { Deps } from './deps.js';
import { loadRow } from './loader.js';
import { requireMember } from './policy.js';

/** Statuses in which Cinder refuses metadata changes. */
const FROZEN = ['maintenance', 'uploading'];

export const metadataNotFound = (volumeId: string, key: string) =>
  new CinderFault(404, `Volume ${volumeId} has no metadata with key ${key}.`);

export function volumeMetadata(deps: Deps) {
  const { store } = deps;
  const db = store.db;

  async function current(id: string): Promise<Record<string, string>> {
    return (await volumes.getMetadata(db, 'volume_metadata', [id])).get(id) ?? {};
  }

  /** The status check and the write commit together, so a volume that enters maintenance meanwhile is not changed. */
  async function changeUnlessFrozen(id: string, verb: 'Updating' | 'Deleting', write: Parameters<typeof store.transaction>[0]): Promise<void> {
    await store.transaction(async (trx) => {
      const row = await volumes.findVolume(trx, id);
      if (row && FROZEN.includes(row.status)) {
        throw invalidVolume(
          verb === 'Updating'
            ? `Updating volume metadata is not allowed for volumes in ${row.status} status.`
            : `Deleting volume metadata is not allowed for volumes in ${row.status} status.`,
        );
      }
      await write(trx);
    });
  }

  return {
    async getVolumeMetadata(ctx: RequestContext, volumeId: string): Promise<Record<string, string>> {
      await loadRow(db, ctx, volumeId);
      return current(volumeId);
    },

    async setVolumeMetadata(ctx: RequestContext, volumeId: string, items: Record<string, string>, opts: { replace: boolean }): Promise<Record<string, string>> {
      await loadRow(db, ctx, volumeId);
      requireMember(ctx, opts.replace ? 'volume:update_volume_metadata' : 'volume:create_volume_metadata');
      await changeUnlessFrozen(volumeId, 'Updating', async (trx) => {
        if (opts.replace) await volumes.replaceMetadata(trx, 'volume_metadata', volumeId, items);
        else await volumes.setMetadataItems(trx, 'volume_metadata', volumeId, items);
      });
      return current(volumeId);
    },

    async getVolumeMetadataItem(ctx: RequestContext, volumeId: string, key: string): Promise<string> {
      await loadRow(db, ctx, volumeId);
      const meta = await current(volumeId);
      if (!Object.hasOwn(meta, key)) throw metadataNotFound(volumeId, key);
      return meta[key];
    },

    async deleteVolumeMetadataItem(ctx: RequestContext, volumeId: string, key: string): Promise<void> {
      await loadRow(db, ctx, volumeId);
      if (!Object.hasOwn(await current(volumeId), key)) throw metadataNotFound(volumeId, key);
      requireMember(ctx, 'volume:delete_volume_metadata');
      await changeUnlessFrozen(volumeId, 'Deleting', (trx) => volumes.deleteMetadataKey(trx, 'volume_metadata', volumeId, key));
    },
  };
}
