import type { Db } from './db.js'

export interface TokenRow {
  id: string
  agent_id: string
  token_hash: string
  prefix: string
  created_at: number
  expires_at: number | null
  revoked_at: number | null
  revoke_reason: string | null
  last_used_at: number | null
}

export interface TokenWithAgent extends TokenRow {
  agent_name: string
  /** `agent`: the agent's own (one live at a time); `run`: an `iron run`'s, which ends with its run. */
  kind: 'agent' | 'run'
}

const SELECT = `SELECT t.id, t.agent_id, t.token_hash, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.revoke_reason,
  t.last_used_at, t.kind, a.name AS agent_name FROM ic_tokens t JOIN agents a ON a.id = t.agent_id`

export class TokensRepo {
  constructor(private readonly db: Db) {}

  /** An agent's own token (`agent`, one live at a time), or a run token (`run`, beside it). */
  insert(row: TokenRow, kind: 'agent' | 'run' = 'agent'): void {
    this.db
      .prepare(
        `INSERT INTO ic_tokens (id, agent_id, token_hash, prefix, created_at, expires_at, revoked_at, revoke_reason, last_used_at, kind)
          VALUES (@id, @agent_id, @token_hash, @prefix, @created_at, @expires_at, @revoked_at, @revoke_reason, @last_used_at, @kind)`,
      )
      .run({ ...row, kind })
  }

  byId(id: string): TokenWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE t.id = ?`).get(id) as TokenWithAgent | undefined
  }

  byHash(hash: string): TokenWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE t.token_hash = ?`).get(hash) as TokenWithAgent | undefined
  }

  /** The agent's own token that is not revoked (it may have expired); run tokens are not its own. */
  unrevoked(agentId: string): TokenWithAgent | undefined {
    return this.db
      .prepare(`${SELECT} WHERE t.agent_id = ? AND t.revoked_at IS NULL AND t.kind = 'agent'`)
      .get(agentId) as TokenWithAgent | undefined
  }

  latest(agentId: string): TokenWithAgent | undefined {
    return this.db
      .prepare(
        `${SELECT} WHERE t.agent_id = ? AND t.kind = 'agent' ORDER BY t.created_at DESC, t.id DESC LIMIT 1`,
      )
      .get(agentId) as TokenWithAgent | undefined
  }

  list(options: { agentId?: string; includeRevoked?: boolean }): TokenWithAgent[] {
    const where: string[] = []
    const params: unknown[] = []
    if (options.agentId) {
      where.push('t.agent_id = ?')
      params.push(options.agentId)
    }
    if (!options.includeRevoked) where.push('t.revoked_at IS NULL')
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : ''
    return this.db
      .prepare(`${SELECT} ${clause} ORDER BY a.name, t.created_at`)
      .all(...params) as TokenWithAgent[]
  }

  revoke(id: string, at: number, reason: string): void {
    this.db
      .prepare('UPDATE ic_tokens SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL')
      .run(at, reason, id)
  }

  /** Move a live run token's expiry; false when it is not one (revoked, or an agent's own). */
  extendRun(id: string, expiresAt: number): boolean {
    return (
      this.db
        .prepare("UPDATE ic_tokens SET expires_at = ? WHERE id = ? AND kind = 'run' AND revoked_at IS NULL")
        .run(expiresAt, id).changes === 1
    )
  }

  /** Revoke a run token when its run ends; false when it is not a live one (or is an agent's own). */
  revokeRun(id: string, at: number): boolean {
    return (
      this.db
        .prepare(
          "UPDATE ic_tokens SET revoked_at = ?, revoke_reason = 'run_ended' WHERE id = ? AND kind = 'run' AND revoked_at IS NULL",
        )
        .run(at, id).changes === 1
    )
  }

  /** Revoke an agent's run tokens that expired without being revoked (their run ended without a word). */
  revokeLapsedRuns(agentId: string, now: number): number {
    return this.db
      .prepare(
        `UPDATE ic_tokens SET revoked_at = ?, revoke_reason = 'expired'
          WHERE agent_id = ? AND kind = 'run' AND revoked_at IS NULL AND expires_at <= ?`,
      )
      .run(now, agentId, now).changes
  }

  touch(id: string, at: number): void {
    this.db.prepare('UPDATE ic_tokens SET last_used_at = ? WHERE id = ?').run(at, id)
  }
}
