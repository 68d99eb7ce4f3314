// The iSCSI `data` of connection_info (docs/cinder-compatibility.md#connection-info), built from the persisted provider columns.
import type { IscsiConnectionData, VolumeRef } from './types.js';
import { HostError } from './types.js';
import { parseProviderAuth, parseProviderLocation } from './provider.js';

export function connectionData(volume: VolumeRef, multipath: boolean): IscsiConnectionData {
  if (!volume.providerLocation) throw new HostError('backend', `volume ${volume.id} has no provider_location`);
  const loc = parseProviderLocation(volume.providerLocation);
  if (loc.portals.length === 0) throw new HostError('backend', `volume ${volume.id} provider_location has no portal`);
  const data: IscsiConnectionData = {
    target_discovered: false,
    target_portal: loc.portals[0]!,
    target_iqn: loc.iqn,
    target_lun: loc.lun,
    volume_id: volume.id,
  };
  if (loc.portals.length > 1 || multipath) {
    data.target_portals = [...loc.portals];
    data.target_iqns = loc.portals.map(() => loc.iqn);
    data.target_luns = loc.portals.map(() => loc.lun);
  }
  const chap = parseProviderAuth(volume.providerAuth);
  if (chap) {
    data.auth_method = 'CHAP';
    data.auth_username = chap.username;
    data.auth_password = chap.password;
  }
  return data;
}
