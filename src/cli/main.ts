#!/usr/bin/env node
// Command line of embervol. `serve` runs the service; the other commands are clients of its HTTP API.
import { Command } from 'commander';
import { registerServeCommand } from './serve-command.js';
import { addClientOptions } from './common.js';
import { registerVolumeCommands } from './volume-commands.js';
import { registerAttachCommands } from './attach-commands.js';
import { registerEventsCommand } from './events-command.js';

const program = new Command();
program
  .name('embervol')
  .description('Block-storage volume service with a Cinder v3 API and iSCSI exports.\nExit codes: 0 ok, 1 the API refused or failed, 2 usage error, 3 service unreachable.')
  .showHelpAfterError();
// Before the commands are added: they inherit it, so a usage error in a subcommand exits 2 as well.
program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});
addClientOptions(program);
registerServeCommand(program);
registerVolumeCommands(program);
registerAttachCommands(program);
registerEventsCommand(program);

await program.parseAsync(process.argv);
