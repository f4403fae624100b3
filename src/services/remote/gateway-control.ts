import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { ExitCode, IronError } from '../../core/errors.js'
import { openIpToken } from '../../core/ip-token.js'
import { BUNDLED_PRICES, type ModelPrice, PriceTable } from '../../pricing/index.js'
import type { Budget, DrawRequest, LeaseGrant, LeaseRequest, OnInsufficient, SettleResult } from '../api.js'
import {
  type BudgetTerms,
  type ChangeDomain,
  ControlPlaneUnreachable,
  type GatewayAgent,
  type GatewayControl,
  type GatewayIdentity,
  type GatewayProvider,
  type HolderInfo,
  type LeaseHold,
  type RequestRecord,
} from '../gateway-control.js'
import type { ReportedEvent } from '../lease-protocol.js'
import {
  type HandshakeAnswer,
  isUnreachable,
  LeaseClient,
  REQUEST_PATH_TIMEOUT_MS,
  type ReportAnswer,
  rejectsBatch,
} from './lease-client.js'
import { Outbox, type OutboxLease } from './outbox.js'
import { Reporter } from './reporter.js'

export interface RemoteGatewayControlOptions {
  /** The `iron serve` that holds the budgets (normalized URL). */
  server: string
  /** The data dir: the outbox lives in its `gateway-outbox/`. */
  dataDir: string
  /** iron's version, sent as the runtime's. */
  version: string
  /** Where the gateway's own lines go (stderr). */
  log?: (line: string) => void
  now?: () => number
}

/** A token's identity is asked again in the background after this long (agent settings, providers, prices). */
const IDENTITY_TTL_MS = 30_000
const IDENTITY_RETRY_MS = 5_000
/** Unknown tokens are not asked about again for this long (a client retrying a bad key costs no server calls). */
const UNKNOWN_TOKEN_TTL_MS = 10_000
const UNKNOWN_TOKENS_MAX = 10_000
/** A lease is taken for lost this long (at most a quarter of its life) before the server would reclaim it. */
const EXPIRY_MARGIN_MS = 30_000
/** serve.lease_ttl's least value: what a lease's life is taken to be until the server has shown it. */
const MIN_LEASE_TTL_MS = 10_000
/** Refresh a lease in the background when it has less than this part of its size left, or less than $1. */
const REFRESH_FRACTION = 0.1
const REFRESH_FLOOR_MICROS = 1_000_000
/** A failure to reach the server is said once it has lasted this long (or refused a request). */
const OUTAGE_SAID_AFTER_MS = 5_000
/** How long shutdown waits for the outbox to reach the server (what is left is sent at the next start). */
const SHUTDOWN_FLUSH_MS = 5_000

/** A lease the server granted this gateway (one per agent at a time; older ones until they are settled). */
interface ServerLease {
  id: string
  agentId: string
  /** The IC token it was taken with (refresh needs it); memory only. */
  secret: string
  /** Granted in all, as the server last said. */
  granted: number
  /** Of that, what the gateway's lease book was given. */
  handed: number
  /** What draws took from it, by this gateway's count. */
  drawn: number
  /** What it held after its last grant (the size the background refresh keeps it near). */
  size: number
  drawnSinceGrant: number
  countedAt: number
  periodEnd: number | null
  limit: number | null
  onInsufficient: OnInsufficient
  /** When (this machine's clock) the call that last renewed it on the server was sent. */
  renewedAt: number
  revoked: boolean
  /** Going back (or gone): no more lending from it. */
  returning: boolean
  returned: Promise<void> | undefined
  refreshing: Promise<unknown> | undefined
  lastRefreshAt: number
  /** Lease-book leases on it still open, and how many it was given in all (their ids). */
  books: Set<string>
  booksMade: number
}

/** What the lease book holds on a server lease: its own id (the book may hold a retired one beside a new one). */
interface BookLease {
  id: string
  lease: ServerLease
  handed: number
  drawn: number
}

interface KnownToken {
  secret: string
  token_id: string
  agent: GatewayAgent
  at: number
  /** Its agent's lease was revoked: it shakes hands again before its next request is served. */
  stale: boolean
}

interface AgentState {
  status: GatewayAgent['status']
  limit: number | null
  remaining: number | null
  /** The lease the book was last given for it (a new book lease replaces the book's current one). */
  currentBook: string | undefined
}

type Refusal = {
  reason: 'budget_exceeded' | 'agent_suspended' | 'agent_deleted'
  remaining: number
  elsewhere?: number
}
/** The server closed the lease (expired, revoked, given back): a new one is needed. */
const CLOSED = 'closed' as const

/**
 * The gateway's port on an `iron serve` (team mode, SPEC §6): each IC token shakes hands once for a lease
 * of its agent's budget, requests are admitted against it in memory (the same LeaseBook as local mode),
 * and each settlement or record is written to the gateway's own outbox before its answer ends, then
 * reported in batches. Leases are refreshed before they run dry and given back on shutdown. When the
 * server cannot be reached, the gateway serves within what it holds and refuses the rest (fail closed).
 * Provider keys arrive wrapped (ip_token) and are opened into memory only.
 */
