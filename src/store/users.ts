import type { Db } from './db.js'

/** The people of `iron serve`, their sessions and API tokens, and the login rate limits (migration 7). */

export type UserRoleText = 'admin' | 'user' | 'viewer'

export interface UserRow {
  id: string
  name: string
  display_name: string
  email: string | null
  role: UserRoleText
  status: 'active' | 'suspended' | 'deleted'
  /** scrypt$N$r$p$salt$hash (base64); null for an account that signs in with API tokens only. */
  password_hash: string | null
  password_changed_at: number | null
  failed_logins: number
  locked_until: number | null
  last_login_at: number | null
  created_at: number
  updated_at: number
  deleted_at: number | null
}

const USER_COLUMNS =
  'id, name, display_name, email, role, status, password_hash, password_changed_at, failed_logins, locked_until, last_login_at, created_at, updated_at, deleted_at'

export class UsersRepo {
  constructor(private readonly db: Db) {}

  insert(row: UserRow): void {
    this.db
      .prepare(
        `INSERT INTO users (${USER_COLUMNS}) VALUES (@id, @name, @display_name, @email, @role, @status, @password_hash,
          @password_changed_at, @failed_logins, @locked_until, @last_login_at, @created_at, @updated_at, @deleted_at)`,
      )
      .run(row)
  }

  update(row: UserRow): void {
    this.db
      .prepare(
        `UPDATE users SET display_name = @display_name, email = @email, role = @role, status = @status,
          password_hash = @password_hash, password_changed_at = @password_changed_at, failed_logins = @failed_logins,
          locked_until = @locked_until, last_login_at = @last_login_at, updated_at = @updated_at,
          deleted_at = @deleted_at WHERE id = @id`,
      )
      .run(row)
  }

  byId(id: string): UserRow | undefined {
    return this.db.prepare(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).get(id) as UserRow | undefined
  }

  /** A user that is not deleted, by name. */
  byName(name: string): UserRow | undefined {
    return this.db
      .prepare(`SELECT ${USER_COLUMNS} FROM users WHERE name = ? AND deleted_at IS NULL`)
      .get(name) as UserRow | undefined
  }

  list(options: { includeDeleted?: boolean } = {}): UserRow[] {
    const clause = options.includeDeleted ? '' : 'WHERE deleted_at IS NULL'
    return this.db.prepare(`SELECT ${USER_COLUMNS} FROM users ${clause} ORDER BY name, id`).all() as UserRow[]
  }

  /** Active admins other than `exceptId`: a store must keep at least one. */
  activeAdmins(exceptId?: string): number {
    return this.db
      .prepare(
        "SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active' AND deleted_at IS NULL AND id <> ?",
      )
      .pluck()
      .get(exceptId ?? '') as number
  }
}

export interface SessionRow {
  id: string
  user_id: string
  token_hash: string
  prefix: string
  created_at: number
  expires_at: number
  last_used_at: number | null
  revoked_at: number | null
  ip: string | null
  user_agent: string | null
}

const SESSION_COLUMNS =
  'id, user_id, token_hash, prefix, created_at, expires_at, last_used_at, revoked_at, ip, user_agent'

export class SessionsRepo {
  constructor(private readonly db: Db) {}

  insert(row: SessionRow): void {
    this.db
      .prepare(
        `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (@id, @user_id, @token_hash, @prefix, @created_at, @expires_at,
          @last_used_at, @revoked_at, @ip, @user_agent)`,
      )
      .run(row)
  }

  byHash(hash: string): SessionRow | undefined {
    return this.db.prepare(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE token_hash = ?`).get(hash) as
      | SessionRow
      | undefined
  }

  byId(id: string): SessionRow | undefined {
    return this.db.prepare(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`).get(id) as
      | SessionRow
      | undefined
  }

  /** A use of the session: it lives on until `expiresAt`. */
  touch(id: string, at: number, expiresAt: number): void {
    this.db
      .prepare('UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(at, expiresAt, id)
  }

  revoke(id: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
        .changes === 1
    )
  }

  /** Forget a user's sessions that ended (expired or revoked) before `before`. */
  deleteEndedBefore(userId: string, before: number): void {
    this.db
      .prepare(
        'DELETE FROM sessions WHERE user_id = @user_id AND (expires_at < @before OR revoked_at < @before)',
      )
      .run({ user_id: userId, before })
  }

