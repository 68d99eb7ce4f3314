// Volume transfers (cinder/transfer/api.py): a project offers a volume, another accepts it with the auth key.
// Accepting moves the volume and its quota charge to the accepting project in one transaction.
import { randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { CinderFault, invalidVolume } from '../errors.js';
import * as volumes from '../store/volumes.js';
import * as transfers from '../store/transfers.js';
import { dbBool, nowTimestamp, toBool } from '../store/schema.js';
import type { RequestContext } from './context.js';
import type { Deps } from './deps.js';
import { actorOf, tracked } from './events.js';
import { loadRow } from './loader.js';
import { canSeeProject, requireMember } from './policy.js';
import { consumeQuota, releaseQuota, withVolumeCharge } from './quotas.js';
import * as snapshots from '../store/snapshots.js';
import { MIGRATION_AT_REST } from './states.js';
import { markerNotFound, pageLimit, resolveSort, splitPage } from './paging.js';
import type { CreateTransferRequest, ListTransfersRequest, TransferInfo, TransfersWorkflow } from './transfers-model.js';

const scrypt = promisify(scryptCb) as (key: string, salt: string, len: number) => Promise<Buffer>;

/** Cinder's volume_transfer_key_length and volume_transfer_salt_length defaults. */
const KEY_LENGTH = 16;
const SALT_LENGTH = 8;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomString(length: number): string {
  // 62 does not divide 256: bytes from 248 up are skipped so every character is equally likely.
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += ALPHABET[b % 62];
    }
  }
  return out;
}

async function hashKey(salt: string, authKey: string): Promise<string> {
  return (await scrypt(authKey, salt, 32)).toString('hex');
}

const SORT_KEYS: Record<string, transfers.TransferSortKey> = { created_at: 'created_at', id: 'id', name: 'display_name', display_name: 'display_name', volume_id: 'volume_id' };
/** The order below 3.59 (cinder/api/v3/volume_transfer.py _get_transfers). */
const DEFAULT_SORT: { key: transfers.TransferSortKey; dir: 'asc' | 'desc' }[] = [
  { key: 'created_at', dir: 'asc' },
  { key: 'id', dir: 'asc' },
];

const transferNotFound = (id: string) => new CinderFault(404, `Transfer ${id} could not be found.`);

function info(r: transfers.TransferRow): TransferInfo {
  return {
    id: r.id,
    volumeId: r.volume_id,
    name: r.display_name,
    createdAt: r.created_at,
    noSnapshots: toBool(r.no_snapshots),
    sourceProjectId: r.source_project_id,
    destinationProjectId: r.destination_project_id,
    accepted: toBool(r.accepted),
  };
}

