// How every target driver names a volume's target: Cinder's `<target_prefix>volume-<id>` (docs/cinder-compatibility.md#target-naming), so
// initiators and scripts see the same IQNs whichever driver exports the volume.
export const DEFAULT_IQN_PREFIX = 'iqn.2010-10.org.openstack:';
const VOLUME_NAME_PREFIX = 'volume-';

export function volumeIqn(iqnPrefix: string, volumeId: string): string {
  return `${iqnPrefix}${VOLUME_NAME_PREFIX}${volumeId}`;
}

/** The volume id of one of our IQNs, or null for a target that is not ours. */
export function volumeIdOfIqn(iqnPrefix: string, iqn: string): string | null {
  const prefix = iqnPrefix + VOLUME_NAME_PREFIX;
  return iqn.startsWith(prefix) && iqn.length > prefix.length ? iqn.slice(prefix.length) : null;
}
