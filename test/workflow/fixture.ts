// Shared setup for store, workflow and HTTP tests: a fresh database on the engine under test (a SQLite file in a
// fresh temp dir, or PostgreSQL: test/support/database.ts), a workflow,
// and either the real volume host (file backend + private tgtd) or a recording host for tests that
// only check bookkeeping (status, rows, messages) and never need bytes or a target.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { openStore, type Store } from '../../src/store/index.js';
import { setLimit, TOTAL } from '../../src/store/quotas.js';
import { createWorkflow } from '../../src/workflow/index.js';
import type { Workflow } from '../../src/workflow/model.js';
import type { AccessMode, AclEntry, Connector, HostConnection, HostLifecycle, QosLimits, VolumeHost, VolumeRef } from '../../src/host/types.js';
import { createVolumeHost } from '../../src/host/local-host.js';
import { localHostDirectory } from '../../src/host/directory.js';
import { FileBackend } from '../../src/backends/file.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { RequestContext } from '../../src/workflow/context.js';
import { MAX_VERSION } from '../../src/workflow/context.js';
import { makeTempDir, type TempDir } from '../support/tmp.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startPrivateTgt, type PrivateTgt } from '../support/tgtd.js';

export interface HostCall {
  op: string;
  volumeId: string;
  initiator?: string;
}

/**
 * A VolumeHost that only records what it was asked, with the real host's formats and rollback. Each call is
 * recorded as the driver steps the real host takes, named as Cinder's driver calls (createExport,
 * initializeConnection, terminateConnection, removeExport, ensureExport). For tests of the workflow's
 * bookkeeping; anything about exports, ACLs or bytes uses the real host instead.
 */
export class RecordingHost implements VolumeHost, HostLifecycle {
  readonly hostName = 'recording-host';
  readonly calls: HostCall[] = [];
  readonly acl = new Map<string, Set<string>>();
  readonly exports = new Set<string>();
  failNext: Partial<Record<string, Error>> = {};

  private maybeFail(op: string): void {
    const err = this.failNext[op];
    if (err) {
      delete this.failNext[op];
      throw err;
    }
  }
  async start() {}
  async stop() {}
  async createVolume(volumeId: string) {
    this.calls.push({ op: 'createVolume', volumeId });
    this.maybeFail('createVolume');
  }
  async deleteVolume(volumeId: string) {
    this.calls.push({ op: 'deleteVolume', volumeId });
    this.maybeFail('deleteVolume');
    this.exports.delete(volumeId);
    this.acl.delete(volumeId);
  }
  async extendVolume(volumeId: string) {
    this.calls.push({ op: 'extendVolume', volumeId });
    this.maybeFail('extendVolume');
  }
  async connect(volume: VolumeRef, connector: Connector & { initiator: string }, _mode: AccessMode): Promise<HostConnection> {
    const existed = this.exports.has(volume.id);
    this.calls.push({ op: 'createExport', volumeId: volume.id });
    this.maybeFail('createExport');
    this.exports.add(volume.id);
    const providerLocation = `127.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-${volume.id} 1`;
    const providerAuth = volume.providerAuth ?? 'CHAP abcdefghijkmnopqrstu ABCDEFGHJKLMNPQR';
    this.calls.push({ op: 'initializeConnection', volumeId: volume.id, initiator: connector.initiator });
    try {
      this.maybeFail('initializeConnection');
    } catch (err) {
      // The real host's rollback: an export this call made goes again.
      if (!existed) this.exports.delete(volume.id);
      throw err;
    }
    this.allow(volume.id, connector.initiator);
    if (volume.qos !== undefined) this.qos.set(volume.id, volume.qos);
    const [user, pass] = providerAuth.split(' ').slice(1);
    return {
      providerLocation,
      providerAuth,
      data: {
        target_discovered: false,
        target_portal: '127.0.0.1:3260',
        target_iqn: `iqn.2010-10.org.openstack:volume-${volume.id}`,
        target_lun: 1,
        volume_id: volume.id,
        auth_method: 'CHAP',
        auth_username: user,
        auth_password: pass,
      },
    };
  }
  async disconnect(volume: VolumeRef, initiator: string | null, opts: { dropExport: boolean }) {
    if (opts.dropExport) {
      this.calls.push({ op: 'removeExport', volumeId: volume.id });
      this.maybeFail('removeExport');
      this.exports.delete(volume.id);
      this.acl.delete(volume.id);
    } else if (initiator !== null) {
      this.deny(volume.id, initiator);
    }
  }
  async syncExport(volume: VolumeRef, acl: AclEntry[]) {
    if (!this.exports.has(volume.id)) {
      this.calls.push({ op: 'ensureExport', volumeId: volume.id });
      this.exports.add(volume.id);
    }
    for (const { initiator, mode } of acl) {
      if (mode === null) this.deny(volume.id, initiator);
      else {
        this.calls.push({ op: 'initializeConnection', volumeId: volume.id, initiator });
        this.allow(volume.id, initiator);
      }
    }
  }
  async listExports() {
    return [...this.exports];
  }
  /** The back-end QoS limits each exported volume got last (setQos and connect/syncExport with qos set). */
  readonly qos = new Map<string, QosLimits | null>();
  async setQos(volume: VolumeRef) {
    this.calls.push({ op: 'setQos', volumeId: volume.id });
    this.maybeFail('setQos');
    if (this.exports.has(volume.id) && volume.qos !== undefined) this.qos.set(volume.id, volume.qos);
  }
  async listBackingVolumes() {
    return [];
  }
  async createSnapshot(volumeId: string) {
    this.calls.push({ op: 'createSnapshot', volumeId });
    this.maybeFail('createSnapshot');
  }
  async deleteSnapshot(volumeId: string) {
    this.calls.push({ op: 'deleteSnapshot', volumeId });
    this.maybeFail('deleteSnapshot');
  }
  async createGroupSnapshot(members: { volumeId: string }[]) {
    for (const m of members) this.calls.push({ op: 'createSnapshot', volumeId: m.volumeId });
    this.maybeFail('createGroupSnapshot');
  }
  async createVolumesFrom(copies: { volumeId: string }[]) {
    for (const c of copies) this.calls.push({ op: 'createVolumeFrom', volumeId: c.volumeId });
    this.maybeFail('createVolumesFrom');
  }
  async createVolumeFrom(volumeId: string) {
    this.calls.push({ op: 'createVolumeFrom', volumeId });
    this.maybeFail('createVolumeFrom');
  }
  async revertToSnapshot(volumeId: string) {
    this.calls.push({ op: 'revertToSnapshot', volumeId });
    this.maybeFail('revertToSnapshot');
  }
  async listBackingSnapshots() {
    return [];
  }
  async copyMethod() {
    return 'none';
  }
  private allow(volumeId: string, initiator: string) {
    const set = this.acl.get(volumeId) ?? new Set<string>();
    set.add(initiator);
    this.acl.set(volumeId, set);
  }
  private deny(volumeId: string, initiator: string) {
    this.calls.push({ op: 'terminateConnection', volumeId, initiator });
    this.maybeFail('terminateConnection');
    this.acl.get(volumeId)?.delete(initiator);
  }
  ops(volumeId: string): string[] {
    return this.calls.filter((c) => c.volumeId === volumeId).map((c) => (c.initiator ? `${c.op}:${c.initiator}` : c.op));
  }
}

