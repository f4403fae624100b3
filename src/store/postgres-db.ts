import { IronError } from '../core/errors.js'
import { type Db, isTransactionConflict, type RunResult, type Statement, type Transaction } from './db.js'
import { LATEST_SCHEMA_VERSION } from './migrations.js'
import { connectError } from './postgres.js'
import {
  type BridgeRequest,
  PostgresBridge,
  PostgresStoreError,
  type QueryAnswer,
} from './postgres-bridge.js'

/**
 * The store's `Db` on PostgreSQL: the repositories' statements (written with `?` or `@name` parameters, as
 * for SQLite) are numbered `$1…` here and sent through a synchronous bridge, and rows come back as SQLite
 * gives them (integers as numbers, booleans as 0/1, bytea as a Buffer).
 *
 * Transactions: a write transaction (`.immediate()`, the one every service uses) is SERIALIZABLE, so that
 * the read-then-write of a ledger draw, a lease grant or an audit append is as safe across replicas as under
 * SQLite's single write lock; when PostgreSQL finds two of them conflicting (40001) or deadlocked (40P01)
 * it aborts one, and it is run again from the start, up to RETRIES times. A nested transaction is a
 * savepoint. `.deferred()` is a REPEATABLE READ snapshot.
 */

const RETRIES = 30

export interface PostgresDbOptions {
  url: string
  /** How the database is named in messages: host:port/database, never the password. */
  label: string
  statementTimeoutMs?: number
  lockTimeoutMs?: number
  connectTimeoutS?: number
}

