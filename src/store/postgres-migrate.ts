import type { Sql, TransactionSql } from 'postgres'
import { IronError, usageError } from '../core/errors.js'
import { MIGRATIONS, type StoreMigration } from './migrations.js'

/**
 * Schema migrations of a PostgreSQL store, from the one list of versions both stores share
 * (src/store/migrations.ts). Each applied version is a row of `iron_schema`, in the connection's current
 * schema (the first of its search_path), beside the store's tables.
 */

/**
 * The key of the advisory lock that serializes migrations, as `pg_advisory_xact_lock(class, object)`:
 * the class is "IRON" in ASCII (as SQLite's application_id), the object 1. Later iron locks use the same
 * class with another object.
 */
export const IRON_LOCK_CLASS = 0x49524f4e
export const MIGRATION_LOCK = 1

export interface MigratePostgresOptions {
  /** Stop at this version (default: the newest this build knows). A database already past it is left as it is. */
  target?: number
  /** Migrations to apply; tests pass their own. */
  migrations?: readonly Pick<StoreMigration, 'version' | 'name' | 'postgres'>[]
  /** How the database is named in errors (default: host:port/database from the client's options, no password). */
  label?: string
}

export interface MigratePostgresResult {
  /** The database's version before (0: a database iron has not migrated). */
  from: number
  /** Its version after. */
  to: number
  /** The versions this call applied, in order: none when another process applied them first. */
  applied: number[]
}

type Queryable = Sql | TransactionSql

/**
 * Apply the pending versions in order, each in a transaction of its own under an advisory lock, so that
 * several replicas starting together apply each version once (the others wait, then find it applied).
 * A database whose version is newer than this build knows is refused (`STORE_TOO_NEW`) and left untouched.
 * A failing version is rolled back whole (`STORE_MIGRATION_FAILED`); the versions before it stay applied.
 */
export async function migratePostgres(
  sql: Sql,
  options: MigratePostgresOptions = {},
): Promise<MigratePostgresResult> {
  const migrations = options.migrations ?? MIGRATIONS
  const label = options.label ?? whereIs(sql)
  const latest = migrations.at(-1)?.version ?? 0
  const target = options.target ?? latest
  if (!Number.isInteger(target) || target < 0 || target > latest) {
    throw usageError(
      'SCHEMA_VERSION_UNKNOWN',
      `No schema v${target} to migrate to: this iron knows v1 to v${latest}`,
      `Leave the target out to migrate to v${latest}`,
    )
  }

  // Without the lock first: a database that is up to date (the usual start of a replica) needs no lock and
  // no right to create tables, and one that is too new is refused before anything is taken.
  const from = await postgresSchemaVersion(sql)
  if (from > latest) throw tooNew(label, from, latest)
  const applied: number[] = []
  if (from >= target) return { from, to: from, applied }

  for (;;) {
    // READ COMMITTED whatever the role's default: each statement after the lock must see what the
    // process that held it before committed.
    const step = await sql.begin('isolation level read committed', async (tx) => {
      await tx.unsafe(`SELECT pg_advisory_xact_lock(${IRON_LOCK_CLASS}, ${MIGRATION_LOCK})`)
      const current = await postgresSchemaVersion(tx)
      if (current > latest) throw tooNew(label, current, latest)
      const next = migrations.find((m) => m.version > current)
      if (!next || next.version > target) return { current, done: true }
      try {
        // Under the lock, so that two first migrations do not both create it.
        if (!(await hasSchemaTable(tx))) await tx.unsafe(CREATE_SCHEMA_TABLE)
        await tx.unsafe(next.postgres).simple()
      } catch (error) {
        throw failed(label, next, error)
      }
      await tx`
        INSERT INTO iron_schema (version, name, applied_at) VALUES (${next.version}, ${next.name}, ${Date.now()})`
      return { current: next.version, done: false }
    })
    if (step.done) return { from, to: step.current, applied }
    applied.push(step.current)
  }
}

/** The version of the schema a PostgreSQL database is at: 0 when iron has not migrated it. */
export async function postgresSchemaVersion(sql: Queryable): Promise<number> {
  if (!(await hasSchemaTable(sql))) return 0
  const [head] = await sql<{ version: number | null }[]>`SELECT max(version) AS version FROM iron_schema`
  return head?.version ?? 0
}

/** The versions applied, one row each, in the connection's current schema. */
const CREATE_SCHEMA_TABLE = `
  CREATE TABLE iron_schema (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at bigint NOT NULL
  )`

/**
 * Whether `iron_schema` exists in the current schema. Read from pg_class with the statement's snapshot,
 * not through `to_regclass`: a backend's cache of names may still say "no such table" after another
 * process created it (it is refreshed when a relation is locked, not when an advisory lock is taken).
 */
async function hasSchemaTable(sql: Queryable): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM pg_catalog.pg_class
      WHERE relname = 'iron_schema' AND relnamespace = current_schema()::regnamespace
    ) AS found`
  return row?.found ?? false
}

/** host:port/database, never the password. */
function whereIs(sql: Sql): string {
  const { host, port, database } = sql.options
  return `the PostgreSQL database ${host.map((h, i) => `${h}:${port[i] ?? port[0]}`).join(',')}/${database ?? ''}`
}

const tooNew = (label: string, version: number, latest: number) =>
  new IronError(
    'STORE_TOO_NEW',
    `${label} was migrated by a newer iron (schema v${version}; this iron knows up to v${latest}) and is left untouched`,
    {
      hint: 'Upgrade iron (npm install -g iron-cli@latest) on every replica, or point --db / IRON_DB at another database',
    },
  )

function failed(
  label: string,
  migration: Pick<StoreMigration, 'version' | 'name'>,
  error: unknown,
): IronError {
  const code = (error as { code?: string }).code
  const message = (error as Error).message
  const hint =
    code === '42501'
      ? 'Run the migration as a role that may create tables and functions in the schema (its owner), then start iron serve'
      : 'Nothing of this version was applied; fix the cause and migrate again'
  return new IronError(
    'STORE_MIGRATION_FAILED',
    `Migrating ${label} to schema v${migration.version} (${migration.name}) failed: ${message}`,
    { hint, cause: error, details: code ? { sqlstate: code } : undefined },
  )
}
