// The filters each resource's list accepts from non-admins: Cinder's default resource_filters.json
// (etc/cinder/resource_filters.json in Cinder's tree), served by 3.33 `GET /resource_filters` and applied by
// the list actions. Admins may filter on anything.
export const RESOURCE_FILTERS: Readonly<Record<string, readonly string[]>> = {
  volume: ['name', 'status', 'metadata', 'bootable', 'migration_status', 'availability_zone', 'group_id', 'size', 'created_at', 'updated_at'],
  backup: ['name', 'status', 'volume_id'],
  snapshot: ['name', 'status', 'volume_id', 'metadata', 'availability_zone'],
  group: ['name'],
  group_snapshot: ['name', 'status', 'group_id'],
  attachment: ['volume_id', 'status', 'instance_id', 'attach_status'],
  message: ['resource_uuid', 'resource_type', 'event_id', 'request_id', 'message_level'],
  pool: ['name', 'volume_type'],
  volume_type: ['is_public', 'extra_specs'],
};
