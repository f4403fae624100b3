import { IronError, notFound, usageError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import { formatMoney, MAX_MICROS } from '../../core/money.js'
import { assertTimezone, type Period, periodBounds } from '../../core/periods.js'
import type { AgentRow, AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import type { HoldersRepo } from '../../store/holders.js'
import { type LeaseHold, LeaseHoldsRepo } from '../../store/lease-holds.js'
import type { BudgetRow, LedgerRepo, LedgerRow, SpendRow } from '../../store/ledger.js'
import type {
  Budget,
  BudgetCheck,
  BudgetInput,
  BudgetsApi,
  DrawRequest,
  LeaseGrant,
  LeaseRequest,
  LedgerEntry,
  LedgerVerification,
  SettleResult,
} from '../api.js'
import { authorize, forbidden, isAdmin, mayRead, ownsAgent } from '../authz.js'
import { currentPrincipal } from '../principal.js'
import { changes, type LocalAudit } from './audit.js'
import { findAgent, iso } from './refs.js'

/** What an agent's leases run under now (`standingSync`). */
export interface LeaseStanding {
  status: 'active' | 'suspended' | 'deleted'
  limit_micros: number | null
  period_end: number | null
  on_insufficient: LeaseGrant['on_insufficient']
  /** What the budget has free beyond spend, reservations and every lease; null without a limit. */
  free_micros: number | null
}

export const DEFAULT_ALERT_THRESHOLDS = [50, 80, 95, 100]
const HOUR = 3_600_000

/** A lease holds about this much of the agent's recent spend (SPEC §6: about a minute of it). */
export const LEASE_SPEND_WINDOW_MS = 60_000
/** The smallest lease, for an idle agent: $0.01, or this many of the request's worst case. */
export const LEASE_FLOOR_MICROS = 10_000
export const LEASE_FLOOR_WORST_CASES = 2
/**
 * Ledger rows read at most to measure recent spend, so a grant stays cheap under load; when they all fall
 * in the window, the spend they show is scaled to the window from the time they span (at least a second).
 */
export const LEASE_SPEND_ROWS = 256

/**
 * Budgets and the ledger. Every movement is a row written in one BEGIN IMMEDIATE transaction together
 * with the budget's cached balances, so spent + reserved + leased never passes the limit, whatever the
 * number of processes writing to the same store. Gateways admit requests on leases (grant, draw, return);
 * reservations are only read and released, as gateways from before leases left them.
 */
export class LocalBudgets implements BudgetsApi {
  readonly writer: GroupCommit

  constructor(
    private readonly db: Db,
    private readonly ledger: LedgerRepo,
    private readonly agents: AgentsRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
    private readonly defaultTimezone: string,
    private readonly holders: HoldersRepo,
    private readonly holds = new LeaseHoldsRepo(db),
  ) {
    this.writer = groupCommitOf(db)
  }

  /**
   * A gateway's heartbeat: the worst cases it has in flight on each of its leases, so that budget views
   * show them as in flight (never a lease's unused rest as spent). Replaces what the holder wrote before.
   * A lease that went back meanwhile (reclaimed) is skipped: nothing on it counts against the budget any more.
   */
  recordHolds(holder: string, holds: readonly LeaseHold[]): void {
    for (const hold of holds) checkAmount(hold.held_micros, 'hold')
    this.#tx(() => {
      const now = this.now()
      const kept: string[] = []
      for (const hold of holds) {
        const { open, close } = this.ledger.reservation(hold.lease_id)
        if (open?.kind !== 'lease_grant' || open.agent_id !== hold.agent_id || open.holder !== holder) {
          throw new IronError(
            'LEASE_NOT_HELD',
            `${hold.lease_id} is not a lease of agent ${hold.agent_id} held by ${holder}`,
          )
        }
        if (close) continue
        this.holds.upsert(holder, hold, now)
        kept.push(hold.lease_id)
      }
      this.holds.removeOthers(holder, kept)
    })
  }

  /**
   * Give back what holders whose heartbeat ran out still held (SPEC §6: a lease is its holder's only while
   * the holder renews it). Cheap when there is nothing to do; budget views run it so they never show a
   * dead gateway's lease as held. Returns how many leases and reservations went back.
   */
  reclaimExpired(): number {
    if (this.holders.expired(this.now()).length === 0) return 0
    return this.#tx(() => {
      let released = 0
      for (const holder of this.holders.expired(this.now())) {
        const closed = this.releaseOpen(holder, 'expired')
        const last = this.holders.get(holder)!.renewed_at
        this.holders.end(holder, this.now(), 'expired')
        this.audit.record({
          actor: 'system',
          action: 'gateway.expired',
          resource_type: 'holder',
          resource_id: holder,
          outcome: 'success',
          data: { released: closed, last_heartbeat: iso(last) },
        })
        released += closed
      }
      return released
    })
  }

  /**
   * Stores from before heartbeats: open leases and reservations of gateways that never registered cannot
   * belong to a live gateway (every gateway registers before it holds anything), so they go back.
   */
  reclaimUnregistered(): number {
    return this.#tx(() =>
      this.releaseOpen(
        (holder) => holder?.startsWith('gw:') === true && this.holders.get(holder) === undefined,
        'expired',
      ),
    )
  }

  /**
   * The row every agent gets at creation: no limit, metered only; or, with `limit_micros` (an agent a user
   * creates starts at $0), that limit, which is also all its owner may set until an admin grants more.
   */
  createFor(agentId: string, at: number, options: { limit_micros?: number } = {}): void {
    this.ledger.insertBudget({
      agent_id: agentId,
      limit_micros: options.limit_micros ?? null,
      period: 'none',
      timezone: this.defaultTimezone,
      on_insufficient: 'reject',
      alert_thresholds: JSON.stringify(DEFAULT_ALERT_THRESHOLDS),
      period_start: 0,
      period_end: null,
      spent_micros: 0,
      reserved_micros: 0,
      leased_micros: 0,
      alerted_pct: 0,
      created_at: at,
      updated_at: at,
    })
    if (options.limit_micros !== undefined) this.ledger.setGrantedLimit(agentId, options.limit_micros)
  }

  async set(agentRef: string, input: BudgetInput): Promise<Budget> {
    authorize('budgets.set')
    const agent = findAgent(this.agents, agentRef)
    return this.#tx(() => this.setSync(agent, input))
  }

  /**
   * What `iron budget set` does, in the caller's transaction (an approved budget request runs it in its own).
   * A limit set by an admin (or on the local store, by its owner) is also what the agent's owner may set
   * from then on: `granted_limit_micros`. A user may set their own agent's limit up to that, and no more.
   */
  setSync(agent: AgentRow, input: BudgetInput, options: { via?: Record<string, unknown> } = {}): Budget {
    if (input.limit_micros !== undefined && input.limit_micros !== null)
      checkAmount(input.limit_micros, 'limit')
    const timezone = input.timezone === undefined ? undefined : assertTimezone(input.timezone)
    const thresholds =
      input.alert_thresholds === undefined ? undefined : checkThresholds(input.alert_thresholds)
    return this.#tx(() => {
      const now = this.now()
      const current = this.#budgetRow(agent.id)
      const grants = this.#authorizeSet(agent, input, current, timezone)
      const next: BudgetRow = {
        ...current,
        limit_micros: input.limit_micros === undefined ? current.limit_micros : input.limit_micros,
        period: input.period ?? current.period,
        timezone: timezone ?? current.timezone,
        on_insufficient: input.on_insufficient ?? current.on_insufficient,
        alert_thresholds: thresholds ? JSON.stringify(thresholds) : current.alert_thresholds,
        updated_at: now,
      }
      this.#rollTo(next, now, next.period !== current.period || next.timezone !== current.timezone)
      // What was used is spent and in flight; what gateways hold in leases beyond that is not (they give it back).
      const inFlight = this.#inFlight(next)
      const used = next.spent_micros + inFlight
      if (next.limit_micros !== null && used > next.limit_micros && !input.allow_below_spend) {
        const until =
          next.period_end === null
            ? 'until the limit is raised'
            : `until the period resets on ${iso(next.period_end)}`
        const parts = inFlight > 0 ? ` (${formatMoney(inFlight)} in flight)` : ''
        throw usageError(
          'LIMIT_BELOW_SPEND',
          `${agent.name} has already used ${formatMoney(used)} this period${parts}; a ${formatMoney(next.limit_micros)} limit refuses all of its requests ${until}`,
          'Re-run with --yes to set it anyway, or choose a higher limit',
        )
      }
      if (next.limit_micros !== current.limit_micros || next.period !== current.period) next.alerted_pct = 0
      this.ledger.saveBudget(next)
      const granted = this.ledger.grantedLimit(agent.id)
      if (grants && input.limit_micros !== undefined && granted !== next.limit_micros)
        this.ledger.setGrantedLimit(agent.id, next.limit_micros)
      const after = this.#view(next, agent.name, inFlight)
      const changed = changes(this.#view(current, agent.name, this.#inFlight(current)), after)
      if (grants && input.limit_micros !== undefined && granted !== next.limit_micros)
        changed.granted_limit_micros = { before: granted, after: next.limit_micros }
      this.audit.record({
        actor: currentPrincipal()?.actor,
        action: 'budget.set',
        resource_type: 'budget',
        resource_id: agent.id,
        agent_id: agent.id,
        outcome: 'success',
        data: {
          changes: changed,
          below_spend_confirmed: Boolean(input.allow_below_spend),
          ...options.via,
        },
      })
      return after
    })
  }

  /**
   * Who may set what (team mode): admins and the local store's owner everything, and what they set is
   * granted; a user their own agents' limit up to the grant, alerts and what happens when short, never the
   * period or time zone (a grant is per period); a viewer nothing. Another user's agent is not there.
   * Returns whether the new limit becomes the grant.
   */
  #authorizeSet(
    agent: AgentRow,
    input: BudgetInput,
    current: BudgetRow,
    timezone: string | undefined,
  ): boolean {
    const principal = currentPrincipal()
    if (isAdmin(principal)) return true
    if (!ownsAgent(principal!, agent) || principal!.role === 'viewer') {
      throw forbidden(
        `Setting ${agent.name}'s budget needs the user role on your own agent, or admin; you have the ${principal!.role} role`,
      )
    }
    if (
      (input.period !== undefined && input.period !== current.period) ||
      (timezone !== undefined && timezone !== current.timezone)
    ) {
      throw forbidden(
        `Only an admin changes the period or time zone of ${agent.name}'s budget (a limit is granted per period)`,
      )
    }
    const granted = this.ledger.grantedLimit(agent.id)
    if (input.limit_micros !== undefined && granted !== null) {
      if (input.limit_micros === null || input.limit_micros > granted) {
        throw forbidden(
          `${agent.name}'s limit can be set up to ${formatMoney(granted)}, what an admin granted; ${input.limit_micros === null ? 'no limit' : formatMoney(input.limit_micros)} needs an admin`,
          `Ask for it with: iron budget request ${agent.name} --limit ${input.limit_micros === null ? 'none' : (input.limit_micros / 1_000_000).toString()} --reason "<why>"`,
          { granted_limit_micros: granted },
        )
      }
    }
    return false
  }

  async get(agentRef: string): Promise<Budget> {
    authorize('budgets.get')
    const agent = findAgent(this.agents, agentRef, { includeDeleted: true })
    this.reclaimExpired()
    return this.#tx(() => {
      const row = this.#current(agent.id)
      return this.#view(row, agent.name, this.#inFlight(row))
    })
  }

  async list(): Promise<Budget[]> {
    authorize('budgets.list')
    this.reclaimExpired()
    const agents = this.agents.list()
    const names = new Map(agents.map((a) => [a.id, a.name]))
    // A user or viewer sees the budgets of their own agents.
    const readable = isAdmin() ? undefined : new Set(agents.filter((a) => mayRead(a)).map((a) => a.id))
    return this.#tx(() =>
      this.ledger
        .listBudgets()
        .filter((listed) => readable === undefined || readable.has(listed.agent_id))
        .map((listed) => {
          const row = this.#current(listed.agent_id)
          return this.#view(row, names.get(row.agent_id) ?? row.agent_id, this.#inFlight(row))
        }),
    )
  }

  async check(agentRef: string, options: { verify?: boolean } = {}): Promise<BudgetCheck> {
    authorize('budgets.check')
    const agent = findAgent(this.agents, agentRef, { includeDeleted: true })
    this.reclaimExpired()
    return this.#tx(() => {
      const row = this.#current(agent.id)
      const now = this.now()
      const budget = this.#view(row, agent.name, this.#inFlight(row))
      const windowStart = row.period === 'none' ? now - 7 * 24 * HOUR : row.period_start
      const spentInWindow =
        row.period === 'none' ? this.ledger.sums(agent.id, windowStart, null).spent : row.spent_micros
      const hours = Math.max((now - windowStart) / HOUR, 1)
      const burn = Math.round(spentInWindow / hours)
      const projected =
        row.period_end === null
          ? null
          : row.spent_micros + Math.round((burn * Math.max(row.period_end - now, 0)) / HOUR)
      const remaining = budget.remaining_micros
      const exhaustedAt =
        remaining === null
          ? null
          : remaining <= 0
            ? now
            : burn > 0
              ? now + Math.round((remaining / burn) * HOUR)
              : null
      const result: BudgetCheck = {
        budget,
        // Over once nothing is available (spent and in flight), and always when spend itself passed the limit.
        over: remaining !== null && (remaining <= 0 || row.spent_micros > row.limit_micros!),
        burn_rate_micros_per_hour: burn,
        projected_period_spend_micros: projected,
        exhausted_at: iso(exhaustedAt),
      }
      if (options.verify) result.verify = this.#verify(row)
      return result
    })
  }

  async history(agentRef: string, options: { limit?: number; since?: number } = {}): Promise<LedgerEntry[]> {
    authorize('budgets.history')
    const agent = findAgent(this.agents, agentRef, { includeDeleted: true })
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 10_000)
    return this.ledger.history(agent.id, { limit, since: options.since }).map(entryView)
  }

  async adjust(agentRef: string, input: { amount_micros: number; reason: string }): Promise<Budget> {
    authorize('budgets.adjust')
    const agent = findAgent(this.agents, agentRef)
    if (
      !Number.isSafeInteger(input.amount_micros) ||
      input.amount_micros === 0 ||
      Math.abs(input.amount_micros) > MAX_MICROS
    ) {
      throw usageError(
        'INVALID_MONEY',
        'An adjustment must be a non-zero amount',
        'For example --amount 5 or --amount=-2.50',
      )
    }
    const reason = input.reason.trim()
    if (reason.length < 3 || reason.length > 500) {
      throw usageError(
        'INVALID_REASON',
        'Give a reason of 3 to 500 characters',
        'For example --reason "refund for a failed batch"',
      )
    }
    return this.#tx(() => {
      const now = this.now()
      const row = this.#current(agent.id)
      if (row.spent_micros + input.amount_micros < 0) {
        throw usageError(
          'ADJUSTMENT_TOO_LARGE',
          `${agent.name} has spent ${formatMoney(row.spent_micros)} this period; a credit of ${formatMoney(-input.amount_micros)} would make it negative`,
        )
      }
      this.ledger.append(
        ledgerRow(agent.id, 'adjust', {
          spent_delta: input.amount_micros,
          counted_at: now,
          at: now,
          note: reason,
        }),
      )
      row.spent_micros += input.amount_micros
      row.updated_at = now
      this.ledger.saveBalances(row)
      this.audit.record({
        actor: currentPrincipal()?.actor,
        action: 'budget.adjust',
        resource_type: 'budget',
        resource_id: agent.id,
        agent_id: agent.id,
        outcome: 'success',
        data: { amount_micros: input.amount_micros, reason, spent_micros: row.spent_micros },
      })
      return this.#view(row, agent.name, this.#inFlight(row))
    })
  }

  /**
   * Return every open lease of a holder whose heartbeat expired (or of everyone), and release its open
   * reservations (rows left by gateways from before leases). What a lease gives back is derived from its
   * rows, not from what the holder believed. Returns how many were closed.
   */
  releaseOpen(
    holder?: string | ((holder: string | null) => boolean),
    reason: 'expired' | 'stopped' = 'expired',
  ): number {
    const byName = typeof holder === 'string' ? holder : undefined
    const keep = typeof holder === 'function' ? holder : () => true
    let released = 0
    for (const row of this.ledger.openReservations(byName)) {
      if (!keep(row.holder)) continue
      if (this.#release(row)) released++
    }
    for (const lease of this.ledger.openLeases(byName)) {
      if (!keep(lease.holder)) continue
      this.returnLeaseSync({
        lease_id: lease.reservation_id!,
        agent_id: lease.agent_id,
        holder: lease.holder,
        reason,
      })
      released++
    }
    // Nothing of a holder whose leases all went back is in flight any more.
    if (byName !== undefined) this.holds.removeHolder(byName)
    return released
  }

  /**
   * Lend part of an agent's budget to a gateway, so that it admits requests in memory and writes only
   * their settlement. With `top_up`, the gateway's open lease grows instead (a request never waits for
   * a second lease while the first still holds money). The request needs `min` (its worst case) beyond
   * what the lease holds free; the grant is at least that, about `want` (default: the agent's spend over
   * the last minute, at least $0.01 or two worst cases, at most half of what is not lent yet), at most what
   * remains. A refusal says what was
   * available and the budget's policy: with on_insufficient=clamp the gateway asks again for less.
   */
  grantLeaseSync(request: LeaseRequest): LeaseGrant {
    checkAmount(request.min_micros, 'lease')
    return this.#tx(() => {
      const found = this.ledger.budgetWithStatus(request.agent_id)
      if (!found) throw notFound('AGENT_NOT_FOUND', `No agent ${request.agent_id}`)
      const { status, ...row } = found
      const now = this.now()
      this.#rollTo(row, now, false)
      const base = {
        agent_id: row.agent_id,
        limit_micros: row.limit_micros,
        period_end: row.period_end,
        on_insufficient: row.on_insufficient,
      }
      if (status !== 'active') {
        const reason = status === 'deleted' ? 'agent_deleted' : 'agent_suspended'
        return { ...base, ok: false, reason, remaining_micros: Math.max(remainingOf(row) ?? 0, 0) }
      }
      const available = remainingOf(row)
      if (available === null) return { ...base, ok: true, lease_id: null, granted_micros: 0, counted_at: now }
      // A lease is topped up only while it is open and counts in this period; otherwise a new one starts.
      const top = request.top_up
      const opening = top ? this.ledger.reservation(top.lease_id) : undefined
      const topUp =
        top && opening?.open?.kind === 'lease_grant' && !opening.close && top.counted_at >= row.period_start
          ? { ...top, row: opening.open }
          : undefined
      const free = topUp ? Math.max(topUp.free_micros, 0) : 0
      const room = Math.max(available, 0) + free
      const worst = request.min_micros
      if (worst > room) {
        const own = topUp ? this.ledger.leaseOutstanding(topUp.row) : 0
        return {
          ...base,
          ok: false,
          reason: 'budget_exceeded',
          remaining_micros: room,
          leased_elsewhere_micros: Math.max(row.leased_micros - own, 0),
        }
      }
      const need = Math.max(worst - free, 0)
      // About a minute of spend, but never more than half of what is not yet lent: near the end of a
      // budget, one gateway's lease must not take what the agent's other gateways will ask for next.
      const size =
        request.want_micros ??
        Math.min(
          Math.max(
            this.#recentSpend(row.agent_id, now, topUp?.counted_at),
            LEASE_FLOOR_MICROS,
            LEASE_FLOOR_WORST_CASES * worst,
          ),
          Math.max(Math.ceil(Math.max(available, 0) / 2), LEASE_FLOOR_MICROS),
        )
      const granted = Math.min(Math.max(available, 0), Math.max(need, size))
      const leaseId = topUp ? topUp.lease_id : newId('lease', now)
      const countedAt = topUp ? topUp.counted_at : now
      if (granted > 0 || !topUp) {
        this.ledger.append(
          ledgerRow(row.agent_id, 'lease_grant', {
            reservation_id: leaseId,
            // A top-up names the lease it adds to, as a draw does; the opening row names none.
            lease_id: topUp ? leaseId : null,
            leased_delta: granted,
            counted_at: countedAt,
            at: now,
            holder: request.holder,
          }),
        )
        row.leased_micros += granted
        row.updated_at = now
        this.ledger.saveBalances(row)
        this.audit.record({
          actor: request.holder,
          action: 'budget.lease_grant',
          resource_type: 'lease',
          resource_id: leaseId,
          agent_id: row.agent_id,
          outcome: 'success',
          data: {
            granted_micros: granted,
            asked_micros: request.min_micros,
            top_up: Boolean(topUp),
            remaining_micros: available - granted,
          },
        })
      }
      return {
        ...base,
        ok: true,
        lease_id: leaseId,
        granted_micros: granted,
        counted_at: countedAt,
      }
    })
  }

  /**
   * Charge one request what its provider reported, in one commit row. Its lease pays up to `room_micros`
   * (what the lease held for it); the rest, if the provider billed more than the worst case or the lease
   * was reclaimed meanwhile, is drawn from what the budget has free. Spend is never hidden: what goes
   * beyond the limit is charged all the same, noted as overrun, and refuses the agent's next requests.
   */
  drawSync(request: DrawRequest): SettleResult {
    checkAmount(request.actual_micros, 'cost')
    return this.#tx(() => {
      const now = this.now()
      const leaseOpen = request.lease_id !== null && this.ledger.leaseOpen(request.lease_id)
      const fromLease = leaseOpen ? Math.min(request.actual_micros, Math.max(request.room_micros, 0)) : 0
      const excess = request.actual_micros - fromLease
      const counted = request.lease_id === null ? now : request.counted_at
      let overrun = 0
      if (excess > 0 && request.lease_id !== null) {
        const current = this.#current(request.agent_id)
        const sums = inPeriod(current, counted)
          ? { spent: current.spent_micros, reserved: current.reserved_micros, leased: current.leased_micros }
          : this.#windowSums(current, counted)
        if (current.limit_micros !== null) {
          const free = current.limit_micros - sums.spent - sums.reserved - sums.leased
          overrun = Math.max(excess - Math.max(free, 0), 0)
        }
      }
      this.ledger.append(
        ledgerRow(request.agent_id, 'commit', {
          reservation_id: request.reservation_id,
          lease_id: request.lease_id,
          spent_delta: request.actual_micros,
          leased_delta: -fromLease,
          counted_at: counted,
          at: now,
          holder: request.holder ?? null,
          model: request.model ?? null,
          provider: request.provider ?? null,
          input_tokens: request.input_tokens ?? null,
          output_tokens: request.output_tokens ?? null,
          cached_tokens: request.cached_tokens ?? null,
          cost_known: request.cost_known === false ? 0 : 1,
          overrun_micros: overrun || null,
        }),
      )
      // One statement moves the cached balances when the draw counts in the cached period (the usual case).
      const row =
        this.ledger.addToBalances(request.agent_id, request.actual_micros, -fromLease, counted, now) ??
        this.#current(request.agent_id)
      const alert = crossedThreshold(row)
      if (alert !== null) {
        row.alerted_pct = alert
        this.#alert(row, alert)
        this.ledger.saveBalances(row)
      }
      const remaining = remainingOf(row)
      return {
        reservation_id: request.reservation_id,
        agent_id: request.agent_id,
        charged_micros: request.actual_micros,
        overrun_micros: overrun,
        remaining_micros: remaining === null ? null : Math.max(remaining, 0),
        alert_pct: alert,
      }
    })
  }

  /** Whether a draw was charged already (its commit row is on the ledger). */
  drawnSync(draw: Pick<DrawRequest, 'agent_id' | 'lease_id' | 'counted_at' | 'reservation_id'>): boolean {
    return draw.lease_id === null
      ? this.ledger.reservation(draw.reservation_id).close !== undefined
      : this.ledger.drawWritten(draw.agent_id, draw.counted_at, draw.reservation_id)
  }

  /**
   * Give back what a lease did not spend, as its rows say (grant and top-ups, less its draws). A lease
   * already returned (reclaimed after its holder's heartbeat expired) is left as it is. Returns what went back.
   */
  returnLeaseSync(request: {
    lease_id: string
    agent_id: string
    holder?: string | null
    reason?: 'idle' | 'stopped' | 'expired' | 'changed'
  }): number {
    return this.#tx(() => {
      this.holds.remove(request.lease_id)
      const { open, close } = this.ledger.reservation(request.lease_id)
      if (open?.kind !== 'lease_grant' || close) return 0
      const unused = Math.max(this.ledger.leaseOutstanding(open), 0)
      const row = this.#current(request.agent_id)
      const now = this.now()
      this.ledger.append(
        ledgerRow(request.agent_id, 'lease_return', {
          reservation_id: request.lease_id,
          leased_delta: -unused,
          counted_at: open.counted_at,
          at: now,
          holder: open.holder,
        }),
      )
      if (inPeriod(row, open.counted_at)) {
        row.leased_micros -= unused
        row.updated_at = now
        this.ledger.saveBalances(row)
      }
      this.audit.record({
        actor: request.reason === 'expired' ? 'system' : (request.holder ?? undefined),
        action: 'budget.lease_return',
        resource_type: 'lease',
        resource_id: request.lease_id,
        agent_id: request.agent_id,
        outcome: 'success',
        data: { unused_micros: unused, holder: open.holder, reason: request.reason ?? 'returned' },
      })
      return unused
    })
  }

  /**
   * Give back part of an open lease, keeping the rest open for draws still on their way (a team gateway
   * returned its lease before all its reports arrived): a top-up row of the negative amount, so the lease's
   * rows still say what it holds. At most what it holds; returns what went back.
   */
  shrinkLeaseSync(request: { lease_id: string; agent_id: string; amount_micros: number }): number {
    checkAmount(request.amount_micros, 'lease return')
    return this.#tx(() => {
      const { open, close } = this.ledger.reservation(request.lease_id)
      if (open?.kind !== 'lease_grant' || close || open.agent_id !== request.agent_id) return 0
      const amount = Math.min(request.amount_micros, Math.max(this.ledger.leaseOutstanding(open), 0))
      if (amount === 0) return 0
      const row = this.#current(request.agent_id)
      const now = this.now()
      this.ledger.append(
        ledgerRow(request.agent_id, 'lease_grant', {
          reservation_id: request.lease_id,
          lease_id: request.lease_id,
          leased_delta: -amount,
          counted_at: open.counted_at,
          at: now,
          holder: open.holder,
        }),
      )
      if (inPeriod(row, open.counted_at)) {
        row.leased_micros -= amount
        row.updated_at = now
        this.ledger.saveBalances(row)
      }
      this.audit.record({
        actor: open.holder ?? undefined,
        action: 'budget.lease_return',
        resource_type: 'lease',
        resource_id: request.lease_id,
        agent_id: request.agent_id,
        outcome: 'success',
        data: { unused_micros: amount, holder: open.holder, reason: 'returned', partial: true },
      })
      return amount
    })
  }

  /**
   * The terms an agent's leases run under now (a server checks them with each report of a team gateway):
   * its status, limit, period and policy, and what the budget has free beyond spend, reservations and leases.
   */
  standingSync(agentId: string): LeaseStanding {
    return this.#tx(() => {
      const found = this.ledger.budgetWithStatus(agentId)
      if (!found) throw notFound('AGENT_NOT_FOUND', `No agent ${agentId}`)
      const { status, ...row } = found
      this.#rollTo(row, this.now(), false)
      const free = remainingOf(row)
      return {
        status: status as LeaseStanding['status'],
        limit_micros: row.limit_micros,
        period_end: row.period_end,
        on_insufficient: row.on_insufficient,
        free_micros: free === null ? null : Math.max(free, 0),
      }
    })
  }

  /**
   * Release a reservation a gateway from before leases left open: a release row gives back what it
   * reserved, counted in its period. False if it was closed meanwhile.
   */
  #release(reserve: LedgerRow): boolean {
    return this.#tx(() => {
      if (this.ledger.reservation(reserve.reservation_id!).close) return false
      // Rolled into the current period before the row is written, so the row is counted once.
      const row = this.#current(reserve.agent_id)
      const now = this.now()
      const held = reserve.reserved_delta
      this.ledger.append(
        ledgerRow(reserve.agent_id, 'release', {
          reservation_id: reserve.reservation_id,
          reserved_delta: -held,
          counted_at: reserve.counted_at,
          at: now,
          holder: reserve.holder,
        }),
      )
      if (inPeriod(row, reserve.counted_at)) {
        row.reserved_micros -= held
        row.updated_at = now
        this.ledger.saveBalances(row)
      }
      return true
    })
  }

  /**
   * About what the agent spent over the last minute, from its newest ledger rows: those counted in the
   * minute (adjustments, draws on leases opened in it) and, for a top-up of an older lease,
   * the lease's own draws (a draw counts at its lease's opening). Draws on other gateways' older leases
   * are not seen: each gateway's top-ups size its own lease.
   */
  #recentSpend(agentId: string, now: number, leaseCountedAt: number | undefined): number {
    const since = now - LEASE_SPEND_WINDOW_MS
    let spend = spendInWindow(this.ledger.spendCountedSince(agentId, since, LEASE_SPEND_ROWS), since, now)
    if (leaseCountedAt !== undefined && leaseCountedAt < since) {
      spend += spendInWindow(
        this.ledger.spendCountedAt(agentId, leaseCountedAt, LEASE_SPEND_ROWS),
        since,
        now,
      )
    }
    return spend
  }

  /** The budget row, rolled into the period that contains now. */
  #current(agentId: string): BudgetRow {
    const row = this.#budgetRow(agentId)
    this.#rollTo(row, this.now(), false)
    return row
  }

  #budgetRow(agentId: string): BudgetRow {
    const row = this.ledger.budget(agentId)
    if (!row) throw notFound('BUDGET_NOT_FOUND', `No budget for agent ${agentId}`)
    return row
  }

  /** Move the cached balances to the period containing `now`, derived from the rows; persisted if changed. */
  #rollTo(row: BudgetRow, now: number, force: boolean): void {
    if (!force && now >= row.period_start && (row.period_end === null || now < row.period_end)) return
    const bounds = periodBounds(row.period, row.timezone, now)
    const sums = this.ledger.sums(row.agent_id, bounds.start, bounds.end)
    row.period_start = bounds.start
    row.period_end = bounds.end
    row.spent_micros = sums.spent
    row.reserved_micros = sums.reserved
    row.leased_micros = sums.leased
    row.alerted_pct = 0
    row.updated_at = now
    this.ledger.saveBudget(row)
  }

  #windowSums(row: BudgetRow, at: number) {
    const bounds = periodBounds(row.period, row.timezone, at)
    return this.ledger.sums(row.agent_id, bounds.start, bounds.end)
  }

  #verify(row: BudgetRow): LedgerVerification {
    const derived = this.ledger.sums(row.agent_id, row.period_start, row.period_end)
    const problems: string[] = []
    const cached = {
      spent_micros: row.spent_micros,
      reserved_micros: row.reserved_micros,
      leased_micros: row.leased_micros,
    }
    const fromRows = {
      spent_micros: derived.spent,
      reserved_micros: derived.reserved,
      leased_micros: derived.leased,
    }
    for (const key of ['spent_micros', 'reserved_micros', 'leased_micros'] as const) {
      if (cached[key] !== fromRows[key]) {
        problems.push(
          `${key.replace('_micros', '')}: balance ${formatMoney(cached[key])} but the rows sum to ${formatMoney(fromRows[key])}`,
        )
      }
    }
    // Reservations are what gateways wrote before leases: each settled one released exactly what it held.
    const mismatched = this.db
      .prepare(
        `SELECT r.reservation_id FROM ledger r JOIN ledger c ON c.reservation_id = r.reservation_id AND c.lease_id IS NULL AND c.kind IN ('commit', 'release')
          WHERE r.kind = 'reserve' AND r.agent_id = ? AND (c.reserved_delta != -r.reserved_delta OR c.counted_at != r.counted_at)`,
      )
      .pluck()
      .all(row.agent_id) as string[]
    for (const id of mismatched)
      problems.push(`reservation ${id}: its settlement does not release what it reserved`)
    const orphans = this.db
      .prepare(
        `SELECT c.seq FROM ledger c WHERE c.agent_id = ? AND c.kind IN ('commit', 'release') AND c.reserved_delta != 0
          AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.reservation_id = c.reservation_id AND r.lease_id IS NULL AND r.kind = 'reserve')`,
      )
      .pluck()
      .all(row.agent_id) as number[]
    for (const seq of orphans) problems.push(`row ${seq}: a settlement without a reservation`)
    // Each lease: its draws never exceed the grant, and a returned lease gave back exactly the rest.
    const leases = this.db
      .prepare(
        `SELECT g.reservation_id AS lease,
          g.leased_delta + coalesce((SELECT sum(t.leased_delta) FROM ledger t WHERE t.agent_id = g.agent_id AND t.counted_at = g.counted_at AND t.lease_id = g.reservation_id AND t.kind = 'lease_grant'), 0) AS granted,
          coalesce((SELECT -sum(d.leased_delta) FROM ledger d WHERE d.agent_id = g.agent_id AND d.counted_at = g.counted_at AND d.lease_id = g.reservation_id AND d.kind = 'commit'), 0) AS drawn,
          (SELECT -r.leased_delta FROM ledger r WHERE r.reservation_id = g.reservation_id AND r.lease_id IS NULL AND r.kind = 'lease_return') AS returned
          FROM ledger g WHERE g.agent_id = ? AND g.kind = 'lease_grant' AND g.lease_id IS NULL`,
      )
      .all(row.agent_id) as Array<{ lease: string; granted: number; drawn: number; returned: number | null }>
    for (const l of leases) {
      if (l.drawn > l.granted)
        problems.push(
          `lease ${l.lease}: drew ${formatMoney(l.drawn)} from a grant of ${formatMoney(l.granted)}`,
        )
      if (l.returned !== null && l.drawn + l.returned !== l.granted) {
        problems.push(
          `lease ${l.lease}: granted ${formatMoney(l.granted)}, drew ${formatMoney(l.drawn)}, returned ${formatMoney(l.returned)}`,
        )
      }
    }
    const negative = fromRows.reserved_micros < 0 || fromRows.leased_micros < 0 || fromRows.spent_micros < 0
    if (negative) problems.push('a derived balance is negative')
    return { ok: problems.length === 0, rows: derived.rows, derived: fromRows, cached, problems }
  }

  /**
   * Worst cases of the requests now running, in the row's period: open reservations, and what gateways
   * hold on their open leases as of their last heartbeat. A heartbeat can predate draws it has not seen
   * yet, so holds count for no more than the leases still hold.
   */
  #inFlight(row: BudgetRow): number {
    const held = this.holds.heldInPeriod(row.agent_id, row.period_start, row.period_end)
    return row.reserved_micros + Math.min(held, Math.max(row.leased_micros, 0))
  }

  /** What people see: spent, in flight and available (remaining_micros); leased only as its own field. */
  #view(row: BudgetRow, agentName: string, inFlight: number): Budget {
    const limit = row.limit_micros
    const used = row.spent_micros + inFlight
    return {
      agent_id: row.agent_id,
      agent_name: agentName,
      limit_micros: row.limit_micros,
      period: row.period as Period,
      timezone: row.timezone,
      on_insufficient: row.on_insufficient,
      alert_thresholds: JSON.parse(row.alert_thresholds) as number[],
      period_start: row.period === 'none' ? null : iso(row.period_start),
      period_end: iso(row.period_end),
      spent_micros: row.spent_micros,
      in_flight_micros: inFlight,
      reserved_micros: row.reserved_micros,
      leased_micros: row.leased_micros,
      remaining_micros: limit === null ? null : Math.max(limit - used, 0),
      used_pct: limit === null ? null : limit === 0 ? 100 : Math.round((used / limit) * 1000) / 10,
      updated_at: iso(row.updated_at)!,
    }
  }

  /** A budget crossed an alert threshold: an audit event (iron top and webhooks read it from there). */
  #alert(row: BudgetRow, pct: number): void {
    this.audit.record({
      actor: 'system',
      action: 'budget.alert',
      resource_type: 'budget',
      resource_id: row.agent_id,
      agent_id: row.agent_id,
      outcome: 'success',
      data: {
        threshold_pct: pct,
        spent_micros: row.spent_micros,
        limit_micros: row.limit_micros,
        period_end: iso(row.period_end),
      },
    })
  }

  #tx<T>(fn: () => T): T {
    return this.writer.now(fn)
  }
}