export class RemoteGatewayControl implements GatewayControl {
  readonly location: string
  readonly #o: RemoteGatewayControlOptions
  readonly #client: LeaseClient
  readonly #clients = new Map<string, LeaseClient>()
  readonly #outbox: Outbox
  readonly #reporter: Reporter
  readonly #now: () => number
  readonly #log: (line: string) => void
  /** Chosen once per process: reports and returns of its leases may carry it instead of an IC token. */
  readonly #reportKey = randomBytes(32).toString('base64url')
  #runtime = `gw:${hostname()}:${process.pid}:${Date.now()}`
  readonly #tokens = new Map<string, KnownToken>()
  readonly #shaking = new Map<string, Promise<KnownToken | undefined>>()
  readonly #unknown = new Map<string, number>()
  readonly #leases = new Map<string, ServerLease>()
  readonly #current = new Map<string, ServerLease>()
  /** Each agent's newest lease, even once given back: what its later records are filed under. */
  readonly #last = new Map<string, ServerLease>()
  readonly #books = new Map<string, BookLease>()
  readonly #agents = new Map<string, AgentState>()
  readonly #providers = new Map<string, GatewayProvider>()
  readonly #keys = new Map<string, string | null>()
  readonly #listeners: Array<(changed: ReadonlySet<ChangeDomain>) => void> = []
  #prices: PriceTable | undefined
  #reachable = true
  /** How long the server keeps a lease without a report (from a new lease's answer; the least it can be until then). */
  #leaseTtlMs = MIN_LEASE_TTL_MS
  #downSince: number | undefined
  #outageSaid = false
  #closed = false
  /** Servers that do not take report keys: their reports go with IC tokens only. */
  readonly #noReportKey = new Set<string>()

