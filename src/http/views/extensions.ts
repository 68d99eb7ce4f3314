// GET /extensions (cinder/api/extensions.py ExtensionsResource._translate): the contrib extensions whose
// behaviour this service has, with Cinder's names, aliases, descriptions (the descriptor docstrings) and dates.
const EXTENSIONS: [name: string, alias: string, description: string, updated: string][] = [
  ['AdminActions', 'os-admin-actions', 'Enable admin actions.', '2012-08-25T00:00:00+00:00'],
  ['AvailabilityZones', 'os-availability-zone', 'Describe Availability Zones.', '2013-06-27T00:00:00+00:00'],
  ['Hosts', 'os-hosts', 'Admin-only host administration.', '2011-06-29T00:00:00+00:00'],
  ['SchedulerHints', 'OS-SCH-HNT', 'Pass arbitrary key/value pairs to the scheduler.', '2013-04-18T00:00:00+00:00'],
  ['Scheduler_stats', 'scheduler-stats', 'Scheduler stats support.', '2014-09-07T00:00:00+00:00'],
  ['Services', 'os-services', 'Services support.', '2012-10-28T00:00:00-00:00'],
  ['TypesExtraSpecs', 'os-types-extra-specs', 'Type extra specs support.', '2011-08-24T00:00:00+00:00'],
  ['TypesManage', 'os-types-manage', 'Types manage support.', '2011-08-24T00:00:00+00:00'],
  ['VolumeActions', 'os-volume-actions', 'Enable volume actions.', '2012-05-31T00:00:00+00:00'],
  ['VolumeHostAttribute', 'os-vol-host-attr', 'Expose host as an attribute of a volume.', '2011-11-03T00:00:00+00:00'],
  ['VolumeMigStatusAttribute', 'os-vol-mig-status-attr', 'Expose migration_status as an attribute of a volume.', '2013-08-08T00:00:00+00:00'],
  ['VolumeTenantAttribute', 'os-vol-tenant-attr', 'Expose the internal project_id as an attribute of a volume.', '2011-11-03T00:00:00+00:00'],
  ['VolumeTypeAccess', 'os-volume-type-access', 'Volume type access support.', '2014-06-26T00:00:00Z'],
];

export function extensionsView() {
  return { extensions: EXTENSIONS.map(([name, alias, description, updated]) => ({ name, alias, description, updated, links: [] })) };
}
