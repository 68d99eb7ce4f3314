// QoS specs (cinder/api/contrib/qos_specs_manage.py, cinder/volume/qos_specs.py): a named set of keys with a
// consumer, associated with volume types. front-end specs travel to Nova in connection_info.qos_specs;
// back-end specs are enforced by the volume host's target on each exported volume of an associated type,
// and every change (keys, consumer, association) is pushed to the live exports at once.
import { randomUUID } from 'node:crypto';
import { CinderFault } from '../errors.js';
import type { RequestContext } from './context.js';
import type { Db } from '../store/schema.js';
import * as qos from '../store/qos-specs.js';
import * as types from '../store/volume-types.js';
import type * as volumes from '../store/volumes.js';
import * as volumesStore from '../store/volumes.js';
import type { QosLimits, VolumeRef } from '../host/types.js';
import type { Deps } from './deps.js';
import { requireAdmin } from './policy.js';
import { volumeRef } from './loader.js';
import type { QosAssociation, QosConsumer, QosSpecsInfo, QosSpecsWorkflow } from './model.js';

export const QOS_CONSUMERS: readonly QosConsumer[] = ['front-end', 'back-end', 'both'];

const qosNotFound = (id: string) => new CinderFault(404, `No such QoS spec ${id}.`);

/** The limits QEMU's throttling (and embervol's target) knows, in the order Cinder's per-GB scaling lists them. */
const TUNE_OPTS = ['read_iops_sec', 'read_bytes_sec', 'write_iops_sec', 'write_bytes_sec', 'total_iops_sec', 'total_bytes_sec'] as const;

function info(r: qos.QosSpecsRecord): QosSpecsInfo {
  return { id: r.id, name: r.name, consumer: r.consumer as QosConsumer, specs: r.specs };
}

function checkConsumer(consumer: string): QosConsumer {
  if (!(QOS_CONSUMERS as readonly string[]).includes(consumer)) {
    throw new CinderFault(400, `Invalid QoS specs: Valid consumer of QoS specs are: ${QOS_CONSUMERS.join(', ')}`);
  }
  return consumer as QosConsumer;
}

function checkLengths(specs: Record<string, string>): void {
  for (const [k, v] of Object.entries(specs)) {
    if (k.length === 0 || k.length > 255) throw new CinderFault(400, `Invalid QoS specs: key ${JSON.stringify(k)} must be 1 to 255 characters.`);
    if (v.length > 255) throw new CinderFault(400, `Invalid QoS specs: the value of ${k} must be at most 255 characters.`);
  }
}

/**
 * What Nova gets in connection_info.qos_specs: the specs of a front-end or both consumer, with the per-GB
 * options turned into absolute ones exactly as Cinder's manager does (value * size, at least *_per_gb_min,
 * at most *_max); null for back-end specs or none.
 */
export function frontEndSpecs(spec: qos.QosSpecsRecord | undefined, sizeGiB: number): Record<string, string | number> | null {
  if (!spec || (spec.consumer !== 'front-end' && spec.consumer !== 'both')) return null;
  const specs: Record<string, string | number> = { ...spec.specs };
  for (const option of TUNE_OPTS) {
    const perGb = `${option}_per_gb`;
    const perGbMin = `${option}_per_gb_min`;
    const max = `${option}_max`;
    if (!(perGb in specs)) continue;
    const minimum = toInt(specs[perGbMin] ?? 0);
    delete specs[perGbMin];
    const perGbValue = Math.max(minimum, toInt(specs[perGb]!) * sizeGiB);
    const maxValue = max in specs ? toInt(specs[max]!) : perGbValue;
    delete specs[max];
    specs[option] = Math.min(perGbValue, maxValue);
    delete specs[perGb];
  }
  return specs;
}

/**
 * The limits the target enforces for a back-end or both consumer: the absolute limits, or the per-GB ones
 * times the volume's size (at least *_per_gb_min); bursts (*_max, *_max_length) in QEMU's sense. Null when
 * nothing is limited. Values that are not positive numbers are ignored (Cinder does not validate keys).
 */
