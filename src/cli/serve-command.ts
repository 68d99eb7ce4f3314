// `embervol serve`: options from flags, env and an optional JSON file; runs until SIGINT/SIGTERM.
import { Option, type Command } from 'commander';
import { ConfigError, envName, loadConfig, optionHelp, type Config, type OptionName, type RawOptions } from '../config.js';
import { createLogger } from '../log.js';
import { startService } from '../service.js';

const serveFlags: [OptionName, string][] = [
  ['role', '--role <role>'],
  ['dataDir', '--data-dir <dir>'],
  ['listen', '--listen <host:port>'],
  ['iscsiPortal', '--iscsi-portal <host:port>'],
  ['target', '--target <name>'],
  ['auth', '--auth <mode>'],
  ['database', '--database <url>'],
  ['iqnPrefix', '--iqn-prefix <prefix>'],
  ['tgtManage', '--tgt-manage <bool>'],
  ['tgtControlPort', '--tgt-control-port <port>'],
  ['iscsiBusyPollMicroseconds', '--iscsi-busy-poll-microseconds <us>'],
  ['hostName', '--host-name <name>'],
  ['rpcListen', '--rpc-listen <host:port>'],
  ['reportIntervalSeconds', '--report-interval-seconds <s>'],
  ['serviceDownSeconds', '--service-down-seconds <s>'],
  ['availabilityZone', '--availability-zone <az>'],
  ['logLevel', '--log-level <level>'],
  ['keystoneAuthUrl', '--keystone-auth-url <url>'],
  ['keystoneUsername', '--keystone-username <name>'],
  ['keystonePassword', '--keystone-password <password>'],
  ['keystoneProjectName', '--keystone-project-name <name>'],
  ['keystoneUserDomainName', '--keystone-user-domain-name <name>'],
  ['keystoneProjectDomainName', '--keystone-project-domain-name <name>'],
  ['leaseAttachingSeconds', '--lease-attaching-seconds <s>'],
  ['leaseReservedSeconds', '--lease-reserved-seconds <s>'],
  ['leaseDetachingSeconds', '--lease-detaching-seconds <s>'],
  ['leaseTaskSeconds', '--lease-task-seconds <s>'],
  ['reconcileIntervalSeconds', '--reconcile-interval-seconds <s>'],
];

export function registerServeCommand(program: Command): void {
  const serve = program
    .command('serve')
    .description(
      'run the volume service (Cinder v3 API, volume host, iSCSI target) until SIGINT/SIGTERM. With --role api|host, one ' +
        'part of a multi-host deployment: API processes and volume hosts sharing one database (README "Multi-host ' +
        'deployment"); their internal RPC secret comes from EMBERVOL_RPC_SECRET or rpcSecret in the config file, never a flag.',
    )
    .option('--config <file>', 'JSON file of options, keys in camelCase (dataDir, listen, target, ...); env EMBERVOL_CONFIG');
  for (const [key, flags] of serveFlags) serve.addOption(new Option(flags, `${optionHelp[key]}; env ${envName(key)}`));
  serve.action(async (opts: RawOptions & { config?: string }) => {
    let config: Config;
    try {
      const { config: configFile, ...flags } = opts;
      config = loadConfig(flags, { configFile });
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`embervol serve: ${e.message}`);
        process.exit(2);
      }
      throw e;
    }
    const logger = createLogger({ level: config.logLevel });
    let service: Awaited<ReturnType<typeof startService>>;
    try {
      service = await startService(config, logger);
    } catch (e) {
      logger.fatal({ err: e }, 'embervol failed to start');
      console.error(`embervol serve: ${(e as Error).message}`);
      process.exit(1);
    }
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      await service.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });
}
