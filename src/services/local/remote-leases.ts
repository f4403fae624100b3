import { authError, IronError, notFound, refused, usageError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import { sealIpToken } from '../../core/ip-token.js'
import { formatMoney } from '../../core/money.js'
import { hashesEqual, hashSecret, isWellFormedSecret } from '../../core/secrets.js'
import type { AgentRow } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import { LedgerRepo } from '../../store/ledger.js'
import {
  type LeaseToken,
  type RemoteLeaseCloseReason,
  type RemoteLeaseRow,
  RemoteLeasesRepo,
} from '../../store/remote-leases.js'
import type { LeaseGrant } from '../api.js'
import type { LocalContext } from '../context.js'
import type { GatewayAgent, RequestRecord } from '../gateway-control.js'
import {
  type HandshakeInput,
  type HandshakeReply,
  LEASE_PROTOCOL,
  type LeaseProvider,
  type LeaseRevocation,
  type LeaseState,
  type RefreshReply,
  type ReportedEvent,
  type ReportReply,
  type ReturnReply,
} from '../lease-protocol.js'
import type { LeaseStanding } from './budgets.js'
import type { LocalControlPlane } from './index.js'
import { DEFAULT_BASE_URLS } from './providers.js'
import { auditRequest, recordData } from './request-audit.js'

/**
 * The server's side of the lease protocol (SPEC §6): team gateways borrow an agent's budget from `iron serve`
 * in leases, spend them in memory, and report what each request cost. Every movement of money is the
 * ledger's (LocalBudgets: the same grant, draw and return as a local gateway's), so one invariant holds for
 * any number of gateways: spent + in flight + leased ≤ limit. This file keeps the protocol's side: which
 * gateway holds each lease, until when (each report renews it; an expired lease's unreported rest goes back
 * to the budget), and which requests were reported (each charged once, however often it is replayed).
 */

/** How often a gateway reports (and so renews its leases). */
export const REPORT_INTERVAL_MS = 1_000
/** The most events one report may carry. */
export const MAX_REPORT_EVENTS = 500
/** The most leases one agent may have open at once (each gateway process holds one per agent). */
export const MAX_OPEN_LEASES_PER_AGENT = 1_000
/** How many expired leases one reclaim closes (the timer comes back for the rest). */
const RECLAIM_BATCH = 200

/** Who calls: an agent's IC token, or (reports and returns only) a lease's report key. */
type Caller =
  | {
      kind: 'token'
      token: LeaseToken
      /** Revoked or expired: it may still report and return, never borrow. */
      dead: boolean
    }
  | { kind: 'report_key'; hash: string }

type TokenCaller = Extract<Caller, { kind: 'token' }>

/** A report key: 32 random bytes, base64url. */
const REPORT_KEY_RE = /^[A-Za-z0-9_-]{43}$/

type Refusal = Extract<LeaseGrant, { ok: false }>

export class RemoteLeases {
  readonly #ctx: LocalContext
  readonly #cp: Omit<LocalControlPlane, 'remoteLeases'>
  #repos: { db: Db; leases: RemoteLeasesRepo; ledger: LedgerRepo; writer: GroupCommit } | undefined

  constructor(ctx: LocalContext, cp: Omit<LocalControlPlane, 'remoteLeases'>) {
    this.#ctx = ctx
    this.#cp = cp
  }

  /** How long a lease lives without a report (`serve.lease_ttl`). */
  get ttlMs(): number {
    return Number(this.#ctx.config.get('serve.lease_ttl')) * 1_000
  }

  /**
   * Lend part of the agent's budget to a gateway, or find the lease this gateway already holds for the agent
   * (a retry, or another token of the agent), topped up when asked. The provider keys come sealed for the
   * lease and the caller's IC token.
   */
  async handshake(input: HandshakeInput): Promise<HandshakeReply> {
    const caller = this.#tokenCaller(input.ic_token)
    if (caller.dead) throw deadToken(caller)
    const min = input.min_micros ?? 0
    const outcome = await this.#write(() => {
      this.#reclaim(this.#now())
      const now = this.#now()
      const agentId = caller.token.agent_id
      const standing = this.#cp.budgets.standingSync(agentId)
      let lease = this.#r.leases.openFor(agentId, input.runtime_id)
      if (lease) {
        const reason = this.#revocation(lease, caller, standing, now)
        if (reason) {
          this.#close(lease, reason, now)
          lease = undefined
        }
      }
      if (lease) {
        const outstanding = this.#outstanding(lease)
        const want = input.requested_micros
        if (!lease.metered_only && (min > outstanding || (want !== undefined && want > outstanding))) {
          const grant = this.#cp.budgets.grantLeaseSync({
            agent_id: agentId,
            min_micros: Math.max(min - outstanding, 0),
            want_micros: want === undefined ? undefined : Math.max(want - outstanding, 0),
            holder: holderOf(lease.runtime_id),
            top_up: { lease_id: lease.lease_id, counted_at: lease.counted_at, free_micros: 0 },
          })
          if (!grant.ok) return { kind: 'refused' as const, refusal: grant }
          this.#r.leases.addGranted(lease.lease_id, grant.granted_micros)
        }
      } else {
        // A token holder cannot tie the agent's budget up in leases of made-up gateways without end.
        if (this.#r.leases.openCount(agentId) >= MAX_OPEN_LEASES_PER_AGENT)
          return { kind: 'crowded' as const }
        const grant = this.#cp.budgets.grantLeaseSync({
          agent_id: agentId,
          min_micros: min,
          want_micros: input.requested_micros,
          holder: holderOf(input.runtime_id),
        })
        if (!grant.ok) return { kind: 'refused' as const, refusal: grant }
        const leaseId = grant.lease_id ?? newId('lease', now)
        this.#r.leases.insert({
          lease_id: leaseId,
          agent_id: agentId,
          token_id: caller.token.id,
          runtime_id: input.runtime_id,
          runtime_version: input.runtime_version,
          host: input.host ?? null,
          metered_only: grant.lease_id === null ? 1 : 0,
          counted_at: grant.counted_at,
          limit_micros: grant.limit_micros,
          period_end: grant.period_end,
          granted_micros: grant.granted_micros,
          created_at: now,
          renewed_at: now,
          expires_at: now + this.ttlMs,
        })
        lease = this.#r.leases.get(leaseId)!
      }
      this.#r.leases.renew(lease.lease_id, now, now + this.ttlMs)
      this.#r.leases.addToken(lease.lease_id, caller.token.id)
      if (input.report_key !== undefined)
        this.#r.leases.setReportKey(lease.lease_id, hashSecret(input.report_key))
      return {
        kind: 'ok' as const,
        lease: this.#r.leases.get(lease.lease_id)!,
        standing: this.#cp.budgets.standingSync(agentId),
      }
    })
    if (outcome.kind === 'refused') throw this.#refusal(outcome.refusal, caller)
    if (outcome.kind === 'crowded') {
      throw new IronError(
        'TOO_MANY_LEASES',
        `${caller.token.agent_name} has ${MAX_OPEN_LEASES_PER_AGENT} leases open, one per gateway: no more are lent until some are returned or expire`,
        {
          hint: 'Stop gateways that do not serve this agent, or wait for their leases to expire (serve.lease_ttl)',
        },
      )
    }
    const { lease, standing } = outcome
    const agent = this.#agentRow(lease.agent_id)
    const state = this.#state(lease)
    return {
      protocol: LEASE_PROTOCOL,
      lease_id: lease.lease_id,
      granted_micros: state.granted_micros,
      drawn_micros: state.drawn_micros,
      expires_at: state.expires_at,
      counted_at: lease.counted_at,
      period_end: standing.period_end,
      limit_micros: standing.limit_micros,
      on_insufficient: standing.on_insufficient,
      agent_remaining_micros: standing.free_micros,
      token_id: caller.token.id,
      agent: this.#agentView(agent, standing),
      providers: this.#providers(agent, input.ic_token, lease.lease_id),
      prices: this.#cp.pricing
        .table()
        .list()
        .map(({ source: _, ...price }) => price),
      report_interval_ms: REPORT_INTERVAL_MS,
    }
  }

  /**
   * What the gateway's requests cost, charged once each: a request already reported is skipped. Each charge
   * is a draw on the lease (the part beyond what the lease holds comes from the budget's free part, overrun
   * noted), as a local gateway's settlement; records without a cost are only recorded. The lease is renewed;
   * or, when the token was revoked, the agent suspended or deleted, or its budget's terms changed, it is
   * closed and the reply says so. A lease that expired (or went back) is reclaimed first and its late
   * reports are charged to the budget directly. An empty report is a heartbeat.
   */
  async report(secret: string, leaseId: string, events: readonly ReportedEvent[]): Promise<ReportReply> {
    if (events.length > MAX_REPORT_EVENTS)
      throw usageError('TOO_MANY_EVENTS', `A report carries at most ${MAX_REPORT_EVENTS} events`)
    const caller = this.#caller(secret, { reportKey: true })
    if (events.length === 0) {
      const beat = this.#heartbeat(caller, leaseId)
      if (beat) return beat
    }
    return this.#write(() => {
      const now = this.#now()
      const lease = this.#leaseOf(caller, leaseId)
      let standing = this.#cp.budgets.standingSync(lease.agent_id)
      // Expired or gone back: reclaimed first, so what follows is charged to the budget directly.
      if (lease.closed_at === null) {
        const gone = this.#expiredOrGone(lease, now)
        if (gone) this.#close(lease, gone, now)
      }
      let open = this.#r.leases.get(lease.lease_id)!
      let outstanding = open.closed_at === null ? this.#outstanding(open) : 0
      const tokens = new Map<string, boolean>()
      let accepted = 0
      let duplicates = 0
      let reported = 0
      let drawn = 0
      for (const event of events) {
        if (!this.#r.leases.claimRequest(event.request_id, lease.lease_id, event.cost_micros, now)) {
          duplicates++
          continue
        }
        accepted++
        const record: RequestRecord = {
          ...event.record,
          id: event.request_id,
          agent_id: lease.agent_id,
          token_id: this.#tokenOf(event.record.token_id, lease, tokens),
          model: event.model,
          provider: event.provider,
          input_tokens: event.input_tokens,
          output_tokens: event.output_tokens,
          cached_tokens: event.cached_tokens,
          cost_known: event.cost_micros === null ? event.record.cost_known : event.cost_known ? 1 : 0,
          holder: lease.runtime_id,
        }
        if (event.cost_micros !== null) {
          const room = Math.min(Math.max(event.room_micros ?? 0, 0), Math.max(outstanding, 0))
          const result = this.#cp.budgets.drawSync({
            reservation_id: event.request_id,
            agent_id: lease.agent_id,
            // A lease without a ledger grant (no limit) or closed: nothing is drawn from it, all from the budget.
            lease_id: lease.lease_id,
            counted_at: open.metered_only ? now : open.counted_at,
            room_micros: open.closed_at === null && !open.metered_only ? room : 0,
            actual_micros: event.cost_micros,
            holder: holderOf(lease.runtime_id),
            cost_known: event.cost_known,
            model: event.model ?? undefined,
            provider: event.provider ?? undefined,
            input_tokens: event.input_tokens ?? undefined,
            output_tokens: event.output_tokens ?? undefined,
            cached_tokens: event.cached_tokens ?? undefined,
          })
          if (open.closed_at === null && !open.metered_only) {
            const fromLease = Math.min(event.cost_micros, room)
            outstanding -= fromLease
            drawn += fromLease
          }
          record.cost_micros = result.charged_micros
          reported += event.cost_micros
        } else {
          record.cost_micros = null
        }
        this.#record(record, lease)
      }
      this.#r.leases.addReported(lease.lease_id, reported, drawn)
      open = this.#r.leases.get(lease.lease_id)!
      if (open.closed_at === null) {
        standing = this.#cp.budgets.standingSync(lease.agent_id)
        const revocation = this.#revocation(open, caller, standing, now)
        if (revocation) this.#close(open, revocation, now)
        else if (open.return_spent_micros !== null && open.reported_micros >= open.return_spent_micros)
          // Given back before all of it was reported: now it all is, and the rest goes back too.
          this.#close(open, 'returned', now)
        else this.#r.leases.renew(open.lease_id, now, now + this.ttlMs)
      }
      const after = this.#r.leases.get(lease.lease_id)!
      // A closed lease is revoked for its gateway: why, when it was revoked; 'expired' when it ran out or went back.
      const reason: LeaseRevocation | null =
        after.closed_at === null
          ? null
          : after.close_reason === 'returned' || after.close_reason === null
            ? 'expired'
            : after.close_reason
      return {
        protocol: LEASE_PROTOCOL,
        accepted,
        duplicates,
        lease: { ...this.#state(after), revoked: reason !== null, reason },
        agent: {
          status: standing.status,
          limit_micros: standing.limit_micros,
          remaining_micros: standing.free_micros,
        },
      }
    })
  }

  /**
   * Grow an open lease: `min_micros` is what the request at hand needs beyond what the lease holds free, and
   * the lease is topped up by about the agent's recent spend (or `requested_micros`), at most what remains.
   * A lease that is closed, expired or out of its terms cannot grow: 409 LEASE_CLOSED, and the gateway shakes
   * hands again; a suspended or deleted agent is refused (402), its lease closed.
   */
  async refresh(
    secret: string,
    input: { lease_id: string; min_micros: number; requested_micros?: number },
  ): Promise<RefreshReply> {
    const caller = this.#tokenCaller(secret)
    if (caller.dead) throw deadToken(caller)
    const outcome = await this.#write(() => {
      this.#reclaim(this.#now())
      const now = this.#now()
      const lease = this.#leaseOf(caller, input.lease_id)
      if (lease.closed_at !== null || lease.return_spent_micros !== null)
        return {
          kind: 'closed' as const,
          reason: lease.closed_at === null ? ('returned' as const) : lease.close_reason!,
        }
      const standing = this.#cp.budgets.standingSync(lease.agent_id)
      const reason = this.#expiredOrGone(lease, now) ?? this.#revocation(lease, caller, standing, now)
      if (reason) {
        this.#close(lease, reason, now)
        if (reason === 'agent_suspended' || reason === 'agent_deleted') {
          return {
            kind: 'refused' as const,
            refusal: {
              ok: false,
              reason,
              agent_id: lease.agent_id,
              limit_micros: standing.limit_micros,
              period_end: standing.period_end,
              on_insufficient: standing.on_insufficient,
              remaining_micros: standing.free_micros ?? 0,
            } satisfies Refusal,
          }
        }
        return { kind: 'closed' as const, reason }
      }
      let added = 0
      if (!lease.metered_only) {
        const grant = this.#cp.budgets.grantLeaseSync({
          agent_id: lease.agent_id,
          min_micros: input.min_micros,
          want_micros: input.requested_micros,
          holder: holderOf(lease.runtime_id),
          top_up: { lease_id: lease.lease_id, counted_at: lease.counted_at, free_micros: 0 },
        })
        if (!grant.ok) return { kind: 'refused' as const, refusal: grant }
        added = grant.granted_micros
        this.#r.leases.addGranted(lease.lease_id, added)
      }
      this.#r.leases.renew(lease.lease_id, now, now + this.ttlMs)
      const after = this.#r.leases.get(lease.lease_id)!
      return {
        kind: 'ok' as const,
        lease: after,
        added,
        standing: this.#cp.budgets.standingSync(lease.agent_id),
      }
    })
    if (outcome.kind === 'refused') throw this.#refusal(outcome.refusal, caller)
    if (outcome.kind === 'closed') throw leaseClosed(input.lease_id, outcome.reason)
    const state = this.#state(outcome.lease)
    return {
      protocol: LEASE_PROTOCOL,
      lease_id: outcome.lease.lease_id,
      granted_micros: state.granted_micros,
      added_micros: outcome.added,
      expires_at: state.expires_at,
      agent_remaining_micros: outcome.standing.free_micros,
    }
  }

  /**
   * Give back what the lease did not spend. `spent_micros` is what the gateway says it spent on the lease:
   * what of it is not reported yet stays held on the lease until those reports arrive (or it expires).
   * Idempotent: a lease already closed answers what it gave back.
   */
  async return(secret: string, input: { lease_id: string; spent_micros: number }): Promise<ReturnReply> {
    const caller = this.#caller(secret, { reportKey: true })
    return this.#write(() => {
      const now = this.#now()
      const lease = this.#leaseOf(caller, input.lease_id)
      if (lease.closed_at === null) {
        const gone = this.#expiredOrGone(lease, now)
        if (gone) {
          this.#close(lease, gone, now)
        } else {
          const pending = Math.max(input.spent_micros - lease.reported_micros, 0)
          const outstanding = this.#outstanding(lease)
          const hold = Math.min(pending, outstanding)
          if (hold === 0) {
            this.#close(lease, 'returned', now)
          } else {
            const back = this.#cp.budgets.shrinkLeaseSync({
              lease_id: lease.lease_id,
              agent_id: lease.agent_id,
              amount_micros: outstanding - hold,
            })
            this.#r.leases.returnedPart(lease.lease_id, back, input.spent_micros)
          }
        }
      }
      const after = this.#r.leases.get(lease.lease_id)!
      return {
        protocol: LEASE_PROTOCOL,
        lease_id: after.lease_id,
        returned_micros: after.returned_micros,
        reported_micros: after.reported_micros,
      }
    })
  }

  /**
   * An empty report (every gateway sends one per lease each second) on a lease that is fine and was renewed
   * lately: answered from reads alone, no write. Undefined when it needs the full report's transaction (to
   * renew, close, or read a budget whose period has ended).
   */
  #heartbeat(caller: Caller, leaseId: string): ReportReply | undefined {
    const now = this.#now()
    const lease = this.#leaseOf(caller, leaseId)
    if (lease.closed_at !== null || now - lease.renewed_at >= Math.min(this.ttlMs / 30, 30_000))
      return undefined
    const standing = this.#standingRead(lease.agent_id, now)
    if (!standing || this.#revocation(lease, caller, standing, now) !== null) return undefined
    return {
      protocol: LEASE_PROTOCOL,
      accepted: 0,
      duplicates: 0,
      lease: { ...this.#state(lease), revoked: false, reason: null },
      agent: {
        status: standing.status,
        limit_micros: standing.limit_micros,
        remaining_micros: standing.free_micros,
      },
    }
  }

  /** The agent's standing from its budget's cached row, when that row is of the current period (else undefined). */
  #standingRead(agentId: string, now: number): LeaseStanding | undefined {
    const row = this.#r.ledger.budgetWithStatus(agentId)
    if (!row || now < row.period_start || (row.period_end !== null && now >= row.period_end)) return undefined
    const free =
      row.limit_micros === null
        ? null
        : Math.max(row.limit_micros - row.spent_micros - row.reserved_micros - row.leased_micros, 0)
    return {
      status: row.status as LeaseStanding['status'],
      limit_micros: row.limit_micros,
      period_end: row.period_end,
      on_insufficient: row.on_insufficient,
      free_micros: free,
    }
  }

  /** Give back the unreported rest of every lease whose gateway stopped renewing it; returns how many. */
  async reclaimExpired(): Promise<number> {
    return this.#write(() => this.#reclaim(this.#now()))
  }

  /** A lease as the protocol's tables and the ledger hold it (tests and `iron serve`'s views). */
  lease(
    leaseId: string,
  ): (RemoteLeaseRow & { outstanding_micros: number; ledger_outstanding_micros: number }) | undefined {
    const row = this.#r.leases.get(leaseId)
    if (!row) return undefined
    const { open, close } = this.#r.ledger.reservation(leaseId)
    const ledger = open?.kind === 'lease_grant' && !close ? this.#r.ledger.leaseOutstanding(open) : 0
    return { ...row, outstanding_micros: this.#outstanding(row), ledger_outstanding_micros: ledger }
  }

  #reclaim(now: number): number {
    let closed = 0
    for (const leaseId of this.#r.leases.expired(now, RECLAIM_BATCH)) {
      const lease = this.#r.leases.get(leaseId)!
      this.#close(lease, 'expired', now)
      closed++
    }
    return closed
  }

  /** Close a lease: the ledger takes back what it holds (derived from its rows), the protocol's row ends. */
  #close(lease: RemoteLeaseRow, reason: RemoteLeaseCloseReason, now: number): void {
    const back = lease.metered_only
      ? 0
      : this.#cp.budgets.returnLeaseSync({
          lease_id: lease.lease_id,
          agent_id: lease.agent_id,
          holder: holderOf(lease.runtime_id),
          reason: reason === 'returned' ? 'stopped' : reason === 'expired' ? 'expired' : 'changed',
        })
    this.#r.leases.close(lease.lease_id, now, reason, back)
  }

  /** Why an open lease cannot be used any more, from the gateway's side: it expired, or the ledger closed it. */
  #expiredOrGone(lease: RemoteLeaseRow, now: number): 'expired' | null {
    if (lease.expires_at <= now) return 'expired'
    if (!lease.metered_only && !this.#r.ledger.leaseOpen(lease.lease_id)) return 'expired'
    return null
  }

  /** Why a lease must stop lending: its token, its agent, or the terms it was taken under. */
  #revocation(
    lease: RemoteLeaseRow,
    caller: Caller,
    standing: LeaseStanding,
    now: number,
  ): LeaseRevocation | null {
    if ((caller.kind === 'token' && caller.dead) || this.#r.leases.anyTokenDead(lease.lease_id, now))
      return 'token_revoked'
    if (standing.status === 'deleted') return 'agent_deleted'
    if (standing.status !== 'active') return 'agent_suspended'
    if (standing.limit_micros !== lease.limit_micros || standing.period_end !== lease.period_end)
      return 'limit_changed'
    return this.#expiredOrGone(lease, now)
  }

  /** What an open lease holds: what was lent on it, less what its draws took and what went back. */
  #outstanding(lease: RemoteLeaseRow): number {
    if (lease.metered_only || lease.closed_at !== null || !this.#r.ledger.leaseOpen(lease.lease_id)) return 0
    return Math.max(lease.granted_micros - lease.returned_micros - lease.drawn_micros, 0)
  }

  /** granted: what was lent on the lease in all (grant and top-ups); drawn: what reports took from it. */
  #state(lease: RemoteLeaseRow): Omit<LeaseState, 'revoked' | 'reason'> {
    return {
      lease_id: lease.lease_id,
      granted_micros: lease.granted_micros,
      drawn_micros: lease.drawn_micros,
      expires_at: new Date(lease.expires_at).toISOString(),
    }
  }

  /**
   * Who calls: an IC token (unknown → 401; revoked or expired, known: it may still report and return), or,
   * where `reportKey` allows, a lease's report key (checked against the lease it names).
   */
  #caller(secret: string, options: { reportKey?: boolean } = {}): Caller {
    if (options.reportKey && REPORT_KEY_RE.test(secret))
      return { kind: 'report_key', hash: hashSecret(secret) }
    if (!isWellFormedSecret(secret, 'ic')) {
      throw authError(
        'INVALID_TOKEN',
        'The lease protocol takes an agent IC token (iron_ic_…)',
        'Start the gateway with the agent token it serves; sessions and API tokens are for people',
      )
    }
    const hash = hashSecret(secret)
    const token = this.#r.leases.tokenByHash(hash)
    if (!token || !hashesEqual(token.token_hash, hash))
      throw authError(
        'INVALID_TOKEN',
        'This IC token is not known to this server',
        'Check the token, or issue one: iron tokens issue <agent>',
      )
    const now = this.#now()
    const dead = token.revoked_at !== null || (token.expires_at !== null && token.expires_at <= now)
    return { kind: 'token', token, dead }
  }

  #tokenCaller(secret: string): TokenCaller {
    return this.#caller(secret) as TokenCaller
  }

  /** The lease, if it belongs to the caller's agent (another agent's lease is not there for it). */
  #leaseOf(caller: Caller, leaseId: string): RemoteLeaseRow {
    const lease = this.#r.leases.get(leaseId)
    const ours =
      caller.kind === 'token'
        ? lease?.agent_id === caller.token.agent_id
        : lease?.report_key_hash != null && hashesEqual(lease.report_key_hash, caller.hash)
    if (!lease || !ours)
      throw notFound(
        'LEASE_NOT_FOUND',
        `No lease ${leaseId} of this agent`,
        'Shake hands again: POST /api/v1/budget/handshake',
      )
    return lease
  }

  /** The token a record names, if it is one of the lease's agent's; else the token that took the lease. */
  #tokenOf(tokenId: string | null, lease: RemoteLeaseRow, seen: Map<string, boolean>): string {
    if (tokenId === null || tokenId === lease.token_id) return lease.token_id
    let ours = seen.get(tokenId)
    if (ours === undefined) {
      ours = this.#r.leases.tokenAgent(tokenId) === lease.agent_id
      seen.set(tokenId, ours)
    }
    return ours ? tokenId : lease.token_id
  }

  /** A refusal, with the agent as a gateway needs it to answer its client as a local gateway would. */
  #refusal(refusal: Refusal, caller: TokenCaller): IronError {
    const row = this.#agentRow(caller.token.agent_id)
    const standing = this.#cp.budgets.standingSync(row.id)
    const error = leaseRefusal(refusal, row.name, this.#agentView(row, standing))
    if (error.details) error.details.token_id = caller.token.id
    return error
  }

  #agentRow(agentId: string): AgentRow {
    const row = this.#cp.repos.agents.byId(agentId)
    if (!row) throw notFound('AGENT_NOT_FOUND', `No agent ${agentId}`)
    return row
  }

  #agentView(row: AgentRow, standing: LeaseStanding): GatewayAgent {
    return {
      id: row.id,
      name: row.name,
      status: row.deleted_at !== null ? 'deleted' : row.status,
      allowed_providers: JSON.parse(row.allowed_providers) as string[],
      allowed_models: JSON.parse(row.allowed_models) as string[],
      rpm_limit: row.rpm_limit,
      tpm_limit: row.tpm_limit,
      budgeted: standing.limit_micros !== null,
      policy: this.#cp.safety.effectiveFor(row),
    }
  }

  /** The providers the agent may use, each key sealed for this lease and token (never in the clear). */
  #providers(agent: AgentRow, icToken: string, leaseId: string): LeaseProvider[] {
    const allowed = JSON.parse(agent.allowed_providers) as string[]
    return this.#cp.repos.providers
      .list()
      .filter((p) => allowed.length === 0 || allowed.includes(p.name))
      .map((p) => {
        const key = this.#cp.providers.apiKey(p)
        return {
          id: p.id,
          provider: p.name,
          kind: p.kind,
          base_url: p.base_url ?? DEFAULT_BASE_URLS[p.kind] ?? null,
          ip_token: key === null ? null : sealIpToken(icToken, leaseId, p.id, key),
        }
      })
  }

  /** A reported request's record is its audit event, as a local gateway writes it, naming the gateway. */
  #record(record: RequestRecord, lease: RemoteLeaseRow): void {
    auditRequest(this.#cp.audit, record, {
      actor: `agent:${lease.agent_id}`,
      agent_id: lease.agent_id,
      data: { ...recordData(record), host: lease.host, lease_id: lease.lease_id },
    })
  }

  #now(): number {
    return this.#ctx.now()
  }

  /** One transaction on the store's group commit (retried while another process holds the lock). */
  #write<T>(fn: () => T): Promise<T> {
    return this.#r.writer.run(fn)
  }

  get #r() {
    if (!this.#repos) {
      const db = this.#ctx.db()
      this.#repos = {
        db,
        leases: new RemoteLeasesRepo(db),
        ledger: new LedgerRepo(db),
        writer: groupCommitOf(db),
      }
    }
    return this.#repos
  }
}