export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const
  readonly name: string
  readonly #bridge: PostgresBridge
  #depth = 0
  #open = true
  /** Writes of the current transaction not sent yet (see write). */
  #pending: Pending[] = []
  /** Moves on at each transaction and at anything rolled back (see mark). */
  #generation = 0

  constructor(options: PostgresDbOptions) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000
    const connectTimeoutS = options.connectTimeoutS ?? 5
    this.name = options.label
    this.#bridge = new PostgresBridge({
      url: options.url,
      connectTimeoutS,
      callTimeoutMs: statementTimeoutMs + connectTimeoutS * 1_000 + 5_000,
      connection: {
        application_name: 'iron',
        statement_timeout: statementTimeoutMs,
        lock_timeout: options.lockTimeoutMs ?? 10_000,
        // A replica that stops in the middle of a transaction does not keep its locks for long.
        idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      },
    })
  }

  get inTransaction(): boolean {
    return this.#depth > 0
  }

  get open(): boolean {
    return this.#open
  }

  /**
   * Inside a transaction, a number that stays the same for as long as what this transaction wrote stands:
   * it changes when a transaction begins or runs again, and when anything (a savepoint too) is rolled back.
   * What a repository learnt from its own writes (the audit chain's head) holds while the mark does.
   * Undefined outside a transaction.
   */
  get mark(): number | undefined {
    return this.#depth > 0 ? this.#generation : undefined
  }

  prepare(source: string): Statement {
    return new PostgresStatement(this, toPostgres(source))
  }

  exec(source: string): this {
    this.#flush()
    this.#call({ op: 'exec', text: source, depth: this.#depth })
    return this
  }

  pragma(source: string): never {
    throw new Error(`PRAGMA ${source} is SQLite's; this store is PostgreSQL`)
  }

  /** A statement whose rows are wanted: sent now, after the writes waiting in the transaction (one call). */
  read(sql: PostgresSql, args: unknown[]): QueryAnswer {
    return this.#send([...this.#take(), { text: sql.text, params: bind(sql, args), count: undefined }]).at(
      -1,
    )!
  }

  /**
   * A statement run for its effect. Inside a transaction it waits, to go with the next statement that needs
   * an answer (a read, the next savepoint, the commit), in one round trip: a write's failure then fails the
   * transaction there, before it commits, as it would have here. Its count of changed rows, when asked
   * for, sends it at once. Outside a transaction it runs now.
   */
  write(sql: PostgresSql, args: unknown[]): RunResult {
    const pending: Pending = { text: sql.text, params: bind(sql, args), count: undefined }
    if (this.#depth === 0) {
      this.#send([pending])
      return { changes: pending.count ?? 0, lastInsertRowid: 0 }
    }
    this.#pending.push(pending)
    const flush = () => this.#flush()
    return {
      get changes() {
        if (pending.count === undefined) flush()
        return pending.count ?? 0
      },
      lastInsertRowid: 0,
    }
  }

  /** Send these statements in one call; each pending write learns its count. */
  #send(queries: Pending[]): QueryAnswer[] {
    if (queries.length === 0) return []
    const answers = this.#call({ op: 'query', queries: wire(queries), depth: this.#depth }) as QueryAnswer[]
    counted(queries, answers)
    return answers
  }

  #flush(): void {
    this.#send(this.#take())
  }

  /** The writes waiting, handed over to go out (with a read, a savepoint or the commit). */
  #take(): Pending[] {
    const taken = this.#pending
    this.#pending = []
    return taken
  }

  /**
   * One call on the bridge (refused once the store is closed, as better-sqlite3 does). A database that cannot be reached, or that stopped the statement (a timeout, a
   * lock held too long, a server shutting down), is an IronError a person (or a client retrying on another
   * replica) can act on: STORE_UNAVAILABLE or STORE_BUSY, which iron serve answers with 503.
   */
  #call(request: BridgeRequest): unknown {
    if (!this.#open) throw new TypeError('The database connection is not open')
    try {
      return this.#bridge.call(request)
    } catch (error) {
      throw storeFailure(error, this.name)
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: as Db's (better-sqlite3's bound)
  transaction<F extends (...args: any[]) => unknown>(fn: F): Transaction<F> {
    const run =
      (mode: string) =>
      (...args: Parameters<F>): ReturnType<F> =>
        this.#transaction(mode, () => fn(...args) as ReturnType<F>)
    return Object.assign(run('isolation level serializable'), {
      default: run('isolation level serializable'),
      immediate: run('isolation level serializable'),
      exclusive: run('isolation level serializable'),
      deferred: run('isolation level repeatable read'),
    }) as unknown as Transaction<F>
  }

  close(): this {
    if (!this.#open) return this
    this.#open = false
    this.#bridge.close()
    return this
  }

  #transaction<T>(mode: string, body: () => T): T {
    // Inside a transaction: a savepoint, undone alone if the body throws; the outermost one retries.
    if (this.#depth > 0) return this.#once(mode, body)
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#once(mode, body)
      } catch (error) {
        if (!isTransactionConflict(error)) throw error
        if (attempt >= RETRIES) {
          throw new IronError(
            'STORE_BUSY',
            `The PostgreSQL database ${this.name} is too busy: a transaction conflicted ${RETRIES} times in a row`,
            {
              hint: 'Try again in a moment',
              cause: error,
            },
          )
        }
        // Apart at random, so that the two that conflicted do not meet again at once.
        pause(Math.min(50, attempt * 2) * Math.random())
      }
    }
  }

  #once<T>(mode: string, body: () => T): T {
    // A savepoint's begin carries the writes waiting in the transaction around it.
    const before = this.#take()
    if (this.#depth === 0) this.#generation++
    counted(
      before,
      this.#call({ op: 'begin', mode, queries: wire(before), depth: this.#depth }) as QueryAnswer[],
    )
    this.#depth++
    let result: T
    try {
      result = body()
    } catch (error) {
      // Writes not sent yet are dropped with the rest of what is rolled back.
      this.#pending = []
      this.#generation++
      this.#depth--
      try {
        this.#bridge.call({ op: 'rollback' })
      } catch {
        // The connection is gone: the server rolled the transaction back itself.
      }
      throw error
    }
    this.#depth--
    // The outermost commits; a savepoint is released into the transaction around it. The writes still
    // waiting go first, in the same call; if one fails, the worker has rolled back (nothing to undo here).
    const last = this.#take()
    let answers: QueryAnswer[]
    try {
      answers = this.#call({ op: 'commit', queries: wire(last), depth: this.#depth + 1 }) as QueryAnswer[]
    } catch (error) {
      this.#generation++
      throw this.#depth === 0 ? commitFailure(error, this.name) : error
    }
    counted(last, answers)
    return result
  }
}

