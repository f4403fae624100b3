import { IronError, notFound, usageError } from '../../core/errors.js'
import { newId, parseId } from '../../core/ids.js'
import { formatMoney, MAX_MICROS } from '../../core/money.js'
import type { AgentsRepo } from '../../store/agents.js'
import type {
  BudgetRequestRow,
  BudgetRequestsRepo,
  BudgetRequestWithAgent,
} from '../../store/budget-requests.js'
import type { Db } from '../../store/db.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import type { LedgerRepo } from '../../store/ledger.js'
import type { BudgetRequest, BudgetRequestStatus, BudgetRequestsApi } from '../api.js'
import { authorize, forbidden, isAdmin, ownsAgent } from '../authz.js'
import { currentPrincipal } from '../principal.js'
import type { LocalAudit } from './audit.js'
import type { LocalBudgets } from './budgets.js'
import { findAgent, iso } from './refs.js'

const STATUSES: readonly BudgetRequestStatus[] = ['pending', 'approved', 'rejected', 'cancelled']
const MAX_REASON = 500
const MAX_NOTE = 500

type Decision = 'approve' | 'reject' | 'cancel'
const DECIDED: Record<Decision, Exclude<BudgetRequestStatus, 'pending'>> = {
  approve: 'approved',
  reject: 'rejected',
  cancel: 'cancelled',
}

/**
 * Budget change requests: an agent's owner (or anyone on the local store) asks for a limit with a reason;
 * an admin approves or rejects it, or the requester cancels it. A request is decided once: the decision
 * re-reads the row in its own BEGIN IMMEDIATE transaction, so of two racing decisions exactly one wins, and
 * an approval sets the limit (through `iron budget set`'s own code, which also makes it the grant) in that
 * same transaction as the status and the audit events.
 */
export class LocalBudgetRequests implements BudgetRequestsApi {
  readonly #writer: GroupCommit

  constructor(
    db: Db,
    private readonly repo: BudgetRequestsRepo,
    private readonly agents: AgentsRepo,
    private readonly ledger: LedgerRepo,
    private readonly budgets: LocalBudgets,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
  ) {
    this.#writer = groupCommitOf(db)
  }