/** How the ledger names a team gateway's leases: never `gw:…`, which local gateways' heartbeats reclaim. */
export const holderOf = (runtimeId: string) => `remote:${runtimeId}`

function deadToken(caller: TokenCaller): IronError {
  const revoked = caller.token.revoked_at !== null
  return authError(
    revoked ? 'TOKEN_REVOKED' : 'TOKEN_EXPIRED',
    `This IC token of ${caller.token.agent_name} was ${revoked ? 'revoked' : 'expired'}`,
    "Use the agent's current token (iron tokens show <agent>), or issue one: iron tokens issue <agent>",
  )
}

/** A grant refused: 402, with what the gateway needs to answer its client as a local gateway would. */
function leaseRefusal(refusal: Refusal, agentName: string, agent: GatewayAgent): IronError {
  const details = {
    agent,
    reason: refusal.reason,
    remaining_micros: refusal.remaining_micros,
    leased_elsewhere_micros: refusal.leased_elsewhere_micros ?? null,
    limit_micros: refusal.limit_micros,
    period_end: refusal.period_end,
    on_insufficient: refusal.on_insufficient,
  }
  if (refusal.reason === 'budget_exceeded') {
    return refused(
      'BUDGET_EXCEEDED',
      `${agentName} has ${formatMoney(refusal.remaining_micros)} of its budget free; the request needs more`,
      `Raise the limit (iron budget set ${agentName} --limit …) or wait for the period to reset`,
      details,
    )
  }
  const suspended = refusal.reason === 'agent_suspended'
  return refused(
    suspended ? 'AGENT_SUSPENDED' : 'AGENT_DELETED',
    `${agentName} is ${suspended ? 'suspended' : 'deleted'}: no budget is lent to it`,
    suspended ? `Resume it: iron agents update ${agentName} --status active` : undefined,
    details,
  )
}

function leaseClosed(leaseId: string, reason: RemoteLeaseCloseReason): IronError {
  return new IronError('LEASE_CLOSED', `Lease ${leaseId} is closed (${reason}); it cannot grow`, {
    hint: 'Shake hands again: POST /api/v1/budget/handshake',
    details: { reason },
  })
}