export function backEndLimits(spec: qos.QosSpecsRecord | undefined, sizeGiB: number): QosLimits | null {
  if (!spec || (spec.consumer !== 'back-end' && spec.consumer !== 'both')) return null;
  const s = spec.specs;
  const out: QosLimits = {};
  for (const option of TUNE_OPTS) {
    let avg = num(s[option]);
    const perGb = num(s[`${option}_per_gb`]);
    if (avg === undefined && perGb !== undefined) avg = Math.max(num(s[`${option}_per_gb_min`]) ?? 0, perGb * sizeGiB);
    if (avg === undefined || avg <= 0) continue;
    out[option] = avg;
    const max = num(s[`${option}_max`]);
    if (max !== undefined && max > 0) out[`${option}_max`] = max;
    const length = num(s[`${option}_max_length`]);
    if (length !== undefined && length > 0) out[`${option}_max_length`] = length;
  }
  return Object.keys(out).length > 0 ? out : null;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return v.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function toInt(v: string | number): number {
  const n = typeof v === 'number' ? v : parseInt(v, 10);
  if (!Number.isFinite(n)) throw new CinderFault(400, `Invalid QoS specs: ${String(v)} is not an integer.`);
  return Math.trunc(n);
}

/** The volume's VolumeRef with the back-end limits of its type's QoS spec, for connect and syncExport. */
export async function refWithQos(db: Db, row: volumes.VolumeRow): Promise<VolumeRef> {
  return refWithSpecs(row, await qos.qosSpecsOfType(db, row.volume_type_id));
}

/** refWithQos with the type's specs already read (os-initialize_connection also answers with them). */
export function refWithSpecs(row: volumes.VolumeRow, spec: qos.QosSpecsRecord | undefined): VolumeRef {
  return { ...volumeRef(row), qos: backEndLimits(spec, row.size) };
}

/** Pushes the current back-end limits to every exported volume of these types; failures are logged, not fatal. */
export async function pushQos(deps: Deps, typeIds: string[]): Promise<void> {
  const db = deps.store.db;
  const rows = await qos.exportedVolumesOfTypes(db, typeIds);
  await Promise.all(
    rows.map(async (row) => {
      try {
        await deps.hosts.byName(row.host).setQos(await refWithQos(db, row));
      } catch (err) {
        deps.logger.error({ err, volumeId: row.id }, 'could not apply QoS limits to the export');
      }
    }),
  );
}

/** Pushes the back-end limits to one volume's export (its size or type changed); failures are logged. */
export async function pushQosToVolume(deps: Deps, volumeId: string): Promise<void> {
  const row = await volumesStore.findVolume(deps.store.db, volumeId);
  if (!row || row.provider_location === null) return;
  try {
    await deps.hosts.byName(row.host).setQos(await refWithQos(deps.store.db, row));
  } catch (err) {
    deps.logger.error({ err, volumeId }, 'could not apply QoS limits to the export');
  }
}

/** The front-end spec a volume of the type would hand Nova (retype of an in-use volume must keep it). */
export async function frontEndSpecsOfType(db: Db, typeId: string | null, sizeGiB: number): Promise<string> {
  return JSON.stringify(frontEndSpecs(await qos.qosSpecsOfType(db, typeId), sizeGiB));
}

export function qosSpecsActions(deps: Deps): QosSpecsWorkflow {
  const db = deps.store.db;

  async function load(id: string, d: Db = db): Promise<qos.QosSpecsRecord> {
    const r = await qos.findQosSpecs(d, id);
    if (!r) throw qosNotFound(id);
    return r;
  }

  async function loadType(typeId: string, d: Db): Promise<types.TypeRow> {
    const t = await types.findType(d, typeId);
    if (!t) throw new CinderFault(404, `Volume type ${typeId} could not be found.`);
    return t;
  }

  return {
    async listQosSpecs(ctx, filters = {}) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:get_all');
      return (await qos.listQosSpecs(db, filters)).map(info);
    },

    async getQosSpecs(ctx, id) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:get');
      return info(await load(id));
    },

    async createQosSpecs(ctx: RequestContext, name, specs) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:create');
      const trimmed = name.trim();
      if (trimmed.length === 0 || trimmed.length > 255) throw new CinderFault(400, "An invalid 'name' value was provided. The 'name' must be 1 to 255 characters.");
      const { consumer: given, ...keys } = specs;
      const consumer = checkConsumer(given === undefined || given === '' ? 'back-end' : given);
      checkLengths(keys);
      const id = randomUUID();
      await deps.store.transaction(async (trx) => {
        // The unique index is the real guard against two racing creates; this gives the friendly 409 first.
        if (await qos.findQosSpecsByName(trx, trimmed)) throw new CinderFault(409, `QoS Specs ${trimmed} already exists.`);
        await qos.insertQosSpecs(trx, { id, name: trimmed, consumer, specs: keys });
      });
      return info(await load(id));
    },

    async setQosKeys(ctx, id, specs) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:update');
      const { consumer, ...keys } = specs;
      checkLengths(keys);
      const typeIds = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        await qos.setQosKeys(trx, id, keys);
        await qos.touchQosSpecs(trx, id, { consumer: consumer === undefined ? undefined : checkConsumer(consumer) });
        return (await qos.typesOfQosSpecs(trx, id)).map((t) => t.id);
      });
      await pushQos(deps, typeIds);
      return specs;
    },

    async unsetQosKeys(ctx, id, keys) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:delete');
      const typeIds = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        for (const key of keys) {
          if (!(await qos.deleteQosKey(trx, id, key))) throw new CinderFault(404, `QoS spec ${id} has no spec with key ${key}.`);
        }
        await qos.touchQosSpecs(trx, id);
        return (await qos.typesOfQosSpecs(trx, id)).map((t) => t.id);
      });
      await pushQos(deps, typeIds);
    },

    async deleteQosSpecs(ctx, id, opts) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:delete');
      const typeIds = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        const assoc = await qos.typesOfQosSpecs(trx, id);
        if (assoc.length > 0 && !opts.force) throw new CinderFault(400, 'Qos specs still in use.');
        const cleared = await qos.clearQosAssociations(trx, id);
        await qos.deleteQosSpecs(trx, id);
        return cleared;
      });
      await pushQos(deps, typeIds);
    },

    async qosAssociations(ctx, id) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:get_all');
      await load(id);
      return (await qos.typesOfQosSpecs(db, id)).map((t) => ({ association_type: 'volume_type' as const, id: t.id, name: t.name }));
    },

    async associateQos(ctx, id, typeId) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:update');
      if (!typeId) throw new CinderFault(400, 'Volume Type id must not be None.');
      const changed = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        const t = await loadType(typeId, trx);
        if (t.qos_specs_id === id) return false;
        if (t.qos_specs_id) {
          throw new CinderFault(400, `Invalid volume type: Type ${typeId} is already associated with another qos specs: ${t.qos_specs_id}`);
        }
        await qos.setTypeQosSpecs(trx, t.id, id);
        return true;
      });
      if (changed) await pushQos(deps, [typeId]);
    },

    async disassociateQos(ctx, id, typeId) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:update');
      if (!typeId) throw new CinderFault(400, 'Volume Type id must not be None.');
      const cleared = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        await loadType(typeId, trx);
        return qos.clearQosAssociations(trx, id, typeId);
      });
      await pushQos(deps, cleared);
    },

    async disassociateAllQos(ctx, id) {
      requireAdmin(ctx, 'volume_extension:qos_specs_manage:update');
      const cleared = await deps.store.transaction(async (trx) => {
        await load(id, trx);
        return qos.clearQosAssociations(trx, id);
      });
      await pushQos(deps, cleared);
    },
  };
}