  /** Sessions neither revoked nor expired at `now` (iron serve's /metrics). */
  countLive(now: number): number {
    return this.db
      .prepare('SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?')
      .pluck()
      .get(now) as number
  }

  /** Signs a user out everywhere; returns how many sessions were live. */
  revokeForUser(userId: string, at: number): number {
    return this.db
      .prepare(
        'UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?',
      )
      .run(at, userId, at).changes
  }
}

export interface ApiTokenRow {
  id: string
  user_id: string
  name: string
  role: UserRoleText
  token_hash: string
  prefix: string
  created_at: number
  expires_at: number | null
  last_used_at: number | null
  revoked_at: number | null
}

export interface ApiTokenWithUser extends ApiTokenRow {
  user_name: string
}

const API_TOKEN_SELECT = `SELECT t.id, t.user_id, t.name, t.role, t.token_hash, t.prefix, t.created_at, t.expires_at,
  t.last_used_at, t.revoked_at, u.name AS user_name FROM api_tokens t JOIN users u ON u.id = t.user_id`

export class ApiTokensRepo {
  constructor(private readonly db: Db) {}

  insert(row: ApiTokenRow): void {
    this.db
      .prepare(
        `INSERT INTO api_tokens (id, user_id, name, role, token_hash, prefix, created_at, expires_at, last_used_at, revoked_at)
          VALUES (@id, @user_id, @name, @role, @token_hash, @prefix, @created_at, @expires_at, @last_used_at, @revoked_at)`,
      )
      .run(row)
  }

  byId(id: string): ApiTokenWithUser | undefined {
    return this.db.prepare(`${API_TOKEN_SELECT} WHERE t.id = ?`).get(id) as ApiTokenWithUser | undefined
  }

  byHash(hash: string): ApiTokenWithUser | undefined {
    return this.db.prepare(`${API_TOKEN_SELECT} WHERE t.token_hash = ?`).get(hash) as
      | ApiTokenWithUser
      | undefined
  }

  list(options: { userId?: string; includeRevoked?: boolean }): ApiTokenWithUser[] {
    const where: string[] = []
    const params: unknown[] = []
    if (options.userId) {
      where.push('t.user_id = ?')
      params.push(options.userId)
    }
    if (!options.includeRevoked) where.push('t.revoked_at IS NULL')
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : ''
    return this.db
      .prepare(`${API_TOKEN_SELECT} ${clause} ORDER BY u.name, t.created_at, t.id`)
      .all(...params) as ApiTokenWithUser[]
  }

  revoke(id: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
        .changes === 1
    )
  }

  revokeForUser(userId: string, at: number): number {
    return this.db
      .prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL')
      .run(at, userId).changes
  }

  touch(id: string, at: number): void {
    this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(at, id)
  }
}

export type RateDecision = { ok: true } | { ok: false; retry_after_ms: number }

/**
 * Rate limits that hold across processes (every `iron serve` on the store), as GCRA: each key keeps the
 * theoretical arrival time of its next attempt. A limit of N per window lets a burst of N through and
 * refills one every window/N; a refused attempt does not count and is told exactly how long to wait.
 */
export class RateLimitsRepo {
  constructor(private readonly db: Db) {}

  /** Take one attempt for `key`; call inside a write transaction. */
  take(key: string, limit: number, windowMs: number, now: number): RateDecision {
    const interval = windowMs / limit
    const tat = this.db.prepare('SELECT tat_ms FROM rate_limits WHERE key = ?').pluck().get(key) as
      | number
      | undefined
    const next = Math.max(tat ?? now, now) + interval
    if (next - now > windowMs) return { ok: false, retry_after_ms: Math.ceil(next - now - windowMs) }
    this.db
      .prepare(
        'INSERT INTO rate_limits (key, tat_ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat_ms = excluded.tat_ms',
      )
      .run(key, Math.ceil(next))
    return { ok: true }
  }

  /** Forget keys whose allowance is whole again (their arrival time has passed): as if never used. */
  prune(now: number, max = 500): number {
    return this.db
      .prepare('DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat_ms <= ? LIMIT ?)')
      .run(now, max).changes
  }
}