export interface Env {
  dir: TempDir;
  store: Store;
  host: VolumeHost & HostLifecycle;
  workflow: Workflow;
  logger: Logger;
  tgt?: PrivateTgt;
  close(): Promise<void>;
}

export async function makeEnv(opts: { real?: boolean; logger?: Logger; cinderQuotas?: boolean } = {}): Promise<Env> {
  const dir = await makeTempDir();
  const logger = opts.logger ?? silentLogger();
  const store = await openStore({ url: await freshDatabaseUrl(dir.path) });
  if (!opts.cinderQuotas) {
    // Tests of other features create far more than Cinder's default 10 volumes in one project; they run with
    // the default quota class lifted (as `cinder quota-class-update default` would). Quota tests ask for
    // Cinder's defaults with cinderQuotas: true.
    for (const resource of ['volumes', 'gigabytes', 'snapshots']) {
      await setLimit(store.db, 'class', 'default', { resource, typeId: TOTAL }, -1);
    }
  }
  let host: VolumeHost & HostLifecycle;
  let tgt: PrivateTgt | undefined;
  if (opts.real) {
    tgt = await startPrivateTgt({ logger });
    host = createVolumeHost({ backend: new FileBackend(join(dir.path, 'volumes')), target: tgt.target, logger, hostName: 'test-host', portals: [tgt.portal] });
    await host.start();
  } else {
    host = new RecordingHost();
  }
  const workflow = createWorkflow({ store, hosts: localHostDirectory(host), logger });
  return {
    dir,
    store,
    host,
    workflow,
    logger,
    tgt,
    async close() {
      await workflow.drain();
      await store.close();
      await host.stop();
      await dir.cleanup();
    },
  };
}

export function adminCtx(projectId = 'p-admin', overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    requestId: `req-${randomUUID()}`,
    userId: 'admin-user',
    projectId,
    roles: ['admin', 'member', 'reader'],
    isAdmin: true,
    isService: true,
    version: MAX_VERSION,
    ...overrides,
  };
}

export function memberCtx(projectId = 'p-member', overrides: Partial<RequestContext> = {}): RequestContext {
  return adminCtx(projectId, { userId: 'member-user', roles: ['member', 'reader'], isAdmin: false, isService: false, ...overrides });
}

/** Creates a volume and waits for the background create to finish. */
export async function availableVolume(env: Env, ctx: RequestContext, req: { size?: number; volumeType?: string } = {}): Promise<string> {
  const v = await env.workflow.createVolume(ctx, { size: req.size ?? 1, volumeType: req.volumeType });
  await env.workflow.drain();
  return v.id;
}

export const INITIATOR_A = 'iqn.1994-05.com.redhat:compute-a';
export const INITIATOR_B = 'iqn.1994-05.com.redhat:compute-b';

export function connector(initiator: string, extra: Partial<Connector> = {}): Connector {
  return { initiator, host: initiator.split(':')[1], ip: '127.0.0.1', platform: 'x86_64', os_type: 'linux', multipath: false, ...extra };
}
