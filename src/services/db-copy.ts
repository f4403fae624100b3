import { usageError } from '../core/errors.js'
import { openDb, schemaVersion } from '../store/db.js'
import { pendingSettlements } from '../store/journal.js'
import { storeLocation } from '../store/location.js'
import { LATEST_SCHEMA_VERSION } from '../store/migrations.js'
import { connectPostgres } from '../store/postgres.js'
import { type CopyVerification, copyTables, readSource, verifyCopy } from '../store/postgres-copy.js'
import { migratePostgres } from '../store/postgres-migrate.js'

export interface DbCopyResult {
  /** The SQLite file copied. */
  from: string
  /** The PostgreSQL database as host:port/database (never the user or password). */
  to: string
  /** The PostgreSQL server's version. */
  version: string
  /** The schema version of both stores. */
  schema: number
  /** Rows copied, per table, in the order they were copied. */
  tables: { name: string; rows: number }[]
  verified: CopyVerification
}

/**
 * `iron db copy`: a SQLite store (read-only, at the current schema) into a PostgreSQL database migrated to the
 * same version, in one transaction, then checked on the target (row counts, ledger balances, audit chain).
 * Secrets are copied as the bytes they are (sealed provider keys, token hashes): never opened, never printed.
 */
export async function copyStore(from: string, to: string): Promise<DbCopyResult> {
  const source = storeLocation(from)
  const target = storeLocation(to)
  if (source.kind !== 'sqlite')
    throw usageError(
      'COPY_SOURCE_INVALID',
      `--from must be a SQLite store (a file), not ${source.safeUrl}`,
      'Give the path of the iron.db to copy, e.g. --from ~/.local/share/iron/iron.db',
    )
  if (target.kind !== 'postgres')
    throw usageError(
      'COPY_TARGET_INVALID',
      `--to must be a PostgreSQL URL, not ${target.path}`,
      'Give the database as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE',
    )

  // A gateway that died leaves what it answered in its journal until an iron process opens the store.
  const pending = pendingSettlements(source.path)
  if (pending)
    throw usageError(
      'STORE_PENDING',
      pending,
      `Run any iron command on it first (e.g. iron audit verify --db ${source.path}), then copy again`,
    )
  const db = openDb(source.path, { readonly: true })
  try {
    const version = schemaVersion(db)
    if (version < LATEST_SCHEMA_VERSION)
      throw usageError(
        'STORE_NOT_CURRENT',
        `${source.path} is at schema v${version}; this iron copies stores at v${LATEST_SCHEMA_VERSION}`,
        `Run: iron db migrate --db ${source.path}, then copy again`,
      )
    const pg = await connectPostgres(target.url, target.safeUrl)
    try {
      const label = `the PostgreSQL database ${pg.label}`
      await migratePostgres(pg.sql, { label })
      // One read transaction: the counts, the rows copied and the audit head are one snapshot of the file.
      db.exec('BEGIN')
      let snapshot: ReturnType<typeof readSource>
      try {
        snapshot = readSource(db)
        await copyTables(db, pg.sql, snapshot, label)
      } finally {
        db.exec('COMMIT')
      }
      const verified = await verifyCopy(pg.sql, snapshot)
      return {
        from: source.path,
        to: pg.label,
        version: pg.serverVersion,
        schema: version,
        tables: snapshot.tables.map(({ name, rows }) => ({ name, rows })),
        verified,
      }
    } finally {
      await pg.close()
    }
  } finally {
    db.close()
  }
}
