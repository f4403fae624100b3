import type { Db } from './db.js'

export type BudgetRequestStatus = 'pending' | 'approved' | 'rejected' | 'cancelled'

export interface BudgetRequestRow {
  id: string
  agent_id: string
  requested_by: string
  limit_micros: number | null
  previous_limit_micros: number | null
  reason: string
  status: BudgetRequestStatus
  decided_by: string | null
  decided_at: number | null
  decision_note: string | null
  created_at: number
}

export interface BudgetRequestWithAgent extends BudgetRequestRow {
  agent_name: string
  /** The agent's owner (a user ID), for who may see the request. */
  agent_owner_id: string | null
}

const SELECT = `SELECT r.id, r.agent_id, r.requested_by, r.limit_micros, r.previous_limit_micros, r.reason, r.status,
  r.decided_by, r.decided_at, r.decision_note, r.created_at, a.name AS agent_name, a.owner_id AS agent_owner_id
  FROM budget_requests r JOIN agents a ON a.id = r.agent_id`

/** Budget change requests: inserted pending, decided once (the update only matches a pending row). */
export class BudgetRequestsRepo {
  constructor(private readonly db: Db) {}

  insert(row: BudgetRequestRow): void {
    this.db
      .prepare(
        `INSERT INTO budget_requests (id, agent_id, requested_by, limit_micros, previous_limit_micros, reason, status,
          decided_by, decided_at, decision_note, created_at)
          VALUES (@id, @agent_id, @requested_by, @limit_micros, @previous_limit_micros, @reason, @status,
          @decided_by, @decided_at, @decision_note, @created_at)`,
      )
      .run(row)
  }

  byId(id: string): BudgetRequestWithAgent | undefined {
    return this.db.prepare(`${SELECT} WHERE r.id = ?`).get(id) as BudgetRequestWithAgent | undefined
  }

  pendingFor(agentId: string): BudgetRequestWithAgent | undefined {
    return this.db
      .prepare(`${SELECT} WHERE r.agent_id = ? AND r.status = 'pending' ORDER BY r.created_at DESC LIMIT 1`)
      .get(agentId) as BudgetRequestWithAgent | undefined
  }

  /** Newest first. `visibleTo` keeps the requests of agents a user owns or that they asked for. */
  list(
    options: {
      status?: BudgetRequestStatus
      agentId?: string
      visibleTo?: { userId: string | null; actor: string }
    } = {},
  ): BudgetRequestWithAgent[] {
    const where: string[] = []
    const params: unknown[] = []
    if (options.status) {
      where.push('r.status = ?')
      params.push(options.status)
    }
    if (options.agentId) {
      where.push('r.agent_id = ?')
      params.push(options.agentId)
    }
    if (options.visibleTo) {
      where.push('(a.owner_id = ? OR r.requested_by = ?)')
      params.push(options.visibleTo.userId ?? '', options.visibleTo.actor)
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : ''
    return this.db
      .prepare(`${SELECT} ${clause} ORDER BY r.created_at DESC, r.id DESC`)
      .all(...params) as BudgetRequestWithAgent[]
  }

  /** Decide a pending request; false when it was no longer pending (someone decided first). */
  decide(
    id: string,
    decision: {
      status: Exclude<BudgetRequestStatus, 'pending'>
      by: string
      at: number
      note: string | null
    },
  ): boolean {
    const result = this.db
      .prepare(
        `UPDATE budget_requests SET status = ?, decided_by = ?, decided_at = ?, decision_note = ?
          WHERE id = ? AND status = 'pending'`,
      )
      .run(decision.status, decision.by, decision.at, decision.note, id)
    return result.changes === 1
  }
}