class PostgresStatement implements Statement {
  #pluck = false
  constructor(
    private readonly db: PostgresDb,
    private readonly sql: PostgresSql,
  ) {}

  pluck(toggle = true): this {
    this.#pluck = toggle
    return this
  }

  get(...args: unknown[]): unknown {
    const answer = this.db.read(this.sql, args)
    const row = answer.rows[0]
    return row === undefined ? undefined : this.#shape(answer.columns, row)
  }

  all(...args: unknown[]): unknown[] {
    const answer = this.db.read(this.sql, args)
    return answer.rows.map((row) => this.#shape(answer.columns, row))
  }

  *iterate(...args: unknown[]): IterableIterator<unknown> {
    yield* this.all(...args)
  }

  run(...args: unknown[]): RunResult {
    return this.db.write(this.sql, args)
  }

  #shape(columns: string[], row: unknown[]): unknown {
    if (this.#pluck) return value(row[0])
    const shaped: Record<string, unknown> = {}
    for (let i = 0; i < columns.length; i++) shaped[columns[i]!] = value(row[i])
    return shaped
  }
}

/** A Uint8Array (a Buffer that crossed the bridge) is a Buffer again, as better-sqlite3 gives a BLOB. */
const value = (v: unknown): unknown =>
  v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v

/** The statements as they cross the bridge. */
const wire = (queries: Pending[]) => queries.map(({ text, params }) => ({ text, params }))

/** Each write sent learns how many rows it changed. */
function counted(queries: Pending[], answers: QueryAnswer[] | null): void {
  queries.forEach((q, i) => {
    q.count = answers?.[i]?.count ?? 0
  })
}

/**
 * The connection failed while the transaction committed: it may have been made, or not. Said so, and not as
 * a plain "try again", so that nobody repeats a change that may already stand.
 */
function commitFailure(error: unknown, label: string): unknown {
  if (!(error instanceof IronError) || error.code !== 'STORE_UNAVAILABLE') return error
  // Refused before it was sent: the transaction's connection was already gone, and nothing of it committed.
  if (error.details?.code === 'BRIDGE_OUT_OF_STEP') return error
  return new IronError(
    'STORE_COMMIT_UNKNOWN',
    `The PostgreSQL database ${label} stopped answering while a change was being committed: it may or may not have been made`,
    { hint: 'Check whether the change stands before making it again', cause: error.cause },
  )
}

interface Pending {
  text: string
  params: unknown[]
  /** Rows it changed, once it ran. */
  count: number | undefined
}

export interface PostgresSql {
  text: string
  /** The names of `@name` parameters, in the order of their numbers; empty for `?` parameters. */
  names: string[]
}

const translated = new Map<string, PostgresSql>()

/**
 * A statement written for SQLite, with PostgreSQL's numbered parameters: each `?` becomes `$1`, `$2`, …,
 * in order, and each `@name` one number for all its uses. Quoted strings and names and comments are left
 * alone. (PostgreSQL's jsonb `?` operators cannot be written: use jsonb_exists().)
 */
export function toPostgres(source: string): PostgresSql {
  const known = translated.get(source)
  if (known) return known
  let text = ''
  let n = 0
  const names: string[] = []
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!
    const comment = c === '-' && source[i + 1] === '-' ? '\n' : c === '/' && source[i + 1] === '*' ? '*/' : ''
    if (comment) {
      const end = source.indexOf(comment, i + 2)
      const stop = end < 0 ? source.length : end + comment.length
      text += source.slice(i, stop)
      i = stop - 1
    } else if (c === '$' && /\d/.test(source[i + 1] ?? '')) {
      throw new Error(`Write statements with ? or @name parameters, not $n: ${source.slice(0, 80)}`)
    } else if (c === "'" || c === '"') {
      const end = source.indexOf(c, i + 1)
      const stop = end < 0 ? source.length : end + 1
      text += source.slice(i, stop)
      i = stop - 1
    } else if (c === '?') {
      text += `$${++n}`
    } else if (c === '@' && /[A-Za-z_]/.test(source[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i + 1))![0]
      let index = names.indexOf(name)
      if (index < 0) index = names.push(name) - 1
      text += `$${index + 1}`
      i += name.length
    } else {
      text += c
    }
  }
  if (n > 0 && names.length > 0)
    throw new Error(`Write a statement with ? or with @name parameters, not both: ${source.slice(0, 80)}`)
  const sql = { text, names }
  translated.set(source, sql)
  return sql
}

