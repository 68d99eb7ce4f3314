// `embervol attach` / `embervol detach`: the three-step workflow for a host without Nova.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { ApiClient, CliError, EXIT, localInitiatorName } from './client.js';
import { emit, propertyTable } from './format.js';
import { run } from './common.js';

function initiatorOrDefault(given: string | undefined): string {
  const initiator = given ?? localInitiatorName();
  if (!initiator) {
    throw new CliError('no initiator: pass --initiator IQN (there is no /etc/iscsi/initiatorname.iscsi on this host)', EXIT.usage);
  }
  return initiator;
}

function libiscsiUrl(d: any): string {
  const auth = d.auth_username ? `${encodeURIComponent(d.auth_username)}%${encodeURIComponent(d.auth_password)}@` : '';
  return `iscsi://${auth}${d.target_portal}/${d.target_iqn}/${d.target_lun}`;
}

/** Undo a reserve whatever step failed; terminate_connection also unreserves (reference 2.7). */
async function rollBackAttach(api: ApiClient, volumeId: string, connector: Record<string, unknown>, initialized: boolean) {
  try {
    if (initialized) await api.action(volumeId, 'os-terminate_connection', { connector });
    else await api.action(volumeId, 'os-unreserve');
  } catch {
    /* the original error is the one worth reporting */
  }
}

export function registerAttachCommands(program: Command): void {
  program
    .command('attach <volume>')
    .description('reserve, initialise the connection and attach; prints the connection info and a libiscsi URL')
    .option('--initiator <iqn>', 'initiator IQN of the host (default: /etc/iscsi/initiatorname.iscsi)')
    .option('--host <name>', 'host name recorded on the attachment', hostname())
    .option('--instance <uuid>', 'instance (server) UUID the volume is attached to')
    .option('--mountpoint <dev>', 'device path recorded on the attachment', '/dev/embervol')
    .option('--mode <mode>', 'rw or ro', 'rw')
    .action((ref, o, cmd) =>
      run(cmd, async (api, json) => {
        if (o.mode !== 'rw' && o.mode !== 'ro') throw new CliError(`--mode must be rw or ro, got "${o.mode}"`, EXIT.usage);
        const initiator = initiatorOrDefault(o.initiator);
        const volume = await api.findVolume(ref);
        const connector = { initiator, host: o.host, ip: '127.0.0.1', platform: process.arch, os_type: process.platform, multipath: false, mode: o.mode };
        await api.action(volume.id, 'os-reserve');
        let initialized = false;
        try {
          const init = await api.action(volume.id, 'os-initialize_connection', { connector });
          initialized = true;
          const attach: Record<string, unknown> = { mountpoint: o.mountpoint, mode: o.mode };
          if (o.instance) attach.instance_uuid = o.instance;
          else attach.host_name = o.host;
          await api.action(volume.id, 'os-attach', attach);
          const after = (await api.request('GET', `/volumes/${volume.id}`)).body.volume;
          const mine = (after.attachments as any[]).filter((a) => (o.instance ? a.server_id === o.instance : true)).pop();
          const data = init.body.connection_info.data;
          const result = { volume_id: volume.id, attachment_id: mine?.attachment_id ?? null, status: after.status, connection_info: init.body.connection_info, libiscsi_url: libiscsiUrl(data) };
          emit(json, result, () =>
            propertyTable({ volume_id: volume.id, attachment_id: result.attachment_id, status: after.status, ...data }) + `\nlibiscsi URL: ${result.libiscsi_url}`,
          );
        } catch (e) {
          await rollBackAttach(api, volume.id, connector, initialized);
          throw e;
        }
      }),
    );

  program
    .command('detach <volume>')
    .description('begin detaching, terminate the connection and detach')
    .option('--attachment <id>', 'attachment to detach (needed when the volume has several)')
    .option('--initiator <iqn>', 'initiator IQN of the host (default: /etc/iscsi/initiatorname.iscsi)')
    .option('--host <name>', 'host name of the connector', hostname())
    .action((ref, o, cmd) =>
      run(cmd, async (api, json) => {
        const initiator = initiatorOrDefault(o.initiator);
        const volume = await api.findVolume(ref);
        const atts = volume.attachments as any[];
        let attachmentId: string | undefined = o.attachment;
        if (!attachmentId) {
          if (atts.length === 1) attachmentId = atts[0].attachment_id;
          else if (atts.length === 0) throw new CliError(`volume ${volume.id} has no attachment (status ${volume.status})`, EXIT.apiError);
          else throw new CliError(`volume ${volume.id} has ${atts.length} attachments; pass --attachment with one of ${atts.map((a) => a.attachment_id).join(', ')}`, EXIT.usage);
        }
        const connector = { initiator, host: o.host };
        await api.action(volume.id, 'os-begin_detaching');
        try {
          await api.action(volume.id, 'os-terminate_connection', { connector });
        } catch (e) {
          await api.action(volume.id, 'os-roll_detaching').catch(() => undefined);
          throw e;
        }
        await api.action(volume.id, 'os-detach', { attachment_id: attachmentId });
        const after = (await api.request('GET', `/volumes/${volume.id}`)).body.volume;
        emit(json, { volume_id: volume.id, attachment_id: attachmentId, status: after.status }, () =>
          `Detached attachment ${attachmentId} of volume ${volume.id}; volume is now ${after.status}.`,
        );
      }),
    );
}
