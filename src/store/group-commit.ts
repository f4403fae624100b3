import type { Transaction } from 'better-sqlite3'
import type { Db } from './db.js'

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

  constructor(private readonly db: Db) {
    this.#run = db.transaction((fn: () => unknown) => fn())
  }

  /** Run `op` inside the next group transaction. */
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
    if (batch.length === 1) {
      // Alone in its transaction, an op needs no savepoint: if it fails, the transaction rolls back.
      const item = batch[0]!
      let value: unknown
      try {
        value = this.#run.immediate(item.op)
      } catch (error) {
        item.reject(error)
        return
      }
      item.resolve(value)
      return
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    try {
      this.#run.immediate(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.#run(item.op) })
          } catch (error) {
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (error) {
      for (const item of batch) item.reject(error)
      return
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(outcome.error)
    })
  }
}

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
