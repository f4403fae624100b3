import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { IronError } from '../core/errors.js'
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js'

/** An open SQLite store (better-sqlite3). */
export type SqliteDb = Database.Database

export interface RunResult {
  changes: number
  lastInsertRowid: number | bigint
}

/** A prepared statement, as the repositories use it: better-sqlite3's, or the PostgreSQL store's. */
export interface Statement {
  get(...params: unknown[]): unknown
  all(...params: unknown[]): unknown[]
  run(...params: unknown[]): RunResult
  iterate(...params: unknown[]): IterableIterator<unknown>
  pluck(toggle?: boolean): this
}

// biome-ignore lint/suspicious/noExplicitAny: better-sqlite3's own bound for a transaction's function
type TransactionFn = (...args: any[]) => unknown
/** A transaction function (better-sqlite3's): call it, or `.immediate()` / `.deferred()` it. */
export type Transaction<F extends TransactionFn> = Database.Transaction<F>

/**
 * The store as the repositories and services see it: better-sqlite3's Database (the embedded default), or
 * PostgresDb (src/store/postgres-db.ts), which runs the same statements and transactions on PostgreSQL.
 */
export interface Db {
  prepare(source: string): Statement
  transaction<F extends TransactionFn>(fn: F): Transaction<F>
  readonly inTransaction: boolean
  readonly open: boolean
  readonly name: string
  /** 'postgres' on PostgreSQL; absent on SQLite. */
  readonly dialect?: 'postgres'
  /**
   * PostgreSQL only: inside a transaction, a number that holds while nothing the transaction wrote was
   * rolled back (see PostgresDb.mark); undefined otherwise, and on SQLite.
   */
  readonly mark?: number
  exec(source: string): this
  pragma(source: string, options?: { simple?: boolean }): unknown
  close(): this
}

/**
 * PostgreSQL aborted the transaction because another one conflicted with it (40001) or deadlocked with it
 * (40P01): it is run again whole. Code that catches errors inside a transaction must let these through.
 */
export const isTransactionConflict = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | undefined)?.code
  return code === '40001' || code === '40P01'
}

/** Whether the store is PostgreSQL (else SQLite). */
export const isPostgres = (db: Db): boolean => db.dialect === 'postgres'

/** The statement's text for the store in use, where the two dialects differ. */
export const dialectSql = (db: Db, sqlite: string, postgres: string): string =>
  isPostgres(db) ? postgres : sqlite

/** `PRAGMA application_id` of an iron store: "IRON" in ASCII. Tells our files from other SQLite files. */
export const IRON_APPLICATION_ID = 0x49524f4e

export interface OpenDbOptions {
  /** Open without creating or migrating (doctor, read-only checks). */
  readonly?: boolean
  /** How long a writer waits for another process's lock before giving up, in ms. */
  busyTimeoutMs?: number
  /** Migrations to apply; tests pass their own. */
  migrations?: readonly Migration[]
}

const hintMoveAside = (path: string) =>
  `Move ${path} aside (or restore it from a backup) and run \`iron init\`, or point --db / IRON_DB at another store`

/**
 * Open (and create, and migrate) an iron store: WAL, busy timeout, foreign keys, synchronous=NORMAL
 * (durable against process crashes; WAL keeps readers and one writer from blocking each other).
 * Several processes (gateway, serve, commands) may open the same file at once.
 */
export function openDb(path: string, options: OpenDbOptions = {}): SqliteDb {
  const migrations = options.migrations ?? MIGRATIONS
  if (!options.readonly) {
    ensureDir(path)
    createPrivate(path)
  }
  let db: SqliteDb
  try {
    db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      timeout: options.busyTimeoutMs ?? 5_000,
    })
  } catch (error) {
    throw storeError(path, error)
  }
  try {
    // One read transaction, so that another process migrating the file at this moment is seen either not
    // at all or whole (never its tables without its application id).
    const { applicationId, version, tables } = whileBusy(
      () => db.transaction(() => identify(db)).deferred(),
      options.busyTimeoutMs ?? 5_000,
    )
    const latest = migrations.at(-1)?.version ?? 0
    if (applicationId !== IRON_APPLICATION_ID) {
      if (applicationId !== 0 || version !== 0 || tables > 0) {
        throw new IronError('STORE_FOREIGN', `${path} is a SQLite database, but not an iron store`, {
          hint: hintMoveAside(path),
        })
      }
    }
    if (version > latest) throw tooNew(path, version, latest)
    if (!options.readonly) {
      // Switching a new file to WAL takes an exclusive lock without waiting on the busy handler: when
      // several processes create the store at once, the losers retry.
      if (db.pragma('journal_mode', { simple: true }) !== 'wal')
        whileBusy(() => db.pragma('journal_mode = WAL'), options.busyTimeoutMs ?? 5_000)
      db.pragma('synchronous = NORMAL')
    }
    db.pragma('foreign_keys = ON')
    if (!options.readonly && version < latest) migrate(db, path, migrations)
    return db
  } catch (error) {
    db.close()
    throw storeError(path, error)
  }
}