/** The parameters as better-sqlite3 takes them (values, arrays of values, or one object of named values). */
function bind(sql: PostgresSql, args: unknown[]): unknown[] {
  if (sql.names.length > 0) {
    const named = (args[0] ?? {}) as Record<string, unknown>
    return sql.names.map((name) => param(named[name]))
  }
  const params: unknown[] = []
  for (const arg of args) {
    if (Array.isArray(arg)) for (const item of arg) params.push(param(item))
    else params.push(param(arg))
  }
  return params
}

const param = (v: unknown): unknown => (v === undefined ? null : typeof v === 'bigint' ? String(v) : v)

const sleeper = new Int32Array(new SharedArrayBuffer(4))
const pause = (ms: number) => Atomics.wait(sleeper, 0, 0, Math.max(1, Math.round(ms)))

// The client's own codes too: a transaction whose connection went away is UNSAFE_TRANSACTION ("has ended").
const CONNECTION =
  /^(08|57P0[1-5]|53300|ECONN|ETIMEDOUT|EHOST|ENET|EAI_AGAIN|ENOTFOUND|CONNECT|CONNECTION|BRIDGE|UNSAFE_TRANSACTION)/
/** Statement timeout, lock timeout, idle transaction ended by the server. */
const STOPPED = /^(57014|55P03|25P03|QUERY_TIMEOUT)$/

/** What a failed call means for people: the database is unreachable or busy; anything else as it is. */
function storeFailure(error: unknown, label: string): unknown {
  if (!(error instanceof PostgresStoreError)) return error
  if (CONNECTION.test(error.code)) {
    return new IronError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL database ${label} did not answer: ${error.message}`,
      {
        hint: 'Try again; if it persists, check that PostgreSQL is running and reachable',
        cause: error,
        details: { code: error.code },
      },
    )
  }
  if (STOPPED.test(error.code)) {
    return new IronError(
      'STORE_BUSY',
      `The PostgreSQL database ${label} stopped a statement: ${error.message}`,
      {
        hint: 'Try again in a moment',
        cause: error,
        details: { sqlstate: error.code },
      },
    )
  }
  return error
}

/**
 * Open the PostgreSQL store at `url` for the services: reachable, and migrated to exactly the schema this
 * build knows. A database behind is refused with the command that migrates it (the server's role need not
 * have the right to change the schema); one ahead is refused as too new.
 */
export function openPostgres(url: string, safeUrl: string, latest = LATEST_SCHEMA_VERSION): PostgresDb {
  const db = new PostgresDb({ url, label: safeUrl })
  try {
    let version = 0
    try {
      version = (db.prepare('SELECT max(version) FROM iron_schema').pluck().get() as number | null) ?? 0
    } catch (error) {
      if ((error as { code?: unknown }).code !== '42P01') throw error
    }
    if (version > latest) {
      throw new IronError(
        'STORE_TOO_NEW',
        `The PostgreSQL database ${safeUrl} was migrated by a newer iron (schema v${version}; this iron knows up to v${latest})`,
        {
          hint: 'Upgrade iron (npm install -g iron-cli@latest) on every replica, or point --db / IRON_DB at another database',
        },
      )
    }
    if (version < latest) {
      throw new IronError(
        'STORE_NOT_MIGRATED',
        `The PostgreSQL database ${safeUrl} is at schema v${version}; this iron needs v${latest}`,
        {
          hint: `Migrate it first: iron db migrate --db '${safeUrl}' (or start iron serve with --migrate), as a role that may create tables`,
        },
      )
    }
    return db
  } catch (error) {
    try {
      db.close()
    } catch {
      // Closing a connection that never opened.
    }
    // Said as `iron db migrate` and `iron doctor` say it (unreachable, login refused, no such database).
    const cause = error instanceof IronError && error.code === 'STORE_UNAVAILABLE' ? error.cause : error
    if (cause instanceof PostgresStoreError) throw connectError(cause, safeUrl, safeUrl)
    throw error
  }
}
