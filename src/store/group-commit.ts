import type { Transaction } from 'better-sqlite3'
import { type Db, isTransactionConflict } from './db.js'

interface QueuedOp {
  op: () => unknown
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/**
 * Group commit: writes asked for in the same turn of the event loop share one IMMEDIATE transaction,
 * each in its own savepoint (one failure undoes only itself; a lone write needs none). A lone caller still commits at once; under
 * load, many requests cost one commit instead of one each. Each promise settles after the commit.
 */
export class GroupCommit {
  readonly #run: Transaction<(fn: () => unknown) => unknown>
  #queue: QueuedOp[] = []
  #scheduled = false
  #busySince: number | undefined

  constructor(private readonly db: Db) {
    this.#run = db.transaction((fn: () => unknown) => fn())
  }

  /**
   * Run `op` inside the next group transaction. An op may run twice: when another op of its batch fails,
   * the batch's transaction is rolled back and run again (see #flush), so an op must only write to the
   * store and compute its result, not change anything outside the store that a second run would repeat.
   */
  run<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ op, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  /** A transaction right now, or, inside one already (a group's savepoint), simply part of it. */
  now<T>(fn: () => T): T {
    return (this.db.inTransaction ? fn() : this.#run.immediate(fn)) as T
  }

  #flush(): void {
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    // Set once the transaction has begun: a failure before that (the lock is busy) wrote nothing.
    let began = false
    if (batch.length === 1) {
      // Alone in its transaction, an op needs no savepoint: if it fails, the transaction rolls back.
      const item = batch[0]!
      let value: unknown
      try {
        value = this.#run.immediate(() => {
          began = true
          return item.op()
        })
      } catch (error) {
        if (!began && this.#retryLater(batch, error)) return
        item.reject(error)
        return
      }
      this.#busySince = undefined
      item.resolve(value)
      return
    }
    // The ops of a batch run one after another in one transaction, without a savepoint each: a savepoint
    // makes SQLite copy every page the op touches that an earlier op of the batch already changed (the
    // budget's row, the ledger's and the audit trail's last pages), which cost more than the rest of a
    // settlement. If one op fails, the whole transaction rolls back and the batch runs again, each op in its
    // own savepoint, so that only the failing one is undone.
    const values: unknown[] = []
    try {
      this.#run.immediate(() => {
        began = true
        // From the start on each run: PostgreSQL may run a transaction again after a conflict.
        values.length = 0
        for (const item of batch) values.push(item.op())
      })
    } catch (error) {
      if (!began && this.#retryLater(batch, error)) return
      if (!began) {
        for (const item of batch) item.reject(error)
        return
      }
      this.#runEach(batch)
      return
    }
    this.#busySince = undefined
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(values[i])
  }

  /** A batch again after one of its ops failed: each op in its own savepoint, one failure undoing only itself. */
  #runEach(batch: QueuedOp[]): void {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    let began = false
    try {
      this.#run.immediate(() => {
        began = true
        outcomes.length = 0
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.#run(item.op) })
          } catch (error) {
            // A conflict between transactions is the whole transaction's, not this op's: PostgreSQL runs it
            // again from the start (see PostgresDb), the batch with it.
            if (isTransactionConflict(error)) throw error
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (error) {
      if (!began && this.#retryLater(batch, error)) return
      for (const item of batch) item.reject(error)
      return
    }
    this.#busySince = undefined
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(outcome.error)
    })
  }

  /**
   * Another process held the store's write lock past the busy timeout (writers on one file can starve each
   * other under load). Nothing was written: the batch goes back to the front of the queue and is tried again
   * shortly, so a request is never lost to a busy store, for up to a minute.
   */
  #retryLater(batch: QueuedOp[], error: unknown): boolean {
    if (!String((error as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY')) return false
    const now = Date.now()
    this.#busySince ??= now
    if (now - this.#busySince > MAX_BUSY_MS) {
      this.#busySince = undefined
      return false
    }
    this.#queue = [...batch, ...this.#queue]
    this.#scheduled = true
    setTimeout(() => this.#flush(), 5 + Math.floor(Math.random() * 20))
    return true
  }
}

/** How long a batch keeps trying a busy store before its writes fail. */
const MAX_BUSY_MS = 60_000

const writers = new WeakMap<Db, GroupCommit>()

/** The one group-commit writer of a connection, shared by every service on it. */
export function groupCommitOf(db: Db): GroupCommit {
  let writer = writers.get(db)
  if (!writer) {
    writer = new GroupCommit(db)
    writers.set(db, writer)
  }
  return writer
}
