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
}

const SELECT = `SELECT t.id, t.agent_id, t.token_hash, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.revoke_reason,
  t.last_used_at, a.name AS agent_name FROM ic_tokens t JOIN agents a ON a.id = t.agent_id`

export class TokensRepo {
  constructor(private readonly db: Db) {}

  insert(row: TokenRow): void {
    this.db
      .prepare(
        `INSERT INTO ic_tokens (id, agent_id, token_hash, prefix, created_at, expires_at, revoked_at, revoke_reason, last_used_at)
          VALUES (@id, @agent_id, @token_hash, @prefix, @created_at, @expires_at, @revoked_at, @revoke_reason, @last_used_at)`,
      )
      .run(row)
  }

  byId(id: string): TokenWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE t.id = ?`).get(id) as TokenWithAgent | undefined
  }

  byHash(hash: string): TokenWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE t.token_hash = ?`).get(hash) as TokenWithAgent | undefined
  }

  /** The agent's token that is not revoked (it may have expired). */
  unrevoked(agentId: string): TokenWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE t.agent_id = ? AND t.revoked_at IS NULL`).get(agentId) as
      | TokenWithAgent
      | undefined
  }

  latest(agentId: string): TokenWithAgent | undefined {
    return this.db
      .prepare(`${SELECT} WHERE t.agent_id = ? ORDER BY t.created_at DESC, t.id DESC LIMIT 1`)
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

  touch(id: string, at: number): void {
    this.db.prepare('UPDATE ic_tokens SET last_used_at = ? WHERE id = ?').run(at, id)
  }
}
