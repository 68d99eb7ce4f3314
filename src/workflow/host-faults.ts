// A volume host reports its own error kinds (host/types.ts HostError); here they become what the client sees.
// Backend details stay in the log: the fault says only what failed and, for a client's mistake, what to fix.
import { CinderFault, invalidInput } from '../errors.js';
import { HostError } from '../host/types.js';

/** The fault for a failed host call; `serverMessage` is the 500's text (Cinder's wording for the action). */
export function hostFault(err: unknown, serverMessage: string): CinderFault {
  if (err instanceof CinderFault && err.status < 500) return err;
  if (err instanceof HostError && err.kind === 'invalid') return invalidInput(err.message);
  return new CinderFault(500, serverMessage);
}

/** True for a failure that is the client's to fix (no error log, the 4xx says it). */
export function isClientFault(err: unknown): boolean {
  return (err instanceof CinderFault && err.status < 500) || (err instanceof HostError && err.kind === 'invalid');
}
