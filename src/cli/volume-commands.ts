// `embervol volume ...` and `embervol type ...`: thin wrappers over the v3 API with tables or --json.
import type { Command } from 'commander';
import { ApiClient, CliError, EXIT } from './client.js';
import { emit, propertyTable, table } from './format.js';
import { run } from './common.js';

function volumeRow(v: any) {
  return [v.id, v.name ?? '', v.status, v.size, v.volume_type ?? '', v.multiattach ? 'True' : 'False', (v.attachments ?? []).map((a: any) => a.server_id ?? a.host_name).join(',')];
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('create, list, show, extend and delete volumes');

  volume
    .command('create')
    .description('create a volume and wait until it is available')
    .requiredOption('--size <GiB>', 'size in GiB', (v) => Number(v))
    .option('--name <name>')
    .option('--description <text>')
    .option('--type <type>', 'volume type name or id')
    .option('--no-wait', 'return as soon as the volume is accepted (status creating)')
    .action((o, cmd) =>
      run(cmd, async (api: ApiClient, json: boolean) => {
        if (!Number.isInteger(o.size) || o.size < 1) throw new CliError('--size must be a whole number of GiB, at least 1', EXIT.usage);
        const body: Record<string, unknown> = { size: o.size };
        if (o.name) body.name = o.name;
        if (o.description) body.description = o.description;
        if (o.type) body.volume_type = o.type;
        let v = (await api.request('POST', '/volumes', { volume: body })).body.volume;
        if (o.wait) v = await api.waitVolume(v.id, ['available']);
        emit(json, v, () => propertyTable(v));
      }),
    );

  volume
    .command('list')
    .description('list volumes')
    .action((_o, cmd) =>
      run(cmd, async (api, json) => {
        const vols = (await api.request('GET', '/volumes/detail')).body.volumes as any[];
        emit(json, vols, () => table(['ID', 'Name', 'Status', 'Size', 'Type', 'Multiattach', 'Attached to'], vols.map(volumeRow)));
      }),
    );

  volume
    .command('show <volume>')
    .description('show one volume (id or name)')
    .action((ref, _o, cmd) =>
      run(cmd, async (api, json) => {
        const v = await api.findVolume(ref);
        emit(json, v, () => propertyTable(v));
      }),
    );

  volume
    .command('extend <volume> <newSizeGiB>')
    .description('grow an available volume')
    .action((ref, size, _o, cmd) =>
      run(cmd, async (api, json) => {
        const v = await api.findVolume(ref);
        const newSize = Number(size);
        if (!Number.isInteger(newSize) || newSize <= v.size) throw new CliError(`new size must be a whole number larger than ${v.size}`, EXIT.usage);
        await api.action(v.id, 'os-extend', { new_size: newSize });
        const done = await api.waitVolume(v.id, ['available', 'in-use']);
        emit(json, done, () => propertyTable(done));
      }),
    );

  volume
    .command('delete <volume...>')
    .description('delete volumes (id or name)')
    .option('--force', 'admin: delete whatever the status (os-force_delete)')
    .action((refs: string[], o, cmd) =>
      run(cmd, async (api, json) => {
        const deleted: string[] = [];
        for (const ref of refs) {
          const v = await api.findVolume(ref);
          if (o.force) await api.action(v.id, 'os-force_delete');
          else await api.request('DELETE', `/volumes/${v.id}`);
          deleted.push(v.id);
        }
        emit(json, { deleted }, () => deleted.map((id) => `Request to delete volume ${id} has been accepted.`).join('\n'));
      }),
    );

  const type = program.command('type').description('volume types (admin)');
  type
    .command('list')
    .action((_o, cmd) =>
      run(cmd, async (api, json) => {
        const types = (await api.request('GET', '/types')).body.volume_types as any[];
        emit(json, types, () => table(['ID', 'Name', 'Description', 'Is_Public', 'Extra specs'], types.map((t) => [t.id, t.name, t.description, t.is_public, t.extra_specs ?? {}])));
      }),
    );
  type
    .command('show <type>')
    .action((ref, _o, cmd) =>
      run(cmd, async (api, json) => {
        const t = await findType(api, ref);
        emit(json, t, () => propertyTable(t));
      }),
    );
  type
    .command('create <name>')
    .option('--description <text>')
    .option('--multiattach', 'volumes of this type can attach to several hosts at once')
    .option('--property <key=value...>', 'extra specs')
    .action((name, o, cmd) =>
      run(cmd, async (api, json) => {
        const extra: Record<string, string> = {};
        for (const kv of (o.property ?? []) as string[]) {
          const i = kv.indexOf('=');
          if (i <= 0) throw new CliError(`--property takes key=value, got "${kv}"`, EXIT.usage);
          extra[kv.slice(0, i)] = kv.slice(i + 1);
        }
        if (o.multiattach) extra.multiattach = '<is> True';
        const body: Record<string, unknown> = { name, 'os-volume-type-access:is_public': true };
        if (o.description) body.description = o.description;
        if (Object.keys(extra).length) body.extra_specs = extra;
        const t = (await api.request('POST', '/types', { volume_type: body })).body.volume_type;
        emit(json, t, () => propertyTable(t));
      }),
    );
  type
    .command('delete <type...>')
    .action((refs: string[], _o, cmd) =>
      run(cmd, async (api, json) => {
        const deleted: string[] = [];
        for (const ref of refs) {
          const t = await findType(api, ref);
          await api.request('DELETE', `/types/${t.id}`);
          deleted.push(t.id);
        }
        emit(json, { deleted }, () => deleted.map((id) => `Volume type ${id} deleted.`).join('\n'));
      }),
    );
}

async function findType(api: ApiClient, ref: string): Promise<any> {
  const types = (await api.request('GET', '/types')).body.volume_types as any[];
  const t = types.find((x) => x.id === ref) ?? types.find((x) => x.name === ref);
  if (!t) throw new CliError(`no volume type with id or name "${ref}"`, EXIT.apiError);
  return t;
}

