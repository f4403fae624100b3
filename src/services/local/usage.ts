import { usageError } from '../../core/errors.js'
import type { AgentsRepo } from '../../store/agents.js'
import { type Db, isPostgres } from '../../store/db.js'
import type { UsageApi, UsageGroup, UsageQuery, UsageReport, UsageRow } from '../api.js'
import { authorize, ownerScope } from '../authz.js'
import { findAgent, iso } from './refs.js'

export const USAGE_GROUPS: readonly UsageGroup[] = ['agent', 'model', 'provider', 'project', 'day']

const KEY_SQL: Record<UsageGroup, string> = {
  agent: 'a.name',
  model: "coalesce(l.model, '(unknown)')",
  provider: "coalesce(l.provider, '(unknown)')",
  project: "coalesce(a.project, '(none)')",
  day: "strftime('%Y-%m-%d', l.at / 1000, 'unixepoch')",
}

/** The UTC day of a request, as PostgreSQL writes it. */
const DAY_POSTGRES = "to_char(to_timestamp(l.at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

/**
 * Usage totals from the ledger's settled requests (commit rows). Adjustments are not requests and are
 * left out (they show in `iron budget history`). Agents and projects with no traffic show as zero.
 */
export class LocalUsage implements UsageApi {
  constructor(
    private readonly db: Db,
    private readonly agents: AgentsRepo,
  ) {}

  /** A user's or viewer's report counts their own agents only. */
  async report(query: UsageQuery): Promise<UsageReport> {
    const scope = ownerScope(authorize('usage.report'))
    const by = query.by ?? 'agent'
    if (!USAGE_GROUPS.includes(by)) {
      throw usageError(
        'INVALID_GROUP',
        `Cannot group usage by '${by}'`,
        `Use one of: ${USAGE_GROUPS.join(', ')}`,
      )
    }
    if (query.since !== undefined && query.until !== undefined && query.since >= query.until) {
      throw usageError('INVALID_RANGE', '--since must be before --until')
    }
    const agent = query.agent ? findAgent(this.agents, query.agent, { includeDeleted: true }) : undefined
    const where = ["l.kind = 'commit'"]
    const params: unknown[] = []
    if (query.since !== undefined) {
      where.push('l.at >= ?')
      params.push(query.since)
    }
    if (query.until !== undefined) {
      where.push('l.at < ?')
      params.push(query.until)
    }
    if (agent) {
      where.push('l.agent_id = ?')
      params.push(agent.id)
    }
    if (scope !== undefined) {
      where.push('a.owner_id = ?')
      // A principal without a user owns nothing: no ID matches ''.
      params.push(scope ?? '')
    }
    const rows = this.db
      .prepare(
        `SELECT ${by === 'day' && isPostgres(this.db) ? DAY_POSTGRES : KEY_SQL[by]} AS key, count(*) AS requests, coalesce(sum(l.input_tokens), 0) AS input_tokens,
          coalesce(sum(l.output_tokens), 0) AS output_tokens, coalesce(sum(l.spent_delta), 0) AS cost_micros,
          coalesce(sum(CASE WHEN l.cost_known = 0 THEN 1 ELSE 0 END), 0) AS unpriced_requests
          FROM ledger l JOIN agents a ON a.id = l.agent_id WHERE ${where.join(' AND ')} GROUP BY 1 ORDER BY 1`,
      )
      .all(...params) as UsageRow[]
    if (by === 'agent' || by === 'project') {
      const seen = new Set(rows.map((r) => r.key))
      const live = agent
        ? [agent]
        : scope === undefined
          ? this.agents.list()
          : this.agents.list({ ownerId: scope ?? '' })
      for (const a of live) {
        const key = by === 'agent' ? a.name : (a.project ?? '(none)')
        if (!seen.has(key)) {
          seen.add(key)
          rows.push(emptyRow(key))
        }
      }
      rows.sort((x, y) => x.key.localeCompare(y.key))
    }
    const total = rows.reduce((sum, r) => {
      sum.requests += r.requests
      sum.input_tokens += r.input_tokens
      sum.output_tokens += r.output_tokens
      sum.cost_micros += r.cost_micros
      sum.unpriced_requests += r.unpriced_requests
      return sum
    }, emptyRow('total'))
    return { by, since: iso(query.since), until: iso(query.until), rows, total }
  }
}

const emptyRow = (key: string): UsageRow => ({
  key,
  requests: 0,
  input_tokens: 0,
  output_tokens: 0,
  cost_micros: 0,
  unpriced_requests: 0,
})