export function transferActions(deps: Deps): TransfersWorkflow {
  const { store } = deps;
  const db = store.db;

  /** A transfer the caller may see: its own project's, or any for an admin (Cinder's transfer_get). */
  async function visible(ctx: RequestContext, id: string): Promise<transfers.TransferRow> {
    const row = await transfers.findTransfer(db, id);
    if (!row || !canSeeProject(ctx, row.source_project_id)) throw transferNotFound(id);
    return row;
  }

  return {
    async createTransfer(ctx: RequestContext, req: CreateTransferRequest) {
      const vol = await loadRow(db, ctx, req.volumeId);
      requireMember(ctx, 'volume:create_transfer');
      const authKey = randomString(KEY_LENGTH);
      const salt = randomString(SALT_LENGTH);
      const cryptHash = await hashKey(salt, authKey);
      const id = randomUUID();
      const now = nowTimestamp();
      await tracked(deps, actorOf(ctx), 'transfer_create', vol.id, async (trx) => {
        // Only an available, detached volume that is not migrating can be offered (one conditional UPDATE):
        // anything attached, busy or already offered is refused.
        const offered = await volumes.casVolume(
          trx,
          vol.id,
          { status: 'awaiting-transfer' },
          { status: ['available'], attachStatusNot: ['attached'], migrationStatus: MIGRATION_AT_REST },
        );
        if (!offered) throw invalidVolume('status must be available');
        await transfers.insertTransfer(trx, {
          id,
          volume_id: vol.id,
          display_name: req.name ?? null,
          salt,
          crypt_hash: cryptHash,
          source_project_id: vol.project_id,
          destination_project_id: null,
          accepted: dbBool(false),
          no_snapshots: dbBool(req.noSnapshots === true),
          created_at: now,
          updated_at: null,
          deleted_at: null,
          deleted: dbBool(false),
        });
      });
      const row = await transfers.findTransfer(db, id);
      return { ...info(row!), authKey };
    },

    async getTransfer(ctx: RequestContext, id: string) {
      return info(await visible(ctx, id));
    },

    async listTransfers(ctx: RequestContext, req: ListTransfersRequest) {
      const projectId = req.allTenants && ctx.isAdmin ? null : ctx.projectId;
      const sort = req.sort ? resolveSort(req.sort, SORT_KEYS) : DEFAULT_SORT;
      let markerRow: transfers.TransferRow | undefined;
      if (req.marker) {
        markerRow = await transfers.findTransfer(db, req.marker);
        if (!markerRow || (projectId !== null && markerRow.source_project_id !== projectId)) throw markerNotFound(req.marker);
      }
      const limit = pageLimit(req.limit);
      const rows = await transfers.listTransfers(db, { projectId, name: req.name, sort, markerRow, limit: limit + 1, offset: req.offset });
      const { page, nextMarker } = splitPage(rows, limit);
      return nextMarker === undefined ? { transfers: page.map(info) } : { transfers: page.map(info), nextMarker };
    },

    async deleteTransfer(ctx: RequestContext, id: string) {
      const row = await visible(ctx, id);
      requireMember(ctx, 'volume:delete_transfer');
      await tracked(deps, actorOf(ctx), 'transfer_delete', row.volume_id, async (trx) => {
        if (!(await transfers.closeTransfer(trx, id, null))) throw transferNotFound(id);
        // As Cinder's transfer_destroy: the volume goes back to available only if it still awaits the transfer.
        await volumes.casVolume(trx, row.volume_id, { status: 'available' }, { status: ['awaiting-transfer'] });
      });
    },

    async acceptTransfer(ctx: RequestContext, id: string, authKey: string) {
      // Any project may accept (policy volume:accept_transfer is ""); the key is the authorisation.
      const row = await transfers.findTransfer(db, id);
      if (!row) throw transferNotFound(id);
      const given = Buffer.from(await hashKey(row.salt, authKey), 'hex');
      const stored = Buffer.from(row.crypt_hash, 'hex');
      if (given.length !== stored.length || !timingSafeEqual(given, stored)) {
        throw new CinderFault(400, `Invalid auth key: Attempt to transfer ${id} with invalid auth key.`);
      }
      await tracked(deps, actorOf(ctx), 'transfer_accept', row.volume_id, async (trx) => {
        if (!(await transfers.closeTransfer(trx, id, { destinationProjectId: ctx.projectId }))) throw transferNotFound(id);
        // The volume changes owner and its quota charge moves with it (checked against the accepting project:
        // 413 when it would go over), all in this transaction.
        const moved = await withVolumeCharge(trx, row.volume_id, () =>
          volumes.casVolume(trx, row.volume_id, { status: 'available', project_id: ctx.projectId, user_id: ctx.userId }, { status: ['awaiting-transfer'] }),
        );
        if (!moved) throw invalidVolume(`Transfer ${id}: Volume id ${row.volume_id} expected in awaiting-transfer state.`);
        // Unless no_snapshots, the volume's snapshots move too, with their charge (db transfer_accept), charged to
        // the accepting project in one step as transfer/api.py _handle_snapshot_quota reserves it (a 413 names the
        // snapshots' total size).
        if (!toBool(row.no_snapshots)) {
          const snaps = await snapshots.snapshotsOfVolume(trx, row.volume_id);
          for (const snap of snaps) {
            if (!(await snapshots.casSnapshot(trx, snap.id, { project_id: ctx.projectId, user_id: ctx.userId }, { status: ['available'] }))) {
              throw new CinderFault(400, `Invalid snapshot: Transfer ${id}: Snapshot ${snap.id} is not in the expected available state.`);
            }
            await releaseQuota(trx, snap.project_id, snap.volume_type_id, { snapshots: 1, gigabytes: snap.volume_size });
          }
          for (const typeId of new Set(snaps.map((s) => s.volume_type_id))) {
            const mine = snaps.filter((s) => s.volume_type_id === typeId);
            const delta = { snapshots: mine.length, gigabytes: mine.reduce((n, s) => n + s.volume_size, 0) };
            await consumeQuota(trx, ctx.projectId, typeId, delta, { purpose: { resource: 'snapshots', size: delta.gigabytes } });
          }
        }
      });
      return { ...info(row), destinationProjectId: ctx.projectId, accepted: true };
    },
  };
}
