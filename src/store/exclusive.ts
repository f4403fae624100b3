import Database from 'better-sqlite3'

/**
 * Hold the SQLite file at `path` for as long as this connection lives, or undefined when a running process
 * already holds it. Exclusive locking mode keeps the lock the first write transaction takes until the
 * connection closes, and the kernel drops it with the process whatever ends it (kill -9 included): a file
 * nobody holds is one whose owner is gone.
 */
export function holdExclusively(path: string): Database.Database | undefined {
  const db = new Database(path, { timeout: 0 })
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    db.pragma('journal_mode = WAL')
    db.exec('BEGIN IMMEDIATE; COMMIT')
    return db
  } catch (error) {
    db.close()
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) return undefined
    throw error
  }
}
