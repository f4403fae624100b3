import { AsyncLocalStorage } from 'node:async_hooks'
import type { ServerResponse } from 'node:http'
import type { AuditEvent } from '../services/api.js'
import type { FindingsSummary } from '../services/gateway-control.js'
import type { LocalControlPlane } from '../services/local/index.js'
import { type Principal, runAs } from '../services/principal.js'
import type { ServerEvent } from '../services/server-events.js'
import type { Authenticator } from './auth.js'
import { HttpError } from './errors.js'

/**
 * `GET /api/v1/events`: what happens on the store, as server-sent events. Every gateway on the store writes
 * each request into the audit trail, and every change people make is audited, so one poller reads new audit
 * events by sequence number and turns them into events: `request` (and `safety` for what the firewall found)
 * from gateway requests, `alert` from budget alerts, `audit` for budget, safety and admin changes. Each
 * watcher gets what its principal may see, from where it asked to resume. A watcher that cannot keep up is
 * dropped, never waited for; a session that ends (expired, revoked, suspended) ends its streams.
 */

export interface EventStreamOptions {
  /** How often the audit trail is read for new events. */
  pollMs?: number
  /** How often a comment keeps idle connections open and the watcher's credentials are checked again. */
  heartbeatMs?: number
  maxWatchers?: number
  maxWatchersPerUser?: number
}

const BATCH = 500
const MAX_BUFFERED_BYTES = 1024 * 1024
/** How long a watcher's list of visible agents is kept before it is read again. */
const VISIBLE_TTL_MS = 5_000

interface Watcher {
  res: ServerResponse
  principal: Principal
  secret: string
  lastSeq: number
  /** The agents the principal may see (null: every agent), and when that was read. */
  visible: Set<string> | null
  visibleAt: number
}

/** How long a wake-up (another replica appended to the trail) waits for the notices that follow it. */
const WAKE_MS = 20

export class EventStream {
  readonly #watchers = new Set<Watcher>()
  readonly #names = new Map<string, string | null>()
  readonly #hosts = new Map<string, string | null>()
  readonly #options: Required<EventStreamOptions>
  #poll: NodeJS.Timeout | undefined
  #ticking = false
  #again = false
  #waking: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  /**
   * Starts the timers in the context the stream was made in (the server's, with no principal): timers made
   * inside the first watcher's request would read the trail as that watcher forever after.
   */
  readonly #startTimers: () => void

  constructor(
    private readonly cp: LocalControlPlane,
    private readonly auth: () => Authenticator,
    options: EventStreamOptions = {},
  ) {
    this.#options = {
      pollMs: options.pollMs ?? 250,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      maxWatchers: options.maxWatchers ?? 100,
      maxWatchersPerUser: options.maxWatchersPerUser ?? 10,
    }
    this.#startTimers = AsyncLocalStorage.bind(() => this.#timers())
  }

  get size(): number {
    return this.#watchers.size
  }

