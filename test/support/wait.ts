// Polls until a condition holds; for state that changes asynchronously (a daemon restarting).
// The deadline only bounds a broken run; tests assert the state, never how long it took.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
