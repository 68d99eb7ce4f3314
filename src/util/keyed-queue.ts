// Runs tasks one at a time per key, in arrival order, while tasks for different keys run concurrently.
// Used to keep driver calls for one volume from overlapping inside one process; it is not a lock
// across processes (the database is).

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(() => task());
    // The tail must never reject, or the next task would see the previous task's failure.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Number of keys with queued or running work (for tests and metrics). */
  get activeKeys(): number {
    return this.tails.size;
  }
}