  add(res: ServerResponse, principal: Principal, secret: string, since: number | undefined): void {
    const mine = [...this.#watchers].filter((w) => w.principal.user_id === principal.user_id).length
    if (this.#watchers.size >= this.#options.maxWatchers || mine >= this.#options.maxWatchersPerUser) {
      throw new HttpError(429, 'TOO_MANY_STREAMS', 'Too many event streams are open', {
        exitCode: 5,
        hint: `Close one first (at most ${this.#options.maxWatchersPerUser} per user)`,
        headers: { 'retry-after': '10' },
      })
    }
    const head = this.cp.audit.repo.lastSeq()
    const watcher: Watcher = {
      res,
      principal,
      secret,
      lastSeq: since === undefined ? head : Math.min(since, head),
      visible: null,
      visibleAt: 0,
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write(`retry: 3000\n: iron serve events from ${watcher.lastSeq}\n\n`)
    this.#watchers.add(watcher)
    res.on('close', () => this.#watchers.delete(watcher))
    this.#startTimers()
  }

  /**
   * Read the trail now, not at the next poll: another replica appended to it (PostgreSQL's NOTIFY). A read
   * already running is followed by one more, so that nothing committed meanwhile waits for the poll.
   */
  wake(): void {
    if (this.#watchers.size === 0 || this.#waking) return
    // Notices come one an event: those of the next few milliseconds are read together.
    this.#waking = setTimeout(() => {
      this.#waking = undefined
      if (this.#ticking) this.#again = true
      else this.#run()
    }, WAKE_MS)
    this.#waking.unref()
  }

  #run(): void {
    this.#ticking = true
    this.#tick()
      .catch((error: unknown) => {
        process.stderr.write(`iron serve: reading events failed: ${(error as Error).stack ?? error}\n`)
      })
      .finally(() => {
        this.#ticking = false
        if (this.#again) {
          this.#again = false
          this.#run()
        }
      })
  }

  #timers(): void {
    this.#poll ??= setInterval(() => {
      if (!this.#ticking) this.#run()
    }, this.#options.pollMs)
    this.#heartbeat ??= setInterval(() => this.#beat(), this.#options.heartbeatMs)
    this.#poll.unref()
    this.#heartbeat.unref()
  }

  close(): void {
    clearTimeout(this.#waking)
    this.#waking = undefined
    clearInterval(this.#poll)
    clearInterval(this.#heartbeat)
    this.#poll = undefined
    this.#heartbeat = undefined
    for (const w of this.#watchers) w.res.end(': iron serve is stopping\n\n')
    this.#watchers.clear()
  }

  /** Read what is new since the watcher furthest behind, and give each watcher its part. */
  async #tick(): Promise<void> {
    if (this.#watchers.size === 0) return this.#idle()
    let from = Number.MAX_SAFE_INTEGER
    for (const w of this.#watchers) from = Math.min(from, w.lastSeq)
    const events = this.#read(from)
    if (events.length === 0) return
    const agentsChanged = events.some((e) => e.action.startsWith('agent.') || e.action.startsWith('user.'))
    const now = Date.now()
    for (const w of [...this.#watchers]) {
      if (agentsChanged || now - w.visibleAt > VISIBLE_TTL_MS) await this.#refreshVisible(w, now)
      if (!this.#watchers.has(w)) continue
      let text = ''
      for (const event of events) {
        if (event.seq <= w.lastSeq) continue
        if (this.#maySee(w, event)) {
          for (const out of this.#derive(event))
            text += `id: ${event.seq}\nevent: ${out.type}\ndata: ${JSON.stringify(out)}\n\n`
        }
        w.lastSeq = event.seq
      }
      if (text) this.#send(w, text)
    }
  }

  #read(afterSeq: number): AuditEvent[] {
    const batch: AuditEvent[] = []
    for (const event of this.cp.audit.iterate({ after_seq: afterSeq })) {
      batch.push(event)
      if (batch.length === BATCH) break
    }
    return batch
  }

  #send(w: Watcher, text: string): void {
    if (w.res.writableLength > MAX_BUFFERED_BYTES) {
      w.res.destroy()
      this.#watchers.delete(w)
    } else {
      w.res.write(text)
    }
  }

  /** Keep connections open, and end the streams of principals whose session or token no longer holds. */
  #beat(): void {
    for (const w of this.#watchers) {
      try {
        w.principal = this.auth().authenticate(w.secret)
      } catch (error) {
        const code = error instanceof Error && 'code' in error ? String(error.code) : 'AUTH_REQUIRED'
        w.res.end(`event: end\ndata: ${JSON.stringify({ type: 'end', reason: code })}\n\n`)
        this.#watchers.delete(w)
        continue
      }
      this.#send(w, ': heartbeat\n\n')
    }
  }

  #idle(): void {
    clearInterval(this.#poll)
    clearInterval(this.#heartbeat)
    this.#poll = undefined
    this.#heartbeat = undefined
  }

  async #refreshVisible(w: Watcher, now: number): Promise<void> {
    w.visibleAt = now
    if (w.principal.role === 'admin') {
      w.visible = null
      return
    }
    try {
      const agents = await runAs(w.principal, () => this.cp.agents.list({ include_deleted: true }))
      w.visible = new Set(agents.map((a) => a.id))
    } catch {
      w.visible = new Set()
    }
  }

  /** Admins see everything; others the events of agents they may read, and what they did themselves. */
  #maySee(w: Watcher, event: AuditEvent): boolean {
    if (w.principal.role === 'admin') return true
    if (event.agent_id !== null) return w.visible?.has(event.agent_id) ?? false
    return event.actor === w.principal.actor
  }

  #name(agentId: string | null): string | null {
    if (agentId === null) return null
    if (!this.#names.has(agentId)) {
      if (this.#names.size > 10_000) this.#names.clear()
      this.#names.set(agentId, this.cp.repos.agents.byId(agentId)?.name ?? null)
    }
    return this.#names.get(agentId)!
  }

  /**
   * Which gateway served a request: its holder id (a team gateway's runtime id), and its host, as the team
   * gateway reported it or as a gateway on this store registered it with its heartbeat.
   */
  #gateway(d: Record<string, unknown>): { holder: string; host: string | null } | null {
    const holder = str(d.holder)
    if (holder === null) return null
    let host = str(d.host)
    if (host === null) {
      if (!this.#hosts.has(holder)) {
        if (this.#hosts.size > 1_000) this.#hosts.clear()
        this.#hosts.set(holder, this.cp.holders.get(holder)?.host ?? null)
      }
      host = this.#hosts.get(holder)!
    }
    return { holder, host }
  }

  #derive(event: AuditEvent): ServerEvent[] {
    const d = event.data
    if (event.action === 'gateway.request') {
      const agent = this.#name(event.agent_id) ?? '(unauthenticated)'
      const out: ServerEvent[] = [
        {
          type: 'request',
          at: event.at,
          id: event.resource?.id ?? event.id,
          agent,
          agent_id: event.agent_id,
          model: str(d.model),
          provider: str(d.provider),
          status: int(d.status) ?? 0,
          outcome: str(d.outcome) ?? '',
          stream: d.stream === true,
          input_tokens: nonNegative(d.input_tokens),
          output_tokens: nonNegative(d.output_tokens),
          cost_micros: nonNegative(d.cost_micros),
          latency_ms: Math.max(Number(d.latency_ms) || 0, 0),
          gateway: this.#gateway(d),
        },
      ]
      const findings = d.findings as { input?: FindingsSummary; output?: FindingsSummary } | null | undefined
      for (const direction of ['input', 'output'] as const) {
        const f = findings?.[direction]
        if (!f) continue
        const actions = new Set(f.items.map((i) => i.action))
        out.push({
          type: 'safety',
          at: event.at,
          agent,
          agent_id: event.agent_id,
          request_id: event.resource?.id ?? event.id,
          direction,
          action: f.blocked.length || f.error ? 'block' : actions.has('redact') ? 'redact' : 'log',
          categories: Object.keys(f.counts),
        })
      }
      return out
    }
    if (event.action === 'budget.alert' && event.agent_id !== null) {
      const limit = int(d.limit_micros)
      const spent = int(d.spent_micros) ?? 0
      const pct = int(d.threshold_pct)
      if (pct !== null && pct >= 1 && pct <= 100) {
        return [
          {
            type: 'alert',
            at: event.at,
            agent: this.#name(event.agent_id) ?? event.agent_id,
            agent_id: event.agent_id,
            threshold_pct: pct,
            remaining_micros: limit === null ? null : Math.max(limit - spent, 0),
          },
        ]
      }
    }
    // Leases move with every gateway's traffic: they are the ledger's business, not news.
    if (event.action === 'budget.lease_grant' || event.action === 'budget.lease_return') return []
    return [
      {
        type: 'audit',
        at: event.at,
        seq: event.seq,
        category: categoryOf(event.action),
        action: event.action,
        actor: event.actor,
        outcome: event.outcome,
        resource: event.resource,
        agent_id: event.agent_id,
        agent: this.#name(event.agent_id),
      },
    ]
  }
}

function categoryOf(action: string): 'budget' | 'safety' | 'admin' {
  if (action.startsWith('budget')) return 'budget'
  if (action.startsWith('safety') || action.startsWith('firewall')) return 'safety'
  return 'admin'
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null)
const nonNegative = (v: unknown): number | null => {
  const n = int(v)
  return n !== null && n >= 0 ? n : null
}