/**
 * The spend of rows (newest first, at most LEASE_SPEND_ROWS) that happened since `since`. When every row
 * read is that recent, older ones were not read: the spend is scaled to the window from the time they span.
 */
function spendInWindow(rows: readonly SpendRow[], since: number, now: number): number {
  let spent = 0
  let oldest = now
  for (const row of rows) {
    if (row.at < since) return Math.max(spent, 0)
    spent += row.spent
    oldest = Math.min(oldest, row.at)
  }
  if (rows.length < LEASE_SPEND_ROWS) return Math.max(spent, 0)
  const span = Math.max(now - oldest, 1_000)
  return Math.max(Math.round((spent * LEASE_SPEND_WINDOW_MS) / span), 0)
}

/** Whether a movement counted at `at` falls in the budget row's cached period. */
function inPeriod(row: BudgetRow, at: number): boolean {
  return at >= row.period_start && (row.period_end === null || at < row.period_end)
}

function remainingOf(row: BudgetRow): number | null {
  return row.limit_micros === null
    ? null
    : row.limit_micros - row.spent_micros - row.reserved_micros - row.leased_micros
}

const thresholdCache = new Map<string, number[]>()
function parseThresholds(text: string): number[] {
  let parsed = thresholdCache.get(text)
  if (!parsed) {
    parsed = JSON.parse(text) as number[]
    thresholdCache.set(text, parsed)
  }
  return parsed
}