function identify(db: SqliteDb): { applicationId: number; version: number; tables: number } {
  return {
    applicationId: db.pragma('application_id', { simple: true }) as number,
    version: db.pragma('user_version', { simple: true }) as number,
    tables: db
      .prepare("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
      .pluck()
      .get() as number,
  }
}

/** Run `fn`, retrying for up to `timeoutMs` while SQLite answers busy (for steps its busy handler skips). */
function whileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs
  for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
    try {
      return fn()
    } catch (error) {
      const code = String((error as { code?: string }).code ?? '')
      if (!code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause)
    }
  }
}

/** Apply pending migrations in one IMMEDIATE transaction, re-reading the version under the lock. */
function migrate(db: SqliteDb, path: string, migrations: readonly Migration[]): void {
  const latest = migrations.at(-1)?.version ?? 0
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > latest) throw tooNew(path, version, latest)
    for (const migration of migrations) {
      if (migration.version <= version) continue
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    }
    db.pragma(`application_id = ${IRON_APPLICATION_ID}`)
  }).immediate()
}

export function schemaVersion(db: Db): number {
  if (isPostgres(db))
    return (db.prepare('SELECT max(version) FROM iron_schema').pluck().get() as number | null) ?? 0
  return db.pragma('user_version', { simple: true }) as number
}

function ensureDir(path: string): void {
  const dir = dirname(path)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new IronError(
      'STORE_DIR_UNWRITABLE',
      `Cannot create the data directory ${dir}: ${describeErrno(code, error)}`,
      {
        hint: 'Set IRON_DATA_DIR (or --db) to a directory you can write, or fix its permissions',
      },
    )
  }
}

/**
 * A new store is created readable by its owner only (0600, whatever the umask): it holds the ledger, the
 * audit trail and encrypted provider keys. SQLite gives its -wal and -shm files the store's own mode.
 * An existing file is left as it is (`iron doctor` warns when others can read it).
 */
function createPrivate(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch {
    // It exists (perhaps another process just made it); any other problem is SQLite's to report, just after.
  }
}

const tooNew = (path: string, version: number, latest: number) =>
  new IronError(
    'STORE_TOO_NEW',
    `${path} was written by a newer iron (schema v${version}; this iron knows up to v${latest}) and is left untouched`,
    { hint: 'Upgrade iron (npm install -g iron-cli@latest), or point --db / IRON_DB at another store' },
  )

function storeError(path: string, error: unknown): IronError {
  if (error instanceof IronError) return error
  const code = (error as { code?: string }).code ?? ''
  const message = (error as Error).message
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new IronError(
      'STORE_CORRUPT',
      `${path} is not an iron store: the file is not a SQLite database, or it is damaged`,
      {
        hint: hintMoveAside(path),
      },
    )
  }
  if (
    code === 'SQLITE_CANTOPEN' ||
    code === 'SQLITE_READONLY' ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_IOERR'
  ) {
    return new IronError('STORE_UNAVAILABLE', `Cannot open the store ${path}: ${message}`, {
      hint: 'Check that the file and its directory exist and are writable, or point --db / IRON_DB elsewhere',
    })
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new IronError('STORE_BUSY', `The store ${path} stayed locked by another process`, {
      hint: 'Try again; if it persists, look for a stuck iron process',
    })
  }
  return new IronError('STORE_ERROR', `Cannot open the store ${path}: ${message}`, { cause: error })
}

function describeErrno(code: string | undefined, error: unknown): string {
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'the file system is read-only'
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way of the directory'
  return (error as Error).message
}

export { LATEST_SCHEMA_VERSION }
