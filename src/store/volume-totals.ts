// Volume counts and sizes per host and project (os-hosts show, the pools API's allocated capacity).
import type { Db } from './schema.js';
import { dbBool } from './schema.js';

export interface VolumeTotal {
  host: string;
  projectId: string;
  count: number;
  gigabytes: number;
}

/** Live volumes grouped by their host column and project. */
export async function volumeTotals(db: Db, hosts: string[]): Promise<VolumeTotal[]> {
  if (hosts.length === 0) return [];
  const rows = await db
    .selectFrom('volumes')
    .select((eb) => ['host', 'project_id', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('gb')])
    .where('deleted', '=', dbBool(false))
    .where('host', 'in', hosts)
    .groupBy(['host', 'project_id'])
    .orderBy('project_id')
    .execute();
  return rows.map((r) => ({ host: r.host ?? '', projectId: r.project_id, count: Number(r.n), gigabytes: Number(r.gb ?? 0) }));
}
