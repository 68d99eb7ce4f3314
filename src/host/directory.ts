// The hosts this process can reach, by the name a volume row carries in volumes.host. Only the local host
// exists today; a remote host (an RPC client with the same VolumeHost interface) is added here, and the
// workflow does not change.
import { HostError, type HostDirectory, type VolumeHost } from './types.js';

export function localHostDirectory(local: VolumeHost): HostDirectory {
  return {
    local,
    byName(hostName: string | null): VolumeHost {
      // Rows from before volumes.host was written carry no host: they can only be this one's.
      if (hostName === null || hostName === local.hostName) return local;
      throw new HostError('unavailable', `volume host ${hostName} is not reachable from this process`);
    },
  };
}
