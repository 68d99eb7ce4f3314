// What the workflow reads from a compute host's connector (docs/cinder-compatibility.md#connector), and the mode a legacy connection gets.
import { invalidInput } from '../errors.js';
import type { AccessMode, Connector } from '../host/types.js';

/** validate_connector of Cinder's iSCSI targets: `initiator` is required (docs/cinder-compatibility.md#connector). */
export function validateConnector(connector: unknown): { initiator: string; connector: Connector } {
  const c = connector as Connector | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c) || typeof c.initiator !== 'string' || c.initiator.trim() === '') {
    throw invalidInput("Connector doesn't have required information: initiator");
  }
  return { initiator: c.initiator, connector: c };
}

/** The initiator a terminate call names, if any (tgt-style callers may send a null or string connector). */
export function initiatorOf(connector: unknown): string | null {
  const c = connector as Connector | null;
  if (c && typeof c === 'object' && typeof c.initiator === 'string' && c.initiator !== '') return c.initiator;
  return null;
}

/** Cinder's access_mode rule (docs/cinder-compatibility.md#access-mode): attached_mode wins, else readonly, else rw. */
export function accessModeFor(adminMeta: Record<string, string>): AccessMode {
  if (adminMeta.attached_mode === 'ro' || adminMeta.attached_mode === 'rw') return adminMeta.attached_mode;
  return adminMeta.readonly === 'True' ? 'ro' : 'rw';
}
