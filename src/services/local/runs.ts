import { authError, usageError } from '../../core/errors.js'
import { displayPrefix } from '../../core/secrets.js'
import type { AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import { findAgent } from './refs.js'
import type { LocalTokens } from './tokens.js'

/** How long a run token outlives its run's last renewal: what a run killed without a word leaves usable. */
export const RUN_TOKEN_TTL_MS = 120_000
/** A run renews its token this often (four times per TTL: one missed renewal changes nothing). */
export const RUN_RENEW_EVERY_MS = RUN_TOKEN_TTL_MS / 4

/** Who a run acts as, and where its requests start in the trail and the ledger. */
export interface RunIdentity {
  agent: { id: string; name: string; status: string }
  token: {
    id: string
    prefix: string
    /** `run`: minted for this run, revoked when it ends; `agent`: the agent's own, given to iron run. */
    kind: 'run' | 'agent'
    /** The secret, for the child's environment only. */
    secret: string
  }
  since: { audit_seq: number; ledger_seq: number; at: number }
}

/** What a run's requests did: those made with its token after it began. */
export interface RunTally {
  requests: number
  /** Refused by the budget or blocked by the firewall. */
  blocked: number
  /** Other failures: refusals for rate or policy, upstream and gateway errors. */
  errors: number
  input_tokens: number
  output_tokens: number
  /** What the ledger charged the agent's budget for them. */
  spent_micros: number
  unpriced_requests: number
}

/**
 * `iron run` on the local store: the token a run's command uses, and what its requests cost. A run's
 * requests are the agent's (its budget applies, its spend is the agent's); they are told apart by the
 * token they carried, read from their records (audit events) and their charges (ledger commit rows).
 */
export class LocalRuns {
  constructor(
    private readonly db: Db,
    private readonly tokens: LocalTokens,
    private readonly agents: AgentsRepo,
  ) {}

  /**
   * Begin a run as `agentRef` with a run token minted for it, or with the agent's own token (`secret`,
   * from IRON_TOKEN or stdin): then `agentRef`, when given, must name that token's agent.
   */
  async begin(options: { agent?: string; secret?: string; ttlMs?: number }): Promise<RunIdentity> {
    const since = this.#mark()
    if (options.secret !== undefined) {
      const found = this.tokens.authenticate(options.secret.trim())
      if (!found) {
        throw authError(
          'TOKEN_REJECTED',
          'The IC token given to iron run is unknown, revoked or expired',
          'Check IRON_TOKEN (or what --token-stdin read), or leave it out to run with a run token',
        )
      }
      if (options.agent !== undefined) {
        const named = findAgent(this.agents, options.agent)
        if (named.id !== found.agent.id) {
          throw usageError(
            'TOKEN_AGENT_MISMATCH',
            `The IC token given is ${found.agent.name}'s, not ${named.name}'s`,
            `Drop --agent, or give ${named.name}'s token`,
          )
        }
      }
      const secret = options.secret.trim()
      return {
        agent: { id: found.agent.id, name: found.agent.name, status: found.agent.status },
        token: { id: found.token_id, prefix: displayPrefix(secret), kind: 'agent', secret },
        since,
      }
    }
    if (options.agent === undefined) {
      throw usageError(
        'AGENT_REQUIRED',
        'Which agent should the command run as?',
        'Pass --agent NAME (or give its token in IRON_TOKEN or with --token-stdin)',
      )
    }
    const agent = findAgent(this.agents, options.agent)
    const issued = await this.tokens.issueRun(agent.id, options.ttlMs ?? RUN_TOKEN_TTL_MS)
    return {
      agent: { id: agent.id, name: agent.name, status: agent.status },
      token: { id: issued.id, prefix: issued.prefix, kind: 'run', secret: issued.token },
      since,
    }
  }

  /** Keep a run token alive; false once it was revoked (the command's requests are refused from then). */
  renew(run: RunIdentity, ttlMs = RUN_TOKEN_TTL_MS): boolean {
    if (run.token.kind !== 'run') return true
    return this.tokens.renewRun(run.token.id, ttlMs) !== null
  }

  /** End a run: revoke its run token (an agent's own token is left alone), and count what it did. */
  async end(run: RunIdentity): Promise<RunTally & { token_revoked: boolean }> {
    let revoked = false
    if (run.token.kind === 'run') revoked = (await this.tokens.endRun(run.token.id)).status === 'revoked'
    return { ...this.tally(run), token_revoked: revoked }
  }

  /** What the requests made with the run's token since it began did, and what the ledger charged for them. */
  tally(run: RunIdentity): RunTally {
    const row = this.db
      .prepare(
        `WITH run_requests AS (
           SELECT resource_id AS id,
             json_extract(data, '$.status') AS status,
             json_extract(data, '$.outcome') AS outcome,
             json_extract(data, '$.input_tokens') AS input_tokens,
             json_extract(data, '$.output_tokens') AS output_tokens
           FROM audit_events
           WHERE agent_id = @agent AND seq > @audit_seq AND action = 'gateway.request'
             AND json_extract(data, '$.token_id') = @token
         ), charged AS (
           SELECT coalesce(sum(spent_delta), 0) AS spent, coalesce(sum(cost_known = 0), 0) AS unpriced
           FROM ledger
           WHERE seq > @ledger_seq AND agent_id = @agent AND kind = 'commit'
             AND reservation_id IN (SELECT id FROM run_requests)
         )
         SELECT count(r.id) AS requests,
           coalesce(sum(r.outcome IN ('budget_exceeded', 'safety_blocked')), 0) AS blocked,
           coalesce(sum(r.status >= 400 AND r.outcome NOT IN ('budget_exceeded', 'safety_blocked')), 0) AS errors,
           coalesce(sum(r.input_tokens), 0) AS input_tokens,
           coalesce(sum(r.output_tokens), 0) AS output_tokens,
           (SELECT spent FROM charged) AS spent_micros,
           (SELECT unpriced FROM charged) AS unpriced_requests
         FROM run_requests r`,
      )
      .get({
        agent: run.agent.id,
        token: run.token.id,
        audit_seq: run.since.audit_seq,
        ledger_seq: run.since.ledger_seq,
      }) as RunTally
    return row
  }

  #mark(): RunIdentity['since'] {
    const seq = (table: string) =>
      this.db.prepare(`SELECT coalesce(max(seq), 0) FROM ${table}`).pluck().get() as number
    return { audit_seq: seq('audit_events'), ledger_seq: seq('ledger'), at: Date.now() }
  }
}
