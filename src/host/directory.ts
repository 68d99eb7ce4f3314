// The hosts this process can reach, by the name a volume row carries in volumes.host: the host it runs itself
// (role all or host), and every other volume host through its RPC endpoint (rpc-client.ts), whose address the
// directory looks up by name (the services table, where hosts register it). The workflow does not see which is which.
import { HostError, type HostDirectory, type VolumeHost } from './types.js';
import { RemoteVolumeHost } from './rpc-client.js';

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

export interface RemoteDirectoryOptions {
  /** The host this process runs, if any. */
  local: VolumeHost | null;
  /** The shared RPC secret; without it no remote host is reachable. */
  secret: string | null;
  /** The registered RPC address ("HOST:PORT") of a volume host, or null when it has none. */
  lookup(hostName: string): Promise<string | null>;
  /** How long a looked-up address is reused before it is looked up again. */
  cacheMs: number;
}

export function remoteHostDirectory(opts: RemoteDirectoryOptions): HostDirectory {
  const remotes = new Map<string, VolumeHost>();
  const addresses = new Map<string, { address: string | null; at: number }>();

  async function addressOf(hostName: string): Promise<string | null> {
    const cached = addresses.get(hostName);
    if (cached && Date.now() - cached.at < opts.cacheMs) return cached.address;
    const address = await opts.lookup(hostName);
    addresses.set(hostName, { address, at: Date.now() });
    return address;
  }

  return {
    local: opts.local,
    byName(hostName: string | null): VolumeHost {
      if (opts.local && (hostName === null || hostName === opts.local.hostName)) return opts.local;
      if (hostName === null) throw new HostError('unavailable', 'the volume has no host and this process runs none');
      let remote = remotes.get(hostName);
      if (!remote) {
        const secret = opts.secret;
        if (secret === null) throw new HostError('unavailable', `volume host ${hostName} is not reachable: this process has no RPC secret`);
        remote = new RemoteVolumeHost({
          hostName,
          secret,
          address: () => addressOf(hostName),
          // A host that restarted may listen elsewhere: look again on the next call.
          onUnreachable: () => addresses.delete(hostName),
        });
        remotes.set(hostName, remote);
      }
      return remote;
    },
  };
}