function crossedThreshold(row: BudgetRow): number | null {
  if (row.limit_micros === null || row.limit_micros === 0) return null
  const pct = (row.spent_micros / row.limit_micros) * 100
  const thresholds = parseThresholds(row.alert_thresholds)
  const crossed = thresholds.filter((t) => t <= pct && t > row.alerted_pct)
  return crossed.length ? Math.max(...crossed) : null
}

function ledgerRow(
  agentId: string,
  kind: LedgerRow['kind'],
  fields: Partial<LedgerRow> & { counted_at: number; at: number },
): LedgerRow {
  return {
    agent_id: agentId,
    kind,
    reservation_id: null,
    lease_id: null,
    spent_delta: 0,
    reserved_delta: 0,
    leased_delta: 0,
    holder: null,
    model: null,
    provider: null,
    input_tokens: null,
    output_tokens: null,
    cached_tokens: null,
    cost_known: null,
    overrun_micros: null,
    note: null,
    ...fields,
  }
}

function entryView(row: LedgerRow): LedgerEntry {
  return {
    seq: row.seq!,
    kind: row.kind,
    reservation_id: row.reservation_id,
    spent_delta_micros: row.spent_delta,
    reserved_delta_micros: row.reserved_delta,
    leased_delta_micros: row.leased_delta,
    at: iso(row.at)!,
    counted_at: iso(row.counted_at)!,
    model: row.model,
    provider: row.provider,
    input_tokens: row.input_tokens,
    output_tokens: row.output_tokens,
    cost_known: row.cost_known === null ? null : row.cost_known === 1,
    overrun_micros: row.overrun_micros,
    note: row.note,
  }
}

function checkAmount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS) {
    throw usageError('INVALID_MONEY', `Invalid ${what}: expected whole micro-USD between 0 and ${MAX_MICROS}`)
  }
}

function checkThresholds(values: number[]): number[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b)
  if (sorted.length === 0 || sorted.some((v) => !Number.isInteger(v) || v < 1 || v > 100)) {
    throw usageError(
      'INVALID_THRESHOLDS',
      'Alert thresholds are whole percentages from 1 to 100',
      'For example --alert-at 50,80,95,100',
    )
  }
  return sorted
}
