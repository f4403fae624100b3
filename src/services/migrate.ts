import { existsSync } from 'node:fs'
import { openDb, schemaVersion } from '../store/db.js'
import type { StoreLocation } from '../store/location.js'
import { MIGRATIONS } from '../store/migrations.js'
import { connectPostgres } from '../store/postgres.js'
import { migratePostgres } from '../store/postgres-migrate.js'

export interface MigrateResult {
  store: 'sqlite' | 'postgresql'
  /** The SQLite file, or the PostgreSQL database as host:port/database (never the user or password). */
  location: string
  /** SQLite's library version, or the PostgreSQL server's. */
  version: string
  /** The schema version before (0: a new store), and after. */
  from: number
  to: number
  /** The versions applied, in order (none when the store was current). */
  applied: number[]
}

/** `iron db migrate`: bring the store's schema to the version this iron knows, SQLite or PostgreSQL. */
export async function migrateStore(store: StoreLocation): Promise<MigrateResult> {
  return store.kind === 'sqlite' ? migrateSqlite(store.path) : migrateOnPostgres(store.url, store.safeUrl)
}

function migrateSqlite(path: string): MigrateResult {
  // Read before opening for writing: openDb migrates as it opens (and refuses a too-new store either way).
  let from = 0
  if (existsSync(path)) {
    const before = openDb(path, { readonly: true })
    try {
      from = schemaVersion(before)
    } finally {
      before.close()
    }
  }
  const db = openDb(path)
  try {
    const to = schemaVersion(db)
    const version = db.prepare('SELECT sqlite_version()').pluck().get() as string
    const applied = MIGRATIONS.filter((m) => m.version > from && m.version <= to).map((m) => m.version)
    return { store: 'sqlite', location: path, version, from, to, applied }
  } finally {
    db.close()
  }
}

async function migrateOnPostgres(url: string, safeUrl: string): Promise<MigrateResult> {
  const pg = await connectPostgres(url, safeUrl)
  try {
    const { from, to, applied } = await migratePostgres(pg.sql, {
      label: `the PostgreSQL database ${pg.label}`,
    })
    return { store: 'postgresql', location: pg.label, version: pg.serverVersion, from, to, applied }
  } finally {
    await pg.close()
  }
}
