// The IQN a target driver gives a volume's target (Cinder's naming, src/targets/naming.ts), for tests that
// look a target up in tgtd or log in to it. Drivers keep this to themselves; the workflow never needs it.
import { volumeIqn } from '../../src/targets/naming.js';

export function targetIqn(driver: { readonly iqnPrefix: string }, volumeId: string): string {
  return volumeIqn(driver.iqnPrefix, volumeId);
}
