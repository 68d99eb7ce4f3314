// `embervol attach` / `embervol detach`: what Nova does for an instance, for a host without Nova.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { CliError, EXIT, localInitiatorName } from './client.js';

/** 3.54: attachments with a mode (3.27 attachments, 3.44 os-complete). */
const ATTACHMENTS_VERSION = '3.54';
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

export function registerAttachCommands(program: Command): void {
  program
    .command('attach <volume>')
    .description('create an attachment with this host\'s connector and complete it; prints the connection info and a libiscsi URL')
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
        // The attachments API (as Nova uses it) keeps the connector on the attachment, so detach needs only its id.
        const connector = { initiator, host: o.host, ip: '127.0.0.1', platform: process.arch, os_type: process.platform, multipath: false, mountpoint: o.mountpoint, mode: o.mode };
        const body: Record<string, unknown> = { volume_uuid: volume.id, connector, mode: o.mode };
        if (o.instance) body.instance_uuid = o.instance;
        const att = (await api.request('POST', '/attachments', { attachment: body }, ATTACHMENTS_VERSION)).body.attachment;
        try {
          await api.request('POST', `/attachments/${att.id}/action`, { 'os-complete': null }, ATTACHMENTS_VERSION);
        } catch (e) {
          await api.request('DELETE', `/attachments/${att.id}`, undefined, ATTACHMENTS_VERSION).catch(() => undefined);
          throw e;
        }
        const { attachment_id: _id, driver_volume_type, ...data } = att.connection_info;
        const after = (await api.request('GET', `/volumes/${volume.id}`)).body.volume;
        const result = { volume_id: volume.id, attachment_id: att.id, status: after.status, connection_info: { driver_volume_type, data }, libiscsi_url: libiscsiUrl(data) };
        emit(json, result, () =>
          propertyTable({ volume_id: volume.id, attachment_id: att.id, status: after.status, ...data }) + `\nlibiscsi URL: ${result.libiscsi_url}`,
        );
      }),
    );

  program
    .command('detach <volume>')
    .description('begin detaching and delete the attachment (which ends the connection)')
    .option('--attachment <id>', 'attachment to detach (needed when the volume has several)')
    .action((ref, o, cmd) =>
      run(cmd, async (api, json) => {
        const volume = await api.findVolume(ref);
        const atts = volume.attachments as any[];
        let attachmentId: string | undefined = o.attachment;
        if (!attachmentId) {
          if (atts.length === 1) attachmentId = atts[0].attachment_id;
          else if (atts.length === 0) throw new CliError(`volume ${volume.id} has no attachment (status ${volume.status})`, EXIT.apiError);
          else throw new CliError(`volume ${volume.id} has ${atts.length} attachments; pass --attachment with one of ${atts.map((a) => a.attachment_id).join(', ')}`, EXIT.usage);
        }
        await api.action(volume.id, 'os-begin_detaching');
        try {
          await api.request('DELETE', `/attachments/${attachmentId}`, undefined, ATTACHMENTS_VERSION);
        } catch (e) {
          await api.action(volume.id, 'os-roll_detaching').catch(() => undefined);
          throw e;
        }
        const after = (await api.request('GET', `/volumes/${volume.id}`)).body.volume;
        emit(json, { volume_id: volume.id, attachment_id: attachmentId, status: after.status }, () =>
          `Detached attachment ${attachmentId} of volume ${volume.id}; volume is now ${after.status}.`,
        );
      }),
    );
}
