// `embervol events VOLUME`: the state history of a volume and its attachments (admin only), oldest first.
import type { Command } from 'commander';
import { emit, table } from './format.js';
import { run } from './common.js';

export function registerEventsCommand(program: Command): void {
  program
    .command('events')
    .description('show every state transition of a volume and its attachments: when, who, action, from -> to, reason (admin)')
    .argument('<volume>', 'volume id or name')
    .option('--limit <n>', 'show at most n events', (v) => Number(v))
    .action((volume: string, o: { limit?: number }, cmd: Command) =>
      run(cmd, async (api, json) => {
        const qs = o.limit !== undefined && Number.isInteger(o.limit) && o.limit > 0 ? `?limit=${o.limit}` : '';
        const { id } = await api.findVolume(volume).catch(() => ({ id: volume }));
        const events = (await api.request('GET', `/volumes/${encodeURIComponent(id)}/events${qs}`)).body.events as any[];
        emit(json, events, () =>
          table(
            ['When', 'Resource', 'Action', 'From', 'To', 'User', 'Project', 'Request', 'Reason'],
            events.map((e) => [
              e.created_at,
              e.resource_type === 'volume' ? 'volume' : `attachment ${e.resource_id}`,
              e.action,
              e.from_status ?? '-',
              e.to_status ?? '-',
              e.user_id ?? 'embervol',
              e.project_id ?? '',
              e.request_id ?? '',
              e.reason ?? '',
            ]),
          ),
        );
      }),
    );
}