  constructor(options: RemoteGatewayControlOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#log = options.log ?? ((line) => process.stderr.write(`iron gateway: ${line}\n`))
    this.#client = new LeaseClient(options.server, `iron-gateway/${options.version}`)
    this.location = this.#client.url
    this.#clients.set(this.location, this.#client)
    this.#outbox = Outbox.open(join(options.dataDir, 'gateway-outbox'))
    this.#reporter = new Reporter({
      outbox: this.#outbox,
      send: (lease, events) => this.#report(lease, events),
      giveBack: (lease) => this.#giveBack(lease),
      live: () => this.#liveLeases(),
      unreachable: isUnreachable,
      rejectsBatch,
      onReach: (reached, error) => this.#reached(reached, error),
      log: this.#log,
    })
  }

  /** Reports not yet delivered (the outbox). */
  get pendingReports(): number {
    return this.#outbox.size
  }

  /** Send what waits now (the round the one-second timer runs), e.g. before a planned stop of the server. */
  flushReports(): Promise<void> {
    return this.#reporter.flush()
  }

  /** Whether the last call to the server got through. */
  get reachable(): boolean {
    return this.#reachable
  }

  async authenticate(secret: string): Promise<GatewayIdentity | undefined> {
    const known = this.#tokens.get(secret)
    // A suspended agent is asked about again each report interval, before its request is answered.
    const fresh =
      known &&
      !known.stale &&
      (known.agent.status === 'active' || this.#now() - known.at < this.#reporter.intervalMs)
    if (known && fresh) {
      if (this.#now() - known.at > IDENTITY_TTL_MS) {
        // Off the request path; a failure is tried again a few seconds later, not on every request.
        known.at = this.#now() - IDENTITY_TTL_MS + IDENTITY_RETRY_MS
        void this.#shake(secret, true).catch(() => {})
      }
      return known.agent.status === 'deleted' ? undefined : { token_id: known.token_id, agent: known.agent }
    }
    const refusedAt = this.#unknown.get(secret)
    if (refusedAt !== undefined && this.#now() - refusedAt < UNKNOWN_TOKEN_TTL_MS) return undefined
    const shaken = await this.#shake(secret)
    if (!shaken || shaken.agent.status === 'deleted') return undefined
    return { token_id: shaken.token_id, agent: shaken.agent }
  }

  async providers(): Promise<readonly GatewayProvider[]> {
    return [...this.#providers.values()]
  }

  async apiKey(providerId: string): Promise<string | null> {
    return this.#keys.get(providerId) ?? null
  }

  async prices(): Promise<PriceTable> {
    this.#prices ??= new PriceTable(BUNDLED_PRICES)
    return this.#prices
  }

  async budgetTerms(agentIds: readonly string[]): Promise<BudgetTerms[]> {
    const terms: BudgetTerms[] = []
    for (const agentId of agentIds) {
      const state = this.#agents.get(agentId)
      if (!state) continue
      const book = state.currentBook ? this.#books.get(state.currentBook) : undefined
      terms.push({
        agent_id: agentId,
        limit_micros: state.limit,
        period_end: book?.lease.periodEnd ?? this.#current.get(agentId)?.periodEnd ?? null,
        // A revoked lease is retired by the book as a suspension would be: it stops lending from it.
        active: state.status === 'active' && !book?.lease.revoked,
      })
    }
    return terms
  }

  /** Budgets live on the server (`iron top --server`, `iron budget list --server`); a team gateway lists none. */
  async budgets(): Promise<Budget[]> {
    return []
  }

  async grantLease(request: LeaseRequest): Promise<LeaseGrant> {
    const agentId = request.agent_id
    const top = request.top_up ? this.#books.get(request.top_up.lease_id) : undefined
    if (top && !top.lease.revoked && !top.lease.returning) {
      const free = Math.max(request.top_up!.free_micros, 0)
      const need = Math.max(request.min_micros - free, 0)
      const refused = await this.#spare(top.lease, need, request.want_micros)
      if (refused && refused !== CLOSED) return this.#refusal(top.lease, refused, free)
      if (!refused) {
        const added = top.lease.granted - top.lease.handed
        top.lease.handed += added
        top.handed += added
        return this.#granted(top.lease, top.id, added)
      }
    }
    let lease = await this.#leaseFor(agentId)
    if (lease.limit === null) return { ...this.#terms(lease), ok: true, lease_id: null, granted_micros: 0 }
    let refused = await this.#spare(lease, request.min_micros, request.want_micros)
    if (refused === CLOSED) {
      lease = await this.#leaseFor(agentId)
      refused = await this.#spare(lease, request.min_micros, request.want_micros)
      if (refused === CLOSED)
        throw new ControlPlaneUnreachable(this.location, 'it closed the new lease at once')
    }
    if (refused) return this.#refusal(lease, refused, 0)
    const book: BookLease = {
      id: lease.booksMade++ === 0 ? lease.id : `${lease.id}~${lease.booksMade}`,
      lease,
      handed: lease.granted - lease.handed,
      drawn: 0,
    }
    lease.handed = lease.granted
    lease.books.add(book.id)
    this.#books.set(book.id, book)
    this.#agentState(agentId).currentBook = book.id
    return this.#granted(lease, book.id, book.handed)
  }

  /**
   * The draw and the record go to the outbox (one insert, durable before the answer ends); the result is
   * the lease's, computed here. The server charges it when the report arrives, once per request id.
   */
  async settle(draw: DrawRequest, record: RequestRecord): Promise<SettleResult> {
    const book = draw.lease_id === null ? undefined : this.#books.get(draw.lease_id)
    const lease = book?.lease ?? this.#current.get(draw.agent_id) ?? this.#last.get(draw.agent_id)
    const room = book ? Math.max(draw.room_micros, 0) : 0
    const fromLease = Math.min(draw.actual_micros, room)
    record.cost_micros = draw.actual_micros
    if (lease) {
      this.#keepRow(lease)
      this.#outbox.put(lease.id, eventOf(record, draw, room), fromLease)
      lease.drawn += fromLease
      lease.drawnSinceGrant += draw.actual_micros
      if (book) book.drawn += fromLease
      this.#reporter.added()
      this.#refreshSoon(lease)
    } else {
      this.#log(`request ${record.id} of agent ${draw.agent_id} has no lease to be reported on; not reported`)
    }
    const state = this.#agents.get(draw.agent_id)
    if (state && state.remaining !== null) state.remaining = Math.max(state.remaining - draw.actual_micros, 0)
    return {
      reservation_id: draw.reservation_id,
      agent_id: draw.agent_id,
      charged_micros: draw.actual_micros,
      overrun_micros: 0,
      remaining_micros: state?.remaining ?? null,
      alert_pct: null,
    }
  }

  async returnLease(lease: { lease_id: string; agent_id: string; holder: string }): Promise<void> {
    const book = this.#books.get(lease.lease_id)
    if (!book) return
    this.#books.delete(book.id)
    const server = book.lease
    server.books.delete(book.id)
    server.handed -= Math.max(book.handed - book.drawn, 0)
    if (server.books.size === 0) await this.#retire(server)
  }

  /** A request that was not charged: its record goes to the outbox under its agent's lease. */
  async record(record: RequestRecord): Promise<void> {
    const lease = record.agent_id
      ? (this.#current.get(record.agent_id) ?? this.#last.get(record.agent_id))
      : undefined
    // A request that named no agent (no or unknown IC token) has no lease to be filed under on the server.
    if (!lease) return
    this.#keepRow(lease)
    this.#outbox.put(lease.id, recordEvent(record), 0)
    this.#reporter.added()
  }

  tokenUsed(_tokenId: string): void {
    // The server sees each token's use in its handshakes and reports.
  }

  async register(holder: HolderInfo): Promise<number> {
    this.#runtime = holder.holder
    // What an earlier run of a gateway left in this outbox is sent now, then its leases go back.
    for (const old of this.#outbox.leases())
      if (old.runtime_id !== this.#runtime && old.return_spent === null)
        this.#outbox.markReturn(old.lease_id, this.#outbox.drawnPending(old.lease_id))
    this.#reporter.start()
    void this.#reporter.flush()
    return this.#now() + holder.ttl_ms
  }

  /**
   * The reports are the heartbeat the server keeps leases by; here, a lease the server has surely let go
   * (not heard of past its expiry while unreachable) makes the whole book start again.
   */
  async renew(_holder: string, ttlMs: number): Promise<number | null> {
    const now = this.#now()
    // Counted on this machine's clock from the last call that renewed the lease, so clocks need not agree.
    const ttl = this.#leaseTtlMs
    const margin = Math.min(EXPIRY_MARGIN_MS, ttl / 4)
    const lost = [...this.#current.values()].some((l) => !l.returning && now - l.renewedAt >= ttl - margin)
    if (lost) {
      this.#log('leases expired on the server while it could not be reached; taking new ones')
      this.#forgetLeases()
      return null
    }
    return now + ttlMs
  }

  /** On a clean stop: every lease still open goes back, after its reports. */
  async end(_holder: string): Promise<void> {
    // A server that does not answer holds shutdown up no longer than this: the returns wait in the outbox.
    await within(
      Promise.all([...this.#leases.values()].map((lease) => this.#retire(lease))),
      SHUTDOWN_FLUSH_MS,
    )
  }

  async reclaimExpired(): Promise<number> {
    // The server reclaims expired leases itself.
    return 0
  }

  async reportHolds(_holder: string, _holds: readonly LeaseHold[]): Promise<void> {
    // What is in flight stays on the gateway; the server sees each request once it is reported.
  }

  refresh(_now?: boolean): void {
    // Changes arrive with report answers and handshakes, not by looking.
  }

  onChange(listener: (changed: ReadonlySet<ChangeDomain>) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const delivered = await this.#reporter.stop(SHUTDOWN_FLUSH_MS)
    if (!delivered) {
      this.#log(
        `${this.#outbox.size} report(s) not yet delivered to ${this.location}; kept in ${this.#outbox.path}, sent at the next start`,
      )
    }
    await this.#reporter.idle()
    this.#outbox.close()
    await Promise.all([...this.#clients.values()].map((c) => c.close()))
  }

  // ---- handshakes -------------------------------------------------------------------------------------

  /** Shake hands for a token (once at a time per token); undefined when the server does not know it. */
  #shake(secret: string, background = false): Promise<KnownToken | undefined> {
    let shaking = this.#shaking.get(secret)
    if (!shaking) {
      shaking = this.#handshake(secret, background).finally(() => this.#shaking.delete(secret))
      this.#shaking.set(secret, shaking)
    }
    return shaking
  }

  async #handshake(secret: string, background = false): Promise<KnownToken | undefined> {
    let answer: HandshakeAnswer
    let sent: number
    for (;;) {
      const withKey = !this.#noReportKey.has(this.location)
      sent = this.#now()
      try {
        answer = await this.#client.handshake({
          ic_token: secret,
          runtime_id: this.#runtime,
          runtime_version: this.#o.version,
          host: hostname(),
          ...(withKey ? { report_key: this.#reportKey } : {}),
        })
        this.#reached(true)
        break
      } catch (error) {
        // A server without report keys refuses the field: ask again without it (reports then go with IC tokens).
        if (
          withKey &&
          (error as IronError).code === 'VALIDATION_FAILED' &&
          /report_key/.test(JSON.stringify((error as IronError).details ?? {}))
        ) {
          this.#noReportKey.add(this.location)
          continue
        }
        return this.#handshakeFailed(secret, error, background)
      }
    }
    return this.#adopt(secret, answer, sent)
  }

  #handshakeFailed(secret: string, error: unknown, background: boolean): KnownToken | undefined {
    const e = error as IronError
    if (isUnreachable(error)) {
      this.#reached(false, error, !background)
      throw new ControlPlaneUnreachable(this.location, e.message)
    }
    if (e.exitCode === ExitCode.auth) {
      this.#forgetToken(secret)
      if (this.#unknown.size >= UNKNOWN_TOKENS_MAX) this.#unknown.clear()
      this.#unknown.set(secret, this.#now())
      return undefined
    }
    if (e.code === 'AGENT_SUSPENDED' || e.code === 'AGENT_DELETED' || e.code === 'BUDGET_EXCEEDED') {
      const before = this.#tokens.get(secret)
      const agent = (e.details?.agent as GatewayAgent | undefined) ?? before?.agent
      if (!agent) return undefined
      const status =
        e.code === 'AGENT_DELETED' ? 'deleted' : e.code === 'AGENT_SUSPENDED' ? 'suspended' : agent.status
      const token: KnownToken = {
        secret,
        token_id: before?.token_id ?? (e.details?.token_id as string | undefined) ?? '',
        agent: { ...agent, status },
        at: this.#now(),
        stale: false,
      }
      this.#tokens.set(secret, token)
      const state = this.#agentState(agent.id)
      state.status = status
      return token
    }
    throw new ControlPlaneUnreachable(this.location, e.message)
  }

  /** A handshake's answer: the token's identity, its agent's lease, providers (keys opened), prices. */
  #adopt(secret: string, answer: HandshakeAnswer, sent: number): KnownToken {
    const now = this.#now()
    const agent = answer.agent
    const token: KnownToken = { secret, token_id: answer.token_id, agent, at: now, stale: false }
    this.#tokens.set(secret, token)
    this.#unknown.delete(secret)
    const state = this.#agentState(agent.id)
    const before = { status: state.status, limit: state.limit }
    state.status = agent.status
    state.limit = answer.limit_micros
    state.remaining = answer.agent_remaining_micros
    for (const known of this.#tokens.values()) if (known.agent.id === agent.id) known.agent = agent

    for (const p of answer.providers) {
      this.#providers.set(p.id, { id: p.id, name: p.provider, kind: p.kind, base_url: p.base_url })
      if (p.ip_token) {
        try {
          this.#keys.set(p.id, openIpToken(secret, answer.lease_id, p.id, p.ip_token))
        } catch (error) {
          this.#log((error as Error).message)
        }
      } else this.#keys.set(p.id, null)
    }
    this.#adoptPrices(answer.prices)
    if (answer.report_interval_ms) this.#reporter.intervalMs = answer.report_interval_ms

    let lease = this.#leases.get(answer.lease_id)
    if (!lease) {
      // What reports already drew on it (a lease this runtime held before) is not there to lend.
      const drawn = Math.max(answer.drawn_micros ?? 0, 0)
      // A lease opened by this answer shows how long the server keeps one: from its opening to its expiry.
      const life = Date.parse(answer.expires_at) - answer.counted_at
      if (drawn === 0 && life >= MIN_LEASE_TTL_MS && life <= 86_400_000) this.#leaseTtlMs = life
      lease = {
        id: answer.lease_id,
        agentId: agent.id,
        secret,
        granted: answer.granted_micros,
        handed: drawn,
        drawn,
        size: answer.granted_micros,
        drawnSinceGrant: 0,
        countedAt: answer.counted_at,
        periodEnd: answer.period_end,
        limit: answer.limit_micros,
        onInsufficient: answer.on_insufficient,
        renewedAt: sent,
        revoked: false,
        returning: false,
        returned: undefined,
        refreshing: undefined,
        lastRefreshAt: now,
        books: new Set(),
        booksMade: 0,
      }
      this.#leases.set(lease.id, lease)
      this.#last.set(agent.id, lease)
      this.#outbox.rememberLease({
        lease_id: lease.id,
        server: this.location,
        agent_id: agent.id,
        report_key: this.#reportKey,
        runtime_id: this.#runtime,
      })
    } else {
      lease.granted = Math.max(lease.granted, answer.granted_micros)
      lease.secret = secret
      lease.renewedAt = Math.max(lease.renewedAt, sent)
    }
    const current = this.#current.get(agent.id)
    if (!current || current === lease || current.revoked || current.returning) {
      if (!lease.returning && !lease.revoked) this.#current.set(agent.id, lease)
    }
    // A token of this agent's may report the leases whose reports waited for one.
    this.#reporter.retryRefused()
    if (before.status !== state.status || before.limit !== state.limit) this.#changed()
    return token
  }

  #adoptPrices(rows: HandshakeAnswer['prices'] | undefined): void {
    if (!Array.isArray(rows) || rows.length === 0) return
    try {
      // Rows that do not say where they come from are the server's table as it prices: taken as its catalog.
      const strip = ({ source: _, ...price }: ModelPrice & { source?: string }) => price as ModelPrice
      const bundled = rows.filter((r) => r.source !== 'override').map(strip)
      const overrides = rows.filter((r) => r.source === 'override').map(strip)
      this.#prices = new PriceTable(bundled, overrides)
    } catch (error) {
      this.#log(
        `the server's price table was not taken (${(error as Error).message}); the previous one stays`,
      )
    }
  }

  // ---- leases -----------------------------------------------------------------------------------------

  /** The agent's open lease, or a new one from a handshake with one of its tokens. */
  async #leaseFor(agentId: string): Promise<ServerLease> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = this.#current.get(agentId)
      if (current && !current.revoked && !current.returning) return current
      // A lease going back is let go first: the server would hand the same one out again.
      const last = this.#last.get(agentId)
      if (last?.returned) await within(last.returned, REQUEST_PATH_TIMEOUT_MS)
      const secret = this.#secretOf(agentId)
      if (!secret) break
      const shaken = await this.#shake(secret)
      if (!shaken) break
    }
    const lease = this.#current.get(agentId)
    if (lease && !lease.revoked && !lease.returning) return lease
    // The agent's tokens are no longer good: the request is refused as the server refused them.
    throw new ControlPlaneUnreachable(this.location, 'it no longer grants this agent a lease')
  }

  /**
   * Make sure `need` more than what the book was given is granted; a refresh when it is not. Undefined
   * when there is; otherwise the server's refusal.
   */
  async #spare(
    lease: ServerLease,
    need: number,
    want?: number,
  ): Promise<Refusal | typeof CLOSED | undefined> {
    for (;;) {
      if (lease.granted - lease.handed >= need) return undefined
      if (lease.refreshing) {
        await lease.refreshing.catch(() => {})
        continue
      }
      const missing = need - (lease.granted - lease.handed)
      const refresh = this.#refresh(lease, missing, want)
      lease.refreshing = refresh
      try {
        const result = await refresh
        if (result) return result
        if (lease.granted - lease.handed < need)
          return { reason: 'budget_exceeded', remaining: lease.granted - lease.handed }
        return undefined
      } finally {
        if (lease.refreshing === refresh) lease.refreshing = undefined
      }
    }
  }

  /** One refresh call; a refusal as the server said it, or undefined once the lease has grown. */
  async #refresh(
    lease: ServerLease,
    minMicros: number,
    requested?: number,
  ): Promise<Refusal | typeof CLOSED | undefined> {
    const sent = this.#now()
    try {
      const answer = await this.#client.refresh(lease.secret, {
        lease_id: lease.id,
        min_micros: minMicros,
        ...(requested !== undefined && requested > minMicros ? { requested_micros: requested } : {}),
      })
      this.#reached(true)
      lease.granted = Math.max(lease.granted, answer.granted_micros)
      lease.renewedAt = Math.max(lease.renewedAt, sent)
      lease.size = lease.granted - lease.drawn
      lease.drawnSinceGrant = 0
      lease.lastRefreshAt = this.#now()
      const state = this.#agentState(lease.agentId)
      state.remaining = answer.agent_remaining_micros
      return undefined
    } catch (error) {
      const e = error as IronError
      if (isUnreachable(error)) {
        this.#reached(false, error, minMicros > 0)
        throw new ControlPlaneUnreachable(this.location, e.message)
      }
      const details = e.details ?? {}
      if (e.code === 'BUDGET_EXCEEDED' || e.code === 'AGENT_SUSPENDED' || e.code === 'AGENT_DELETED') {
        const state = this.#agentState(lease.agentId)
        if (typeof details.remaining_micros === 'number') state.remaining = details.remaining_micros
        return {
          reason:
            e.code === 'BUDGET_EXCEEDED'
              ? 'budget_exceeded'
              : e.code === 'AGENT_SUSPENDED'
                ? 'agent_suspended'
                : 'agent_deleted',
          remaining: typeof details.remaining_micros === 'number' ? details.remaining_micros : 0,
          elsewhere:
            typeof details.leased_elsewhere_micros === 'number' ? details.leased_elsewhere_micros : undefined,
        }
      }
      // The token was revoked or expired meanwhile: refused from now on, and its lease lends no more.
      if (e.exitCode === ExitCode.auth) {
        this.#log(`lease ${lease.id} of agent ${lease.agentId}: its token was refused (${e.code})`)
        this.#tokenRefused(lease.secret)
        this.#revoke(lease)
        return CLOSED
      }
      // The lease is gone on the server (expired, returned, unknown): stop lending from it; take another.
      this.#revoke(lease)
      if (e.code === 'LEASE_CLOSED' || e.code === 'LEASE_NOT_FOUND') return CLOSED
      throw new ControlPlaneUnreachable(this.location, e.message)
    }
  }

  /** Below 10 % of its size or $1 after a draw: ask for what was drawn, off the request path. */
  #refreshSoon(lease: ServerLease): void {
    if (lease.revoked || lease.returning || lease.refreshing || lease.limit === null) return
    const left = lease.granted - lease.drawn
    if (left >= Math.max(lease.size * REFRESH_FRACTION, 0) && left >= REFRESH_FLOOR_MICROS) return
    if (lease.drawnSinceGrant <= 0 || this.#now() - lease.lastRefreshAt < this.#reporter.intervalMs) return
    if (this.#agents.get(lease.agentId)?.remaining === 0) return
    lease.lastRefreshAt = this.#now()
    const refresh = this.#refresh(lease, 0, lease.drawnSinceGrant).catch(() => undefined)
    lease.refreshing = refresh
    void refresh.finally(() => {
      if (lease.refreshing === refresh) lease.refreshing = undefined
    })
  }

  /** Stop lending from a lease and give it back once its reports are in (the reporter sends them first). */
  #retire(lease: ServerLease): Promise<void> {
    if (lease.returned) return lease.returned
    lease.returning = true
    if (this.#current.get(lease.agentId) === lease) this.#current.delete(lease.agentId)
    this.#outbox.markReturn(lease.id, lease.drawn)
    lease.returned = (async () => {
      await this.#reporter.flush()
      // Unreachable: the return waits in the outbox for the next round, or the next start.
    })()
    return lease.returned
  }

  /** The server revoked a lease: lend no more from it, and let every token of its agent shake hands again. */
  #revoke(lease: ServerLease): void {
    if (lease.revoked) return
    lease.revoked = true
    if (this.#current.get(lease.agentId) === lease) this.#current.delete(lease.agentId)
    for (const known of this.#tokens.values()) if (known.agent.id === lease.agentId) known.stale = true
    if (lease.books.size === 0) void this.#retire(lease)
    this.#changed()
  }

  /** The server let every lease go (unreachable past their expiry): the book starts again with nothing. */
  #forgetLeases(): void {
    for (const lease of this.#leases.values()) {
      lease.revoked = true
      if (!lease.returning) {
        lease.returning = true
        this.#outbox.markReturn(lease.id, lease.drawn)
      }
    }
    this.#current.clear()
    this.#books.clear()
    for (const state of this.#agents.values()) state.currentBook = undefined
    this.#tokens.clear()
  }

  #granted(lease: ServerLease, bookId: string, granted: number): LeaseGrant {
    return { ...this.#terms(lease), ok: true, lease_id: bookId, granted_micros: granted }
  }

  #refusal(lease: ServerLease, refused: Refusal, free: number): LeaseGrant {
    return {
      ...this.#terms(lease),
      ok: false,
      reason: refused.reason,
      remaining_micros: Math.max(refused.remaining, 0) + free + Math.max(lease.granted - lease.handed, 0),
      ...(refused.elsewhere !== undefined ? { leased_elsewhere_micros: refused.elsewhere } : {}),
    }
  }

  #terms(lease: ServerLease) {
    return {
      agent_id: lease.agentId,
      limit_micros: lease.limit,
      period_end: lease.periodEnd,
      on_insufficient: lease.onInsufficient,
      counted_at: lease.countedAt,
    }
  }

  /** A lease given back (or going back) that gets another report: its outbox row again, returned again after. */
  #keepRow(lease: ServerLease): void {
    if (!lease.returning) return
    this.#outbox.rememberLease({
      lease_id: lease.id,
      server: this.location,
      agent_id: lease.agentId,
      report_key: this.#reportKey,
      runtime_id: this.#runtime,
    })
    this.#outbox.markReturn(lease.id, lease.drawn)
  }

  #secretOf(agentId: string): string | undefined {
    let found: KnownToken | undefined
    for (const known of this.#tokens.values())
      if (known.agent.id === agentId && (!found || known.at > found.at)) found = known
    const last = this.#last.get(agentId)?.secret
    return found?.secret ?? (last !== undefined && !this.#unknown.has(last) ? last : undefined)
  }

  #agentState(agentId: string): AgentState {
    let state = this.#agents.get(agentId)
    if (!state) {
      state = { status: 'active', limit: null, remaining: null, currentBook: undefined }
      this.#agents.set(agentId, state)
    }
    return state
  }

  #forgetToken(secret: string): void {
    this.#tokens.delete(secret)
  }

  /** The server refused a token (revoked, expired): its next request is refused without asking. */
  #tokenRefused(secret: string): void {
    if (!this.#tokens.has(secret)) return
    this.#forgetToken(secret)
    if (this.#unknown.size >= UNKNOWN_TOKENS_MAX) this.#unknown.clear()
    this.#unknown.set(secret, this.#now())
  }

  // ---- reports ----------------------------------------------------------------------------------------

  /** Open leases of this run: reported on every interval, with nothing to say if need be (their heartbeat). */
  *#liveLeases(): Iterable<string> {
    for (const lease of this.#leases.values()) if (!lease.returning) yield lease.id
  }

  #clientFor(server: string): LeaseClient {
    let client = this.#clients.get(server)
    if (!client) {
      client = new LeaseClient(server, `iron-gateway/${this.#o.version}`)
      this.#clients.set(server, client)
    }
    return client
  }

  /** The credentials a lease's reports may go with: its report key, then its agent's tokens in memory. */
  #bearers(row: OutboxLease): string[] {
    const bearers: string[] = []
    if (row.report_key && !this.#noReportKey.has(row.server)) bearers.push(row.report_key)
    const lease = this.#leases.get(row.lease_id)
    if (lease) bearers.push(lease.secret)
    for (const known of this.#tokens.values())
      if (known.agent.id === row.agent_id && !bearers.includes(known.secret)) bearers.push(known.secret)
    return bearers
  }

  /** Try each credential in turn: a refusal of one (401) is not the end while another may do. */
  async #withBearer<T>(row: OutboxLease, call: (bearer: string) => Promise<T>): Promise<T> {
    const bearers = this.#bearers(row)
    let last: unknown = new IronError(
      'NO_CREDENTIAL',
      `no credential in memory for lease ${row.lease_id}; waiting for a request with its agent's IC token`,
      { exitCode: ExitCode.auth },
    )
    for (const bearer of bearers) {
      try {
        return await call(bearer)
      } catch (error) {
        if (isUnreachable(error)) throw error
        const exit = (error as IronError).exitCode
        if (bearer === row.report_key && (exit === ExitCode.auth || exit === ExitCode.notFound)) {
          // A server without report keys refuses the credential; one that has them may not know this key.
          if (exit === ExitCode.auth) this.#noReportKey.add(row.server)
        } else if (exit === ExitCode.auth) this.#tokenRefused(bearer)
        else throw error
        last = error
      }
    }
    throw last
  }

  async #report(row: OutboxLease, events: ReportedEvent[]): Promise<void> {
    const sent = this.#now()
    const answer = await this.#withBearer(row, (bearer) =>
      this.#clientFor(row.server).report(bearer, row.lease_id, events),
    )
    this.#answered(row, answer, sent)
  }

  async #giveBack(row: OutboxLease): Promise<void> {
    await this.#withBearer(row, (bearer) =>
      this.#clientFor(row.server).giveBack(bearer, row.lease_id, row.return_spent ?? 0),
    )
    const lease = this.#leases.get(row.lease_id)
    if (lease?.returning) this.#leases.delete(row.lease_id)
  }

  /** A report's answer: the lease's state (revoked?) and the agent's (status, limit, what remains). */
  #answered(row: OutboxLease, answer: ReportAnswer, sent: number): void {
    const lease = this.#leases.get(row.lease_id)
    if (!lease) return
    if (!answer.lease?.revoked) lease.renewedAt = Math.max(lease.renewedAt, sent)
    if (typeof answer.lease?.granted_micros === 'number')
      lease.granted = Math.max(lease.granted, answer.lease.granted_micros)
    const state = this.#agentState(lease.agentId)
    if (answer.agent) {
      const changed = state.status !== answer.agent.status || state.limit !== answer.agent.limit_micros
      state.status = answer.agent.status
      state.limit = answer.agent.limit_micros
      state.remaining = answer.agent.remaining_micros
      for (const known of this.#tokens.values())
        if (known.agent.id === lease.agentId && known.agent.status !== answer.agent.status)
          known.agent = { ...known.agent, status: answer.agent.status }
      if (changed) this.#changed()
    }
    if (answer.lease?.revoked && !lease.returning) {
      this.#log(
        `lease ${lease.id} of agent ${lease.agentId} revoked by the server (${answer.lease.reason ?? 'no reason given'})`,
      )
      this.#revoke(lease)
    }
  }

  /**
   * The server answered, or not. An outage is said once it has lasted a few seconds or refused a request
   * (a lost connection now and then is retried without a word), and its end once it was said.
   */
  #reached(reached: boolean, error?: unknown, refusing = false): void {
    this.#reachable = reached
    if (reached) {
      if (this.#outageSaid)
        this.#log(
          `the control plane at ${this.location} answers again; sending the ${this.#outbox.size} report(s) that waited`,
        )
      this.#downSince = undefined
      this.#outageSaid = false
      return
    }
    const now = this.#now()
    this.#downSince ??= now
    if (this.#outageSaid || (!refusing && now - this.#downSince < OUTAGE_SAID_AFTER_MS)) return
    this.#outageSaid = true
    this.#log(
      `cannot reach the control plane at ${this.location} (${(error as Error)?.message ?? 'no answer'}); serving within the leases held, reports kept in ${this.#outbox.path}`,
    )
  }

  #changed(): void {
    const changed = new Set<ChangeDomain>(['budgets', 'agents'])
    for (const listener of this.#listeners) listener(changed)
  }
}

/** Wait for `promise`, or `ms` at most (what it does goes on). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    }),
  ])
  clearTimeout(timer)
}

/** A settled request as reported: its draw (cost and what the lease held for it) and its record. */
function eventOf(record: RequestRecord, draw: DrawRequest, room: number): ReportedEvent {
  return {
    request_id: record.id,
    at: record.started_at,
    model: record.model,
    provider: record.provider,
    input_tokens: draw.input_tokens ?? record.input_tokens,
    output_tokens: draw.output_tokens ?? record.output_tokens,
    cached_tokens: draw.cached_tokens ?? record.cached_tokens,
    cost_micros: draw.actual_micros,
    cost_known: draw.cost_known !== false,
    room_micros: room,
    record,
  }
}

/** A request that was not charged, as reported: its record only. */
function recordEvent(record: RequestRecord): ReportedEvent {
  return {
    request_id: record.id,
    at: record.started_at,
    model: record.model,
    provider: record.provider,
    input_tokens: record.input_tokens,
    output_tokens: record.output_tokens,
    cached_tokens: record.cached_tokens,
    cost_micros: null,
    cost_known: record.cost_known === 1,
    room_micros: 0,
    record,
  }
}
