// connection_info as Cinder returns it (docs/cinder-compatibility.md#connection-info): the host's iSCSI data plus the keys the volume adds.
import type { Connector, AccessMode } from '../host/types.js';
import type * as volumes from '../store/volumes.js';
import * as types from '../store/volume-types.js';
import type { QosSpecsRecord } from '../store/qos-specs.js';
import { frontEndSpecs } from './qos-specs.js';
import type { Db } from '../store/schema.js';
import type { ConnectionInfo } from './model.js';

/** `qosSpecs`: the QoS specs of the volume's type, as the caller read them for the export (read once per request). */
export async function connectionInfo(
  db: Db,
  row: volumes.VolumeRow,
  qosSpecs: QosSpecsRecord | undefined,
  data: Record<string, unknown>,
  connector: Connector,
  mode: AccessMode,
): Promise<ConnectionInfo> {
  const out: Record<string, unknown> = {
    target_discovered: data.target_discovered ?? false,
    target_portal: data.target_portal,
    target_iqn: data.target_iqn,
    target_lun: data.target_lun,
  };
  const portals = data.target_portals as string[] | undefined;
  if ((portals && portals.length > 1) || connector.multipath) {
    const list = portals ?? [data.target_portal as string];
    out.target_portals = list;
    out.target_iqns = (data.target_iqns as string[] | undefined) ?? list.map(() => data.target_iqn);
    out.target_luns = (data.target_luns as number[] | undefined) ?? list.map(() => data.target_lun);
  }
  out.volume_id = row.id;
  if (data.auth_method) {
    out.auth_method = data.auth_method;
    out.auth_username = data.auth_username;
    out.auth_password = data.auth_password;
  }
  // Keys the host adds beyond the contract (e.g. discard) pass through.
  for (const [k, v] of Object.entries(data)) if (!(k in out) && !k.startsWith('target_')) out[k] = v;
  out.encrypted = row.encryption_key_id !== null;
  // manager.py initialize_connection: the type's specs when their consumer is front-end or both, else None.
  out.qos_specs = frontEndSpecs(qosSpecs, row.size);
  out.access_mode = mode;
  if (row.volume_type_id) {
    const specs = (await types.getExtraSpecs(db, [row.volume_type_id])).get(row.volume_type_id) ?? {};
    out.cacheable = specs.cacheable === '<is> True';
  }
  return { driver_volume_type: 'iscsi', data: out };
}
