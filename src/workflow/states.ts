// Volume statuses the workflow reasons about, and how a message lists them.

/** Statuses in which a volume may be deleted without force (docs/cinder-compatibility.md#volumes). */
export const DELETABLE_STATUSES = ['available', 'error', 'error_restoring', 'error_extending', 'error_managing'] as const;

/** migration_status values that mean "not migrating". */
export const MIGRATION_AT_REST: readonly (string | null)[] = [null, 'deleting', 'error', 'success'];

export const VOLUME_STATUSES = [
  'creating', 'available', 'deleting', 'error', 'error_deleting', 'error_managing', 'managing', 'attaching', 'in-use',
  'detaching', 'maintenance', 'restoring-backup', 'error_restoring', 'reserved', 'awaiting-transfer', 'backing-up',
  'error_backing-up', 'error_extending', 'downloading', 'uploading', 'retyping', 'extending',
] as const;

/** Cinder's utils.build_or_str: ('a','b') -> "a or b". */
export function orList(items: readonly string[]): string {
  return items.join(' or ');
}
