// The services table: one row per running service (volume host or scheduler), heartbeated by its process.
import type { Selectable } from 'kysely';
import type { Db } from './schema.js';
import { dbBool, type ServicesTable } from './schema.js';

export type ServiceRow = Selectable<ServicesTable>;

export interface ServiceRegistration {
  id: string;
  host: string;
  binary: string;
  topic: string;
  availabilityZone: string;
  rpcAddress: string | null;
  capabilities: string | null;
  now: string;
}

/**
 * Registers the service or records its heartbeat: a new row starts enabled and not frozen; an existing row keeps
 * what operators set (disabled, frozen, reason) and only gets its zone, address, capabilities and updated_at.
 */
export async function heartbeat(db: Db, r: ServiceRegistration): Promise<void> {
  await db
    .insertInto('services')
    .values({
      id: r.id,
      host: r.host,
      binary: r.binary,
      topic: r.topic,
      availability_zone: r.availabilityZone,
      disabled: dbBool(false),
      disabled_reason: null,
      frozen: dbBool(false),
      rpc_address: r.rpcAddress,
      capabilities: r.capabilities,
      created_at: r.now,
      updated_at: r.now,
      modified_at: null,
    })
    .onConflict((oc) =>
      oc.columns(['host', 'binary']).doUpdateSet({
        availability_zone: r.availabilityZone,
        rpc_address: r.rpcAddress,
        capabilities: r.capabilities,
        updated_at: r.now,
      }),
    )
    .execute();
}

export async function listServices(db: Db, opts: { binary?: string } = {}): Promise<ServiceRow[]> {
  let q = db.selectFrom('services').selectAll();
  if (opts.binary !== undefined) q = q.where('binary', '=', opts.binary);
  return q.orderBy('binary').orderBy('host').execute();
}

export async function updateService(
  db: Db,
  id: string,
  values: { disabled?: boolean; disabledReason?: string | null; frozen?: boolean; now: string },
  expected: { frozen?: boolean } = {},
): Promise<boolean> {
  let q = db
    .updateTable('services')
    .set({
      ...(values.disabled !== undefined ? { disabled: dbBool(values.disabled) } : {}),
      ...(values.disabledReason !== undefined ? { disabled_reason: values.disabledReason } : {}),
      ...(values.frozen !== undefined ? { frozen: dbBool(values.frozen) } : {}),
      modified_at: values.now,
    })
    .where('id', '=', id);
  if (expected.frozen !== undefined) q = q.where('frozen', '=', dbBool(expected.frozen));
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * The RPC address a volume host registered: the cinder-volume row of `<hostName>@<backend>`. Null when the host
 * has no row or serves no RPC (a host running inside an API process).
 */
export async function volumeServiceAddress(db: Db, hostName: string): Promise<string | null> {
  const rows = await db
    .selectFrom('services')
    .select(['host', 'rpc_address'])
    .where('binary', '=', 'cinder-volume')
    .where((eb) => eb.or([eb('host', '=', hostName), eb('host', 'like', `${hostName}@%`)]))
    .execute();
  // LIKE treats _ and % in the name as wildcards: keep only the exact host.
  const row = rows.find((r) => r.host === hostName || r.host.startsWith(`${hostName}@`));
  return row?.rpc_address ?? null;
}
