// Versioned schema migrations. Each runs once, inside a transaction, and records itself in
// embervol_migrations. Only the kysely schema builder and portable column types are used, so the
// same list runs unchanged on PostgreSQL. Never edit a migration that has shipped: append a new one.
import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';
import { dbBool, nowTimestamp } from './schema.js';

export interface Migration {
  version: number;
  name: string;
  up(db: Transaction<any>): Promise<void>;
}

/** The id of the type every volume gets when the request names none (Cinder creates it the same way). */
export const DEFAULT_TYPE_NAME = '__DEFAULT__';

const ts = 'varchar(32)';

// Listed in version order, the order runMigrations applies them (the store test checks that a fresh open applies
// exactly this list, in this order).
export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    async up(db) {
      await db.schema
        .createTable('volume_types')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'varchar(255)')
        .addColumn('is_public', 'boolean', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      // Names are unique among live types only; a deleted type's name can be reused.
      await db.schema
        .createIndex('volume_types_live_name')
        .on('volume_types')
        .column('name')
        .unique()
        .where(sql.ref('deleted'), '=', sql.lit(false))
        .execute();

      await db.schema
        .createTable('volume_type_extra_specs')
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull().references('volume_types.id'))
        .addColumn('key', 'varchar(255)', (c) => c.notNull())
        .addColumn('value', 'varchar(255)', (c) => c.notNull())
        .addPrimaryKeyConstraint('volume_type_extra_specs_pk', ['volume_type_id', 'key'])
        .execute();

      await db.schema
        .createTable('volumes')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)')
        .addColumn('description', 'varchar(255)')
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(255)', (c) => c.notNull())
        .addColumn('attach_status', 'varchar(255)', (c) => c.notNull())
        .addColumn('multiattach', 'boolean', (c) => c.notNull())
        .addColumn('bootable', 'boolean', (c) => c.notNull())
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.references('volume_types.id'))
        .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
        .addColumn('host', 'varchar(255)')
        .addColumn('provider_location', 'varchar(255)')
        .addColumn('provider_auth', 'varchar(255)')
        .addColumn('migration_status', 'varchar(255)')
        .addColumn('encryption_key_id', 'varchar(36)')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('volumes_project_deleted').on('volumes').columns(['project_id', 'deleted']).execute();

      await db.schema
        .createTable('volume_attachment')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('volume_id', 'varchar(36)', (c) => c.notNull().references('volumes.id'))
        .addColumn('instance_uuid', 'varchar(36)')
        .addColumn('attached_host', 'varchar(255)')
        .addColumn('mountpoint', 'varchar(255)')
        .addColumn('attach_time', ts)
        .addColumn('detach_time', ts)
        .addColumn('attach_status', 'varchar(255)', (c) => c.notNull())
        .addColumn('attach_mode', 'varchar(36)')
        .addColumn('connection_info', 'text')
        .addColumn('connector', 'text')
        .addColumn('initiator', 'varchar(255)')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('volume_attachment_volume_deleted')
        .on('volume_attachment')
        .columns(['volume_id', 'deleted'])
        .execute();

      await db.schema
        .createTable('volume_connections')
        .addColumn('volume_id', 'varchar(36)', (c) => c.notNull().references('volumes.id'))
        .addColumn('initiator', 'varchar(255)', (c) => c.notNull())
        .addColumn('connector', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('volume_connections_pk', ['volume_id', 'initiator'])
        .execute();

      for (const table of ['volume_metadata', 'volume_admin_metadata']) {
        await db.schema
          .createTable(table)
          .addColumn('volume_id', 'varchar(36)', (c) => c.notNull().references('volumes.id'))
          .addColumn('key', 'varchar(255)', (c) => c.notNull())
          .addColumn('value', 'varchar(255)', (c) => c.notNull())
          .addPrimaryKeyConstraint(`${table}_pk`, ['volume_id', 'key'])
          .execute();
      }
    },
  },
  {
    version: 2,
    name: 'default volume type',
    async up(db) {
      // A fixed id keeps the default type the same across installs, which tests and docs can rely on.
      await db
        .insertInto('volume_types')
        .values({
          id: '00000000-0000-4000-8000-000000000001',
          name: DEFAULT_TYPE_NAME,
          description: 'Default Volume Type',
          is_public: 1,
          created_at: nowTimestamp(),
          updated_at: null,
          deleted_at: null,
          deleted: 0,
        })
        .execute();
    },
  },
  {
    version: 3,
    name: 'leases on interim states and the event history',
    async up(db) {
      // When a volume or attachment in reserved / attaching / detaching (or a host task state) must be rolled
      // back by the reconciler; NULL when the row is in a state that needs no lease.
      await db.schema.alterTable('volumes').addColumn('lease_expires_at', ts).execute();
      // The size an extend that was accepted but has not finished is growing the volume to (a restart finishes it).
      await db.schema.alterTable('volumes').addColumn('pending_size', 'integer').execute();
      await db.schema.alterTable('volume_attachment').addColumn('lease_expires_at', ts).execute();
      await db.schema
        .createTable('volume_events')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        // Monotonic within one database: orders events that share a timestamp.
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('volume_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('resource_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('resource_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('from_status', 'varchar(255)')
        .addColumn('to_status', 'varchar(255)')
        .addColumn('user_id', 'varchar(255)')
        .addColumn('project_id', 'varchar(255)')
        .addColumn('request_id', 'varchar(64)')
        .addColumn('reason', 'varchar(1024)')
        .addColumn('created_at', ts, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('volume_events_volume_seq').on('volume_events').columns(['volume_id', 'seq']).execute();
      await db.schema.createIndex('volumes_lease').on('volumes').column('lease_expires_at').execute();
      await db.schema.createIndex('volume_attachment_lease').on('volume_attachment').column('lease_expires_at').execute();
    },
  },
  {
    version: 10,
    name: 'user messages',
    async up(db) {
      // Cinder's messages table (cinder/db/sqlalchemy/models.py Message): what went wrong with an asynchronous
      // request, in predefined words (cinder/message/message_field.py), kept until expires_at.
      await db.schema
        .createTable('messages')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('request_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('resource_type', 'varchar(36)')
        .addColumn('resource_uuid', 'varchar(255)')
        .addColumn('event_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('action_id', 'varchar(10)')
        .addColumn('detail_id', 'varchar(10)')
        .addColumn('message_level', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('expires_at', ts, (c) => c.notNull())
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('messages_project').on('messages').columns(['project_id', 'created_at']).execute();
      await db.schema.createIndex('messages_expires').on('messages').column('expires_at').execute();
    },
  },
  {
    version: 20,
    name: 'private type access, encryption types, services',
    async up(db) {
      await db.schema
        .createTable('volume_type_projects')
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull().references('volume_types.id'))
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('volume_type_projects_pk', ['volume_type_id', 'project_id'])
        .execute();
      await db.schema
        .createTable('encryption')
        .addColumn('encryption_id', 'varchar(36)', (c) => c.primaryKey())
        // One spec per type: the unique key is what makes a concurrent second create fail instead of doubling.
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull().unique().references('volume_types.id'))
        .addColumn('provider', 'varchar(255)')
        .addColumn('cipher', 'varchar(255)')
        .addColumn('key_size', 'integer')
        .addColumn('control_location', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .execute();
      await db.schema
        .createTable('services')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('host', 'varchar(255)', (c) => c.notNull())
        .addColumn('binary', 'varchar(255)', (c) => c.notNull())
        .addColumn('topic', 'varchar(255)', (c) => c.notNull())
        .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
        .addColumn('disabled', 'boolean', (c) => c.notNull())
        .addColumn('disabled_reason', 'varchar(255)')
        .addColumn('frozen', 'boolean', (c) => c.notNull())
        .addColumn('rpc_address', 'varchar(255)')
        .addColumn('capabilities', 'text')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('modified_at', ts)
        .execute();
      // One row per (host, binary): a restarted host heartbeats its old row, and hosts registering together cannot double it.
      await db.schema.createIndex('services_host_binary').on('services').columns(['host', 'binary']).unique().execute();
      },
    },
  {
    version: 30,
    name: 'snapshots, and the source a volume was copied from',
    async up(db) {
      await db.schema
        .createTable('snapshots')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('volume_id', 'varchar(36)', (c) => c.notNull().references('volumes.id'))
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)')
        .addColumn('description', 'varchar(255)')
        .addColumn('status', 'varchar(255)', (c) => c.notNull())
        .addColumn('progress', 'varchar(255)', (c) => c.notNull())
        .addColumn('volume_size', 'integer', (c) => c.notNull())
        .addColumn('volume_type_id', 'varchar(36)')
        .addColumn('group_snapshot_id', 'varchar(36)')
        // The deadline of creating / deleting / restoring, as for volumes (workflow/leases.ts).
        .addColumn('lease_expires_at', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('snapshots_volume_deleted').on('snapshots').columns(['volume_id', 'deleted']).execute();
      await db.schema.createIndex('snapshots_project_deleted').on('snapshots').columns(['project_id', 'deleted']).execute();
      await db.schema
        .createTable('snapshot_metadata')
        .addColumn('snapshot_id', 'varchar(36)', (c) => c.notNull().references('snapshots.id'))
        .addColumn('key', 'varchar(255)', (c) => c.notNull())
        .addColumn('value', 'varchar(255)', (c) => c.notNull())
        .addPrimaryKeyConstraint('snapshot_metadata_pk', ['snapshot_id', 'key'])
        .execute();
      // What a volume was copied from; a restart finishes its create from the same source.
      await db.schema.alterTable('volumes').addColumn('snapshot_id', 'varchar(36)').execute();
      await db.schema.alterTable('volumes').addColumn('source_volid', 'varchar(36)').execute();
    },
  },
  {
    version: 31,
    name: 'group types and group specs',
    async up(db) {
      await db.schema
        .createTable('group_types')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'varchar(255)')
        .addColumn('is_public', 'boolean', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      // As for volume types: names are unique among live group types only.
      await db.schema
        .createIndex('group_types_live_name')
        .on('group_types')
        .column('name')
        .unique()
        .where(sql.ref('deleted'), '=', sql.lit(false))
        .execute();
      await db.schema
        .createTable('group_type_specs')
        .addColumn('group_type_id', 'varchar(36)', (c) => c.notNull().references('group_types.id'))
        .addColumn('key', 'varchar(255)', (c) => c.notNull())
        .addColumn('value', 'varchar(255)', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_type_specs_pk', ['group_type_id', 'key'])
        .execute();
    },
  },
  {
    version: 40,
    name: 'quota limits and usages',
    async up(db) {
      await db.schema
        .createTable('quota_limits')
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('owner', 'varchar(255)', (c) => c.notNull())
        .addColumn('resource', 'varchar(64)', (c) => c.notNull())
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('hard_limit', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_limits_pk', ['kind', 'owner', 'resource', 'volume_type_id'])
        .execute();
      await db.schema
        .createTable('quota_usages')
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('resource', 'varchar(64)', (c) => c.notNull())
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('in_use', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_usages_pk', ['project_id', 'resource', 'volume_type_id'])
        .execute();
      // Volumes created before quotas existed are charged now, so stored usage equals a recount from day one.
      const rows = await db
        .selectFrom('volumes')
        .select(['project_id', 'volume_type_id', 'size', 'pending_size'])
        .where('deleted', '=', dbBool(false))
        .execute();
      const usage = new Map<string, number>();
      const add = (project: string, resource: string, typeId: string, n: number) => {
        const k = JSON.stringify([project, resource, typeId]);
        usage.set(k, (usage.get(k) ?? 0) + n);
      };
      for (const r of rows as { project_id: string; volume_type_id: string | null; size: number; pending_size: number | null }[]) {
        const gb = Math.max(r.size, r.pending_size ?? 0);
        for (const t of r.volume_type_id ? ['', r.volume_type_id] : ['']) {
          add(r.project_id, 'volumes', t, 1);
          add(r.project_id, 'gigabytes', t, gb);
        }
      }
      for (const [k, n] of usage) {
        const [project_id, resource, volume_type_id] = JSON.parse(k) as string[];
        await db.insertInto('quota_usages').values({ project_id, resource, volume_type_id, in_use: n }).execute();
      }
    },
  },
  {
    version: 41,
    name: 'volume transfers',
    async up(db) {
      await db.schema
        .createTable('transfers')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('volume_id', 'varchar(36)', (c) => c.notNull().references('volumes.id'))
        .addColumn('display_name', 'varchar(255)')
        .addColumn('salt', 'varchar(255)', (c) => c.notNull())
        .addColumn('crypt_hash', 'varchar(255)', (c) => c.notNull())
        .addColumn('source_project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('destination_project_id', 'varchar(255)')
        .addColumn('accepted', 'boolean', (c) => c.notNull())
        .addColumn('no_snapshots', 'boolean', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('transfers_volume_deleted').on('transfers').columns(['volume_id', 'deleted']).execute();
      await db.schema.createIndex('transfers_project_deleted').on('transfers').columns(['source_project_id', 'deleted']).execute();
    },
  },
  {
    version: 42,
    name: 'snapshot quota usage',
    async up(db) {
      // Snapshots taken before their quota was counted are charged now (snapshots and gigabytes, totals and per
      // type), so stored usage equals a recount.
      const rows = (await db
        .selectFrom('snapshots')
        .select(['project_id', 'volume_type_id', 'volume_size'])
        .where('deleted', '=', dbBool(false))
        .execute()) as { project_id: string; volume_type_id: string | null; volume_size: number }[];
      const usage = new Map<string, number>();
      for (const r of rows) {
        for (const t of r.volume_type_id ? ['', r.volume_type_id] : ['']) {
          for (const [resource, n] of [['snapshots', 1], ['gigabytes', r.volume_size]] as const) {
            const k = JSON.stringify([r.project_id, resource, t]);
            usage.set(k, (usage.get(k) ?? 0) + n);
          }
        }
      }
      for (const [k, n] of usage) {
        const [project_id, resource, volume_type_id] = JSON.parse(k) as string[];
        await db
          .insertInto('quota_usages')
          .values({ project_id, resource, volume_type_id, in_use: n })
          .onConflict((oc) => oc.columns(['project_id', 'resource', 'volume_type_id']).doUpdateSet({ in_use: sql`quota_usages.in_use + ${n}` }))
          .execute();
      }
    },
  },
  {
    version: 50,
    name: 'quality of service specs',
    async up(db) {
      await db.schema
        .createTable('qos_specs')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('consumer', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .execute();
      // Names are unique: a second create with the same name is a 409, also when two race.
      await db.schema.createIndex('qos_specs_name').on('qos_specs').column('name').unique().execute();
      await db.schema
        .createTable('qos_specs_keys')
        .addColumn('qos_specs_id', 'varchar(36)', (c) => c.notNull().references('qos_specs.id'))
        .addColumn('key', 'varchar(255)', (c) => c.notNull())
        .addColumn('value', 'varchar(255)', (c) => c.notNull())
        .addPrimaryKeyConstraint('qos_specs_keys_pk', ['qos_specs_id', 'key'])
        .execute();
      // A type has at most one QoS spec (Cinder's volume_types.qos_specs_id).
      await db.schema.alterTable('volume_types').addColumn('qos_specs_id', 'varchar(36)').execute();
    },
  },
  {
    version: 60,
    name: 'names and descriptions as long as their trimmed length allows',
    async up(db) {
      // Cinder checks a name's or description's length after trimming (cinder/api/validation/validators.py
      // _validate_string_length, remove_whitespaces) and stores the value as sent, so " <255 characters> " is
      // valid and 257 long. SQLite never enforces a varchar length; PostgreSQL does, so there the columns become
      // text. On SQLite the declared type changes nothing and ALTER COLUMN does not exist: nothing to do.
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
      for (const table of ['volumes', 'snapshots'] as const) {
        for (const column of ['name', 'description']) {
          await db.schema.alterTable(table).alterColumn(column, (c) => c.setDataType('text')).execute();
        }
      }
    },
  },
  {
    version: 80,
    name: 'generic volume groups and group snapshots',
    async up(db) {
      await db.schema
        .createTable('groups')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
        // text, as migration 60 made the volumes' and snapshots' names: Cinder checks the trimmed length.
        .addColumn('name', 'text')
        .addColumn('description', 'text')
        .addColumn('status', 'varchar(255)', (c) => c.notNull())
        .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
        .addColumn('group_type_id', 'varchar(36)', (c) => c.notNull())
        // The volume host the group's volumes live on (Cinder's groups.host); its members are made there.
        .addColumn('host', 'varchar(255)')
        .addColumn('group_snapshot_id', 'varchar(36)')
        .addColumn('source_group_id', 'varchar(36)')
        // The deadline of creating (from a source) and deleting (workflow/leases.ts).
        .addColumn('lease_expires_at', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('groups_project_deleted').on('groups').columns(['project_id', 'deleted']).execute();
      await db.schema
        .createTable('group_volume_type_mapping')
        .addColumn('group_id', 'varchar(36)', (c) => c.notNull().references('groups.id'))
        .addColumn('volume_type_id', 'varchar(36)', (c) => c.notNull())
        // Cinder lists a group's volume types in the order they were given.
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_volume_type_mapping_pk', ['group_id', 'volume_type_id'])
        .execute();
      await db.schema
        .createTable('group_snapshots')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('group_id', 'varchar(36)', (c) => c.notNull().references('groups.id'))
        .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('description', 'text')
        .addColumn('status', 'varchar(255)', (c) => c.notNull())
        .addColumn('group_type_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('lease_expires_at', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts)
        .addColumn('deleted_at', ts)
        .addColumn('deleted', 'boolean', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('group_snapshots_group_deleted').on('group_snapshots').columns(['group_id', 'deleted']).execute();
      await db.schema.createIndex('snapshots_group_snapshot').on('snapshots').column('group_snapshot_id').execute();
      await db.schema.alterTable('volumes').addColumn('group_id', 'varchar(36)').execute();
      await db.schema.createIndex('volumes_group').on('volumes').column('group_id').execute();
    },
  },
  {
    version: 90,
    name: 'indexes for every list sort and filter, the reconciler and event numbering',
    async up(db) {
      // A list is one project's (or, for all_tenants, every project's) live volumes in one sort order, paged by
      // limit and marker: an index that starts with the scope and goes on in the sort key (id breaks ties, as in
      // store/paging.ts) gives the first page without reading or sorting the rest. One per sort key the API
      // offers (workflow/volume-list.ts SORT_KEYS), per scope; and the filters that come with the default sort
      // (created_at) as an equality in front of it. The all-tenants ones do not start with `deleted`: with two
      // values it narrows nothing, and SQLite's planner (which has no statistics here) would take an index that
      // starts with it for any query on live rows.
      const sortKeys = ['created_at', 'updated_at', 'name', 'status', 'size', 'availability_zone', 'bootable'];
      for (const key of sortKeys) {
        await db.schema.createIndex(`volumes_project_by_${key}`).on('volumes').columns(['project_id', 'deleted', key, 'id']).execute();
        await db.schema.createIndex(`volumes_all_by_${key}`).on('volumes').columns([key, 'id']).execute();
      }
      await db.schema.createIndex('volumes_project_by_id').on('volumes').columns(['project_id', 'deleted', 'id']).execute();
      for (const key of ['status', 'name', 'availability_zone', 'bootable']) {
        await db.schema
          .createIndex(`volumes_project_${key}_by_created_at`)
          .on('volumes')
          .columns(['project_id', 'deleted', key, 'created_at', 'id'])
          .execute();
        await db.schema.createIndex(`volumes_all_${key}_by_created_at`).on('volumes').columns([key, 'created_at', 'id']).execute();
      }
      // The metadata filter (key=value) can start from the matching metadata rows.
      await db.schema.createIndex('volume_metadata_key_value').on('volume_metadata').columns(['key', 'value', 'volume_id']).execute();
      // The reconciler and the host tasks look for this host's volumes and snapshots in a few interim statuses.
      // Status first: every volume of a single-host install has the same host, and an index that starts with it
      // would draw the planner into reading all of them (joins would start from volumes instead of attachments).
      await db.schema.createIndex('volumes_status_host').on('volumes').columns(['status', 'host']).execute();
      await db.schema.createIndex('snapshots_status').on('snapshots').column('status').execute();
      // Pending connections older than the attach lease are dropped by the reconciler.
      await db.schema.createIndex('volume_connections_created').on('volume_connections').column('created_at').execute();
      // insertEvents numbers events max(seq)+1: without an index on seq alone that is a scan of the whole history.
      await db.schema.createIndex('volume_events_seq').on('volume_events').column('seq').execute();
      // Attachment lists (workflow/attachments.ts SORT_KEYS) and the instance filter.
      for (const key of ['created_at', 'updated_at', 'attach_status', 'instance_uuid', 'attach_time']) {
        await db.schema.createIndex(`volume_attachment_by_${key}`).on('volume_attachment').columns([key, 'id']).execute();
      }
      // Snapshot lists, default sort.
      await db.schema.createIndex('snapshots_project_by_created_at').on('snapshots').columns(['project_id', 'deleted', 'created_at', 'id']).execute();
    },
  },
  {
    version: 91,
    name: 'indexes for the reconciler: groups by status, volumes that name an export',
    async up(db) {
      // As volumes_status_host (migration 90): the periodic pass looks for this host's groups in interim statuses.
      await db.schema.createIndex('groups_status_host').on('groups').columns(['status', 'host']).execute();
      // The start-up pass restores the export of every volume whose row names one.
      await db.schema.createIndex('volumes_provider_location').on('volumes').column('provider_location').execute();
    },
  },
  {
    version: 110,
    name: 'events numbered per volume: the index on seq alone goes',
    async up(db) {
      // insertEvents numbers each volume's history from its own last event (volume_events_volume_seq); nothing
      // reads volume_events by seq alone any more, and every insert paid for the index.
      await db.schema.dropIndex('volume_events_seq').execute();
    },
  },
];

/** Applies every migration newer than the recorded version; safe to call on every start. */
export async function runMigrations(db: Kysely<any>, list: Migration[] = migrations): Promise<number[]> {
  await db.schema
    .createTable('embervol_migrations')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('applied_at', ts, (c) => c.notNull())
    .execute();
  const applied: number[] = [];
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    await db.transaction().execute(async (trx) => {
      // Re-checked inside the transaction so two processes starting together apply each migration once.
      const done = await trx.selectFrom('embervol_migrations').select('version').where('version', '=', m.version).executeTakeFirst();
      if (done) return;
      await m.up(trx);
      await trx.insertInto('embervol_migrations').values({ version: m.version, name: m.name, applied_at: nowTimestamp() }).execute();
      applied.push(m.version);
    });
  }
  return applied;
}