  async create(
    agentRef: string,
    input: { limit_micros: number | null; reason: string },
  ): Promise<BudgetRequest> {
    authorize('budgetRequests.create')
    const limit = checkLimit(input.limit_micros)
    const reason = checkText(input.reason, 'reason', MAX_REASON, true)!
    return this.#tx(() => {
      // Another user's agent is not found (findAgent), so a user asks for their own agents only.
      const agent = findAgent(this.agents, agentRef)
      const pending = this.repo.pendingFor(agent.id)
      if (pending) {
        throw new IronError(
          'BUDGET_REQUEST_PENDING',
          `${agent.name} already has a pending budget request (${pending.id}, for ${limitText(pending.limit_micros)})`,
          {
            hint: `Wait for an admin's decision, or withdraw it with: iron budget cancel ${pending.id}`,
            details: { pending_id: pending.id },
          },
        )
      }
      const current = this.ledger.budget(agent.id)?.limit_micros ?? null
      if (current === limit) {
        throw usageError(
          'NOTHING_TO_REQUEST',
          `${agent.name}'s limit is already ${limitText(limit)}`,
          'Ask for a different limit',
        )
      }
      const now = this.now()
      const row: BudgetRequestRow = {
        id: newId('breq', now),
        agent_id: agent.id,
        requested_by: this.#actor(),
        limit_micros: limit,
        previous_limit_micros: current,
        reason,
        status: 'pending',
        decided_by: null,
        decided_at: null,
        decision_note: null,
        created_at: now,
      }
      this.repo.insert(row)
      const after = view({ ...row, agent_name: agent.name, agent_owner_id: agent.owner_id })
      this.#record('budget_request.create', after, { before: null, after })
      return after
    })
  }

  async list(options: { status?: BudgetRequestStatus; agent?: string } = {}): Promise<BudgetRequest[]> {
    if (options.status !== undefined && !STATUSES.includes(options.status)) {
      throw usageError(
        'INVALID_STATUS',
        `Unknown status '${options.status}'`,
        `Use one of: ${STATUSES.join(', ')}`,
      )
    }
    const principal = authorize('budgetRequests.list')
    const agentId =
      options.agent === undefined
        ? undefined
        : findAgent(this.agents, options.agent, { includeDeleted: true }).id
    const visibleTo = isAdmin(principal) ? undefined : { userId: principal!.user_id, actor: principal!.actor }
    return this.repo.list({ status: options.status, agentId, visibleTo }).map(view)
  }

  async get(id: string): Promise<BudgetRequest> {
    authorize('budgetRequests.get')
    return view(this.#find(id))
  }

  async approve(id: string, options: { note?: string } = {}): Promise<BudgetRequest> {
    return this.#decide(id, 'approve', options.note)
  }

  async reject(id: string, options: { note?: string } = {}): Promise<BudgetRequest> {
    return this.#decide(id, 'reject', options.note)
  }

  async cancel(id: string): Promise<BudgetRequest> {
    return this.#decide(id, 'cancel', undefined)
  }

  async #decide(ref: string, decision: Decision, rawNote: string | undefined): Promise<BudgetRequest> {
    authorize(`budgetRequests.${decision}`)
    const note = checkText(rawNote, 'note', MAX_NOTE, false)
    const id = parseId(ref, 'breq')
    return this.#tx(() => {
      const request = this.#find(id)
      this.#authorizeDecision(request, decision)
      if (request.status !== 'pending') throw decided(request)
      const agent = decision === 'approve' ? findAgent(this.agents, request.agent_id) : undefined
      const now = this.now()
      const by = this.#actor()
      if (!this.repo.decide(request.id, { status: DECIDED[decision], by, at: now, note }))
        throw decided(request)
      if (agent) {
        // Approving is the decision to set this limit, below what was spent too (the request said so).
        this.budgets.setSync(
          agent,
          { limit_micros: request.limit_micros, allow_below_spend: true },
          { via: { budget_request: request.id } },
        )
      }
      const before = view(request)
      const after = view(this.repo.byId(request.id)!)
      this.#record(`budget_request.${decision}`, after, { before, after })
      return after
    })
  }

  /** Admins approve and reject (the rules table says so); the requester or an admin cancels. */
  #authorizeDecision(request: BudgetRequestWithAgent, decision: Decision): void {
    const principal = currentPrincipal()
    if (isAdmin(principal) || decision !== 'cancel') return
    if (request.requested_by !== principal!.actor) {
      throw forbidden(`Only whoever asked (${request.requested_by}) or an admin can cancel ${request.id}`)
    }
  }

  /** A request the caller may see: admins every one, a user or viewer those of their agents or their own. */
  #find(ref: string): BudgetRequestWithAgent {
    const id = parseId(ref, 'breq')
    const row = this.repo.byId(id)
    if (!row) throw requestNotFound(id)
    const principal = currentPrincipal()
    if (
      !isAdmin(principal) &&
      !ownsAgent(principal!, { owner_id: row.agent_owner_id }) &&
      row.requested_by !== principal!.actor
    ) {
      throw requestNotFound(id)
    }
    return row
  }

  #actor(): string {
    return currentPrincipal()?.actor ?? this.audit.actor
  }

  #record(
    action: string,
    request: BudgetRequest,
    data: { before: BudgetRequest | null; after: BudgetRequest },
  ): void {
    this.audit.record({
      actor: this.#actor(),
      action,
      resource_type: 'budget_request',
      resource_id: request.id,
      agent_id: request.agent_id,
      outcome: 'success',
      data,
    })
  }

  #tx<T>(fn: () => T): T {
    return this.#writer.now(fn)
  }
}

function view(row: BudgetRequestWithAgent): BudgetRequest {
  return {
    id: row.id,
    agent_id: row.agent_id,
    agent_name: row.agent_name,
    requested_by: row.requested_by,
    limit_micros: row.limit_micros,
    previous_limit_micros: row.previous_limit_micros,
    reason: row.reason,
    status: row.status,
    decided_by: row.decided_by,
    decided_at: iso(row.decided_at),
    decision_note: row.decision_note,
    created_at: iso(row.created_at)!,
  }
}

const limitText = (micros: number | null) => (micros === null ? 'no limit' : formatMoney(micros))

const requestNotFound = (id: string) =>
  notFound('BUDGET_REQUEST_NOT_FOUND', `No budget request ${id}`, 'List them with: iron budget requests')

const decided = (request: BudgetRequestWithAgent) =>
  new IronError(
    'BUDGET_REQUEST_DECIDED',
    `Budget request ${request.id} was already ${request.status === 'pending' ? 'decided' : request.status}${request.decided_by ? ` by ${request.decided_by}` : ''}`,
    {
      hint: `See it with: iron budget requests --agent ${request.agent_name}`,
      details: { status: request.status },
    },
  )

function checkLimit(value: number | null): number | null {
  if (value === null) return null
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS) {
    throw usageError(
      'INVALID_MONEY',
      `Invalid limit: expected whole micro-USD between 0 and ${MAX_MICROS}, or null for no limit`,
      'For example --limit 50 or --limit none',
    )
  }
  return value
}

function checkText(value: string | undefined, what: string, max: number, required: boolean): string | null {
  const text = typeof value === 'string' ? value.trim() : value
  if (text === undefined || text === '') {
    if (!required) return null
    throw usageError(`INVALID_${what.toUpperCase()}`, `Give a ${what} of 1 to ${max} characters`)
  }
  if (typeof text !== 'string' || text.length > max) {
    throw usageError(
      `INVALID_${what.toUpperCase()}`,
      `The ${what} is ${typeof text === 'string' ? `${text.length} characters long` : 'not text'}; at most ${max} are allowed`,
    )
  }
  return text
}
