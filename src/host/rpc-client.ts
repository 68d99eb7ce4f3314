// A volume host in another process, reached over the internal RPC (rpc-protocol.ts): the same VolumeHost
// interface as the local host, so the workflow does not know the difference. A host that cannot be reached
// (refused, reset, timed out) raises HostError('unavailable'); the host's own HostErrors come back as they were.
import type {
  AccessMode,
  AclEntry,
  Connector,
  CopySource,
  GroupSnapshotMember,
  HostConnection,
  VolumeCopy,
  VolumeHost,
  VolumeRef,
} from './types.js';
import { HostError } from './types.js';
import { SIGNATURE_HEADER, decodeError, signRequest, type RpcMethod } from './rpc-protocol.js';

export interface RemoteHostOptions {
  hostName: string;
  /** Where the host's RPC endpoint is, "HOST:PORT"; asked for on every call so a host that moved is followed. */
  address(): Promise<string | null>;
  secret: string;
  /** Longest a call may take (copies of big volumes take a while). */
  timeoutMs?: number;
  /** Told when a call could not reach the host (the directory forgets the address it had). */
  onUnreachable?(): void;
}

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

export class RemoteVolumeHost implements VolumeHost {
  readonly hostName: string;

  constructor(private readonly opts: RemoteHostOptions) {
    this.hostName = opts.hostName;
  }

  private async call<T>(method: RpcMethod, args: unknown[]): Promise<T> {
    const address = await this.opts.address();
    if (!address) throw new HostError('unavailable', `volume host ${this.hostName} has no RPC address registered`);
    const body = JSON.stringify({ args });
    let res: Response;
    try {
      res = await fetch(`http://${address}/rpc/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signRequest(this.opts.secret, method, body) },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      this.opts.onUnreachable?.();
      throw new HostError('unavailable', `volume host ${this.hostName} at ${address} is unreachable: ${causeOf(err)}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (err) {
      this.opts.onUnreachable?.();
      throw new HostError('unavailable', `volume host ${this.hostName} at ${address} sent no answer to ${method}: ${causeOf(err)}`, { cause: err });
    }
    if (res.status === 200) return (parsed as { result: T }).result;
    if (res.status === 401) throw new HostError('unavailable', `volume host ${this.hostName} refused the RPC secret of this process`);
    throw decodeError(parsed, this.hostName);
  }

  createVolume(volumeId: string, sizeGiB: number): Promise<void> {
    return this.call('createVolume', [volumeId, sizeGiB]);
  }
  extendVolume(volumeId: string, newSizeGiB: number): Promise<void> {
    return this.call('extendVolume', [volumeId, newSizeGiB]);
  }
  deleteVolume(volumeId: string): Promise<void> {
    return this.call('deleteVolume', [volumeId]);
  }
  connect(volume: VolumeRef, connector: Connector & { initiator: string }, mode: AccessMode): Promise<HostConnection> {
    return this.call('connect', [volume, connector, mode]);
  }
  disconnect(volume: VolumeRef, initiator: string | null, opts: { dropExport: boolean }): Promise<void> {
    return this.call('disconnect', [volume, initiator, opts]);
  }
  syncExport(volume: VolumeRef, acl: AclEntry[]): Promise<void> {
    return this.call('syncExport', [volume, acl]);
  }
  listExports(): Promise<string[]> {
    return this.call('listExports', []);
  }
  setQos(volume: VolumeRef): Promise<void> {
    return this.call('setQos', [volume]);
  }
  listBackingVolumes(): Promise<string[]> {
    return this.call('listBackingVolumes', []);
  }
  createSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.call('createSnapshot', [volumeId, snapshotId]);
  }
  deleteSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.call('deleteSnapshot', [volumeId, snapshotId]);
  }
  createGroupSnapshot(members: GroupSnapshotMember[]): Promise<void> {
    return this.call('createGroupSnapshot', [members]);
  }
  createVolumesFrom(copies: VolumeCopy[]): Promise<void> {
    return this.call('createVolumesFrom', [copies]);
  }
  createVolumeFrom(volumeId: string, source: CopySource, sizeGiB: number): Promise<void> {
    return this.call('createVolumeFrom', [volumeId, source, sizeGiB]);
  }
  revertToSnapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.call('revertToSnapshot', [volumeId, snapshotId]);
  }
  listBackingSnapshots(): Promise<string[]> {
    return this.call('listBackingSnapshots', []);
  }
  copyMethod(): Promise<string> {
    return this.call('copyMethod', []);
  }
}

/** fetch wraps the socket error (ECONNREFUSED, ...) in a TypeError; the cause says what happened. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code) return cause.code;
  return err instanceof Error ? err.message : String(err);
}
