import type { Db, Statement } from './db.js'

export type RemoteLeaseCloseReason =
  | 'returned'
  | 'expired'
  | 'token_revoked'
  | 'agent_suspended'
  | 'agent_deleted'
  | 'limit_changed'

/** A lease lent to a team gateway over the lease protocol (its money is in the ledger). */
export interface RemoteLeaseRow {
  lease_id: string
  agent_id: string
  token_id: string
  runtime_id: string
  runtime_version: string
  host: string | null
  metered_only: 0 | 1
  counted_at: number
  limit_micros: number | null
  period_end: number | null
  granted_micros: number
  /** What reports' draws took from the lease (the rest of their cost came from the budget's free part). */
  drawn_micros: number
  reported_micros: number
  returned_micros: number
  return_spent_micros: number | null
  created_at: number
  renewed_at: number
  expires_at: number
  closed_at: number | null
  close_reason: RemoteLeaseCloseReason | null
  /** SHA-256 of the key the gateway may also report and return it with (its outbox keeps the key). */
  report_key_hash: string | null
}

/** What the lease protocol needs of an IC token. */
export interface LeaseToken {
  id: string
  agent_id: string
  token_hash: string
  expires_at: number | null
  revoked_at: number | null
  agent_name: string
}

const COLUMNS =
  'lease_id, agent_id, token_id, runtime_id, runtime_version, host, metered_only, counted_at, limit_micros, period_end, granted_micros, reported_micros, returned_micros, return_spent_micros, created_at, renewed_at, expires_at, closed_at, close_reason, report_key_hash, drawn_micros'

/** remote_leases and reported_requests: written by `iron serve`'s lease protocol, in its transactions. */
export class RemoteLeasesRepo {
  readonly #insert: Statement
  readonly #get: Statement
  readonly #openFor: Statement
  readonly #expired: Statement
  readonly #renew: Statement
  readonly #granted: Statement
  readonly #reported: Statement
  readonly #returned: Statement
  readonly #close: Statement
  readonly #claim: Statement
  readonly #token: Statement
  readonly #openCount: Statement
  readonly #tokenAgent: Statement
  readonly #reportKey: Statement
  readonly #addToken: Statement
  readonly #deadToken: Statement

