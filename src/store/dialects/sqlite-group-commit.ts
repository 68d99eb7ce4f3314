// Group commit for SQLite: transactions that run while a commit is pending share one COMMIT, and so one fsync.
//
// With synchronous=FULL every COMMIT fsyncs the WAL, on the event loop (better-sqlite3 is synchronous), and on
// this kind of disk one fsync costs more than everything else a control-plane call does. So the driver keeps one
// physical transaction (BEGIN IMMEDIATE) open for the length of an event-loop turn: each logical transaction
// (Store.transaction, a migration) runs inside it as a SAVEPOINT, released when it succeeds and rolled back to
// when it fails, and statements run outside a transaction run inside it too. The COMMIT runs once the turn's
// I/O callbacks have run (setImmediate), ahead of anyone else waiting for the connection. Every user of the
// connection, reader or writer, goes on only after that COMMIT returned: a transaction's promise resolves, and a
// plain statement's caller continues, once what it wrote or read is durable, as when each had committed alone.
// A failed COMMIT (an I/O error) fails everyone in the group: their writes are gone, and they hear so.
// Logical transactions still run one at a time on the single connection, each seeing everything before it, so
// they stay serializable (store/index.ts states the contract).
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult, SqliteDatabase } from 'kysely';

/** A FIFO lock; `first` jumps the queue (the group's COMMIT must not wait behind the turn's newcomers). */
class FifoLock {
  #held = false;
  #queue: (() => void)[] = [];

  lock(first = false): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => (first ? this.#queue.unshift(resolve) : this.#queue.push(resolve)));
  }

  unlock(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#held = false;
  }
}

/** One physical transaction and everyone whose work is in it. */
class Group {
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  commitScheduled = false;
  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Nobody may be waiting when a group fails (say, every member rolled back): not an unhandled rejection.
    this.done.catch(() => undefined);
  }
}

/** One holder's turn with the connection (kysely hands the same object back to commit, rollback and release). */
class Hold implements DatabaseConnection {
  /** The group this holder's statements ran in, if any: the holder waits for its COMMIT. */
  group: Group | undefined;
  /** A transaction that committed gave the connection back before waiting for its group. */
  released = false;
  inTransaction = false;
  constructor(private readonly driver: GroupCommitDriver) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return Promise.resolve(this.driver.run<R>(this, compiled));
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used with SQLite');
  }
}

const SAVEPOINT = 'embervol_tx';

export class GroupCommitDriver implements Driver {
  readonly #db: SqliteDatabase;
  readonly #inTransaction: () => boolean;
  readonly #lock = new FifoLock();
  #group: Group | undefined;

  /** `inTransaction`: whether the connection has a transaction open (SQLite ends one by itself on some errors). */
  constructor(db: SqliteDatabase, inTransaction: () => boolean) {
    this.#db = db;
    this.#inTransaction = inTransaction;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.lock();
    return new Hold(this);
  }

  /** Runs one statement for `hold`; a write outside a transaction joins the group (opening one if needed). */
  run<R>(hold: Hold, compiled: CompiledQuery): QueryResult<R> {
    const stmt = this.#db.prepare(compiled.sql);
    if (!hold.inTransaction) {
      if (!this.#group && !(stmt as { readonly?: boolean }).readonly) this.#open();
      if (this.#group) this.#join(hold);
    }
    if (stmt.reader) return { rows: stmt.all(compiled.parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(compiled.parameters);
    return {
      numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
      insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
      rows: [],
    };
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const hold = connection as Hold;
    if (!this.#group) this.#open();
    this.#join(hold);
    this.#exec(`savepoint ${SAVEPOINT}`);
    hold.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const hold = connection as Hold;
    this.#exec(`release ${SAVEPOINT}`);
    hold.inTransaction = false;
    hold.released = true;
    this.#lock.unlock();
    await hold.group!.done;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const hold = connection as Hold;
    // Committed, and then the group's COMMIT failed: the group rolled back already and the lock is not ours.
    if (hold.released) return;
    hold.inTransaction = false;
    // SQLite may have rolled the whole transaction back itself (an I/O error, a full disk): the group is lost.
    if (!this.#inTransaction()) {
      const g = this.#group;
      this.#group = undefined;
      g?.reject(new Error('the database rolled back a transaction that other transactions were part of'));
      return;
    }
    this.#exec(`rollback to ${SAVEPOINT}`);
    this.#exec(`release ${SAVEPOINT}`);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const hold = connection as Hold;
    if (!hold.released) this.#lock.unlock();
    // What this holder wrote or read may not be committed yet: it goes on when it is.
    if (hold.group) await hold.group.done;
  }

  /** Waits until no group is open (before a checkpoint or close). */
  async idle(): Promise<void> {
    while (this.#group) await this.#group.done.catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.idle();
    this.#db.close();
  }

  #exec(sql: string): void {
    this.#db.prepare(sql).run([]);
  }

  #open(): void {
    this.#exec('begin immediate');
    this.#group = new Group();
  }

  #join(hold: Hold): void {
    const g = this.#group!;
    hold.group = g;
    if (g.commitScheduled) return;
    g.commitScheduled = true;
    // After this turn's I/O callbacks (the poll phase), so the requests that arrived together share the COMMIT.
    setImmediate(() => void this.#commit(g));
  }

  async #commit(g: Group): Promise<void> {
    await this.#lock.lock(true);
    try {
      if (this.#group !== g) return;
      this.#group = undefined;
      try {
        this.#exec('commit');
        g.resolve();
      } catch (err) {
        if (this.#inTransaction()) {
          try {
            this.#exec('rollback');
          } catch {
            // The rollback's own failure changes nothing for the group: it failed.
          }
        }
        g.reject(err);
      }
    } finally {
      this.#lock.unlock();
    }
  }
}
