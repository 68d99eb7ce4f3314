// A volume host reports its own error kinds (host/types.ts HostError); here they become what the client sees.
// Backend details stay in the log: the fault says only what failed and, for a client's mistake, what to fix.
import { CinderFault, invalidInput } from '../errors.js';
import { HostError } from '../host/types.js';
import type { Logger } from '../log.js';

/** The fault for a failed host call; `serverMessage` is the 500's text (Cinder's wording for the action). */
export function hostFault(err: unknown, serverMessage: string): CinderFault {
  if (err instanceof CinderFault && err.status < 500) return err;
  if (err instanceof HostError && err.kind === 'invalid') return invalidInput(err.message);
  // The volume's host is down or unreachable (its services row says which): the same request can succeed later.
  if (isHostUnreachable(err)) return new CinderFault(503, `${serverMessage} The volume's host is unavailable; retry the request later.`);
  return new CinderFault(500, serverMessage);
}

/**
 * A host that could not be reached (HostError 'unavailable': down, restarting, or no address). A task (create,
 * delete, extend, snapshot, revert) that meets one is not failed: it stays in its status under its lease, and the
 * host's reconciler finishes it when the host is back (at its start-up every one), as after a crash.
 */
export function isHostUnreachable(err: unknown): boolean {
  return err instanceof HostError && err.kind === 'unavailable';
}

/** For a task's catch: true (and a warning) when the host was unreachable, so the task leaves its state as it is. */
export function leftToHost(logger: Logger, err: unknown, id: string): boolean {
  if (!isHostUnreachable(err)) return false;
  logger.warn({ err, id }, 'volume host unreachable; its reconciler finishes the task when it is back');
  return true;
}

/** True for a failure that is the client's to fix (no error log, the 4xx says it). */
export function isClientFault(err: unknown): boolean {
  return (err instanceof CinderFault && err.status < 500) || (err instanceof HostError && err.kind === 'invalid');
}
