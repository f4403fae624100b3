import type { Db, Statement } from './db.js'

/** A runtime that holds budget (leases, reservations), kept alive by its own heartbeat. */
export interface HolderRow {
  holder: string
  kind: 'gateway'
  host: string
  pid: number
  started_at: number
  renewed_at: number
  expires_at: number
  ended_at: number | null
  end_reason: 'stopped' | 'expired' | null
}

const COLUMNS = 'holder, kind, host, pid, started_at, renewed_at, expires_at, ended_at, end_reason'

export class HoldersRepo {
  readonly #insert: Statement
  readonly #renew: Statement
  readonly #end: Statement
  readonly #expired: Statement
  readonly #byId: Statement

  constructor(readonly db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO holders (${COLUMNS}) VALUES (@holder, @kind, @host, @pid, @started_at, @renewed_at, @expires_at, NULL, NULL)
        ON CONFLICT (holder) DO UPDATE SET renewed_at = excluded.renewed_at, expires_at = excluded.expires_at,
        ended_at = NULL, end_reason = NULL`,
    )
    this.#renew = db.prepare(
      'UPDATE holders SET renewed_at = ?, expires_at = ? WHERE holder = ? AND ended_at IS NULL',
    )
    this.#end = db.prepare(
      'UPDATE holders SET ended_at = ?, end_reason = ? WHERE holder = ? AND ended_at IS NULL',
    )
    this.#expired = db
      .prepare('SELECT holder FROM holders WHERE ended_at IS NULL AND expires_at <= ?')
      .pluck()
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM holders WHERE holder = ?`)
  }

  /** Register a holder, or bring one back to life under the same name. */
  upsert(row: Omit<HolderRow, 'ended_at' | 'end_reason'>): void {
    this.#insert.run(row)
  }

  /** Extend a live holder's heartbeat; false when it has ended (stopped, or expired and reclaimed). */
  renew(holder: string, now: number, expiresAt: number): boolean {
    return this.#renew.run(now, expiresAt, holder).changes === 1
  }

  end(holder: string, now: number, reason: 'stopped' | 'expired'): boolean {
    return this.#end.run(now, reason, holder).changes === 1
  }

  /** Live holders whose heartbeat has run out (an index search on a small table). */
  expired(now: number): string[] {
    return this.#expired.all(now) as string[]
  }

  get(holder: string): HolderRow | undefined {
    return this.#byId.get(holder) as HolderRow | undefined
  }
}