  constructor(readonly db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO remote_leases (${COLUMNS}) VALUES (@lease_id, @agent_id, @token_id, @runtime_id, @runtime_version,
        @host, @metered_only, @counted_at, @limit_micros, @period_end, @granted_micros, 0, 0, NULL, @created_at,
        @renewed_at, @expires_at, NULL, NULL, NULL, 0)`,
    )
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM remote_leases WHERE lease_id = ?`)
    this.#openFor = db.prepare(
      `SELECT ${COLUMNS} FROM remote_leases WHERE agent_id = ? AND runtime_id = ? AND closed_at IS NULL`,
    )
    this.#expired = db
      .prepare('SELECT lease_id FROM remote_leases WHERE closed_at IS NULL AND expires_at <= ? LIMIT ?')
      .pluck()
    this.#renew = db.prepare(
      'UPDATE remote_leases SET renewed_at = ?, expires_at = ? WHERE lease_id = ? AND closed_at IS NULL',
    )
    this.#granted = db.prepare(
      'UPDATE remote_leases SET granted_micros = granted_micros + ? WHERE lease_id = ?',
    )
    this.#reported = db.prepare(
      'UPDATE remote_leases SET reported_micros = reported_micros + ?, drawn_micros = drawn_micros + ? WHERE lease_id = ?',
    )
    this.#token = db.prepare(
      `SELECT t.id, t.agent_id, t.token_hash, t.expires_at, t.revoked_at, a.name AS agent_name
        FROM ic_tokens t JOIN agents a ON a.id = t.agent_id WHERE t.token_hash = ?`,
    )
    this.#tokenAgent = db.prepare('SELECT agent_id FROM ic_tokens WHERE id = ?').pluck()
    this.#openCount = db
      .prepare('SELECT count(*) FROM remote_leases WHERE agent_id = ? AND closed_at IS NULL')
      .pluck()
    this.#returned = db.prepare(
      'UPDATE remote_leases SET returned_micros = returned_micros + ?, return_spent_micros = ? WHERE lease_id = ?',
    )
    this.#close = db.prepare(
      `UPDATE remote_leases SET closed_at = ?, close_reason = ?, returned_micros = returned_micros + ?
        WHERE lease_id = ? AND closed_at IS NULL`,
    )
    this.#reportKey = db.prepare('UPDATE remote_leases SET report_key_hash = ? WHERE lease_id = ?')
    this.#addToken = db.prepare(
      'INSERT INTO remote_lease_tokens (lease_id, token_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
    )
    this.#deadToken = db
      .prepare(
        `SELECT 1 FROM remote_lease_tokens l JOIN ic_tokens t ON t.id = l.token_id WHERE l.lease_id = ?
          AND (t.revoked_at IS NOT NULL OR (t.expires_at IS NOT NULL AND t.expires_at <= ?)) LIMIT 1`,
      )
      .pluck()
    this.#claim = db.prepare(
      'INSERT INTO reported_requests (request_id, lease_id, charged_micros, reported_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    )
  }

  insert(
    row: Omit<
      RemoteLeaseRow,
      | 'reported_micros'
      | 'returned_micros'
      | 'return_spent_micros'
      | 'closed_at'
      | 'close_reason'
      | 'report_key_hash'
      | 'drawn_micros'
    >,
  ): void {
    this.#insert.run(row)
  }

  get(leaseId: string): RemoteLeaseRow | undefined {
    return this.#get.get(leaseId) as RemoteLeaseRow | undefined
  }

  /** The open lease of an agent held by a gateway, if any (at most one: a unique index). */
  openFor(agentId: string, runtimeId: string): RemoteLeaseRow | undefined {
    return this.#openFor.get(agentId, runtimeId) as RemoteLeaseRow | undefined
  }

  /** How many leases of the agent are open (an index search on remote_leases_holder). */
  openCount(agentId: string): number {
    return this.#openCount.get(agentId) as number
  }

  /** Open leases whose holder stopped renewing them by `now` (an index search; at most `limit`). */
  expired(now: number, limit: number): string[] {
    return this.#expired.all(now, limit) as string[]
  }

  renew(leaseId: string, now: number, expiresAt: number): void {
    this.#renew.run(now, expiresAt, leaseId)
  }

  addGranted(leaseId: string, micros: number): void {
    if (micros !== 0) this.#granted.run(micros, leaseId)
  }

  /** A report charged `reported` in all, of which `drawn` came from the lease. */
  addReported(leaseId: string, reported: number, drawn: number): void {
    if (reported !== 0 || drawn !== 0) this.#reported.run(reported, drawn, leaseId)
  }

  /** An IC token by the hash of its secret, with its agent's name. */
  tokenByHash(hash: string): LeaseToken | undefined {
    return this.#token.get(hash) as LeaseToken | undefined
  }

  /** The agent an IC token (by id) belongs to. */
  tokenAgent(tokenId: string): string | undefined {
    return this.#tokenAgent.get(tokenId) as string | undefined
  }

  /** Part of an open lease went back; the gateway said it had spent `spent` (held until reported). */
  returnedPart(leaseId: string, micros: number, spent: number): void {
    this.#returned.run(micros, spent, leaseId)
  }

  close(leaseId: string, now: number, reason: RemoteLeaseCloseReason, returned: number): boolean {
    return this.#close.run(now, reason, returned, leaseId).changes === 1
  }

  /** The newest handshake's report key (its hash) is the one the lease answers to. */
  setReportKey(leaseId: string, hash: string): void {
    this.#reportKey.run(hash, leaseId)
  }

  /** An IC token shook hands onto the lease. */
  addToken(leaseId: string, tokenId: string): void {
    this.#addToken.run(leaseId, tokenId)
  }

  /** Whether any token that shook hands onto the lease has been revoked or has expired by `now`. */
  anyTokenDead(leaseId: string, now: number): boolean {
    return this.#deadToken.get(leaseId, now) !== undefined
  }

  /** Note a reported request; false when it was reported before (a replay or a duplicate). */
  claimRequest(requestId: string, leaseId: string, charged: number | null, now: number): boolean {
    return this.#claim.run(requestId, leaseId, charged, now).changes === 1
  }
}
