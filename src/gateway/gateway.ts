import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type ChangeDomain,
  ControlPlaneUnreachable,
  type GatewayControl,
} from '../services/gateway-control.js'
import { anthropicMessages } from './adapters/anthropic-messages.js'
import { adapterForRoute, ROUTE_LIST } from './adapters/index.js'
import { openaiChat } from './adapters/openai-chat.js'
import { EventHub } from './events.js'
import { Heartbeat } from './heartbeat.js'
import { tokenFrom } from './http.js'
import { LeaseBook } from './leases.js'
import { Metrics } from './metrics.js'
import type { MockOptions } from './mock-upstream.js'
import { modelsPayload } from './models.js'
import { admit } from './pipeline/admit.js'
import { agentState } from './pipeline/agent-state.js'
import { answerJson } from './pipeline/answer-json.js'
import { answerStream } from './pipeline/answer-stream.js'
import { authenticate } from './pipeline/authenticate.js'
import { count } from './pipeline/count.js'
import { type Exchange, type GatewayDeps, refusal } from './pipeline/exchange.js'
import { forward, outgoingBody } from './pipeline/forward.js'
import { inputFirewall } from './pipeline/input-firewall.js'
import { parse } from './pipeline/parse.js'
import { abandoned, answer, refuse, sendJson } from './pipeline/respond.js'
import { RateLimiter } from './rate-limit.js'
import { newRecord } from './record.js'
import { Upstreams } from './upstream.js'

/** How long a gateway's leases outlive its last heartbeat unless configured (`gateway.lease_ttl`). */
export const DEFAULT_LEASE_TTL_MS = 15_000
const IDLE_CHECK_MS = 5_000

export interface GatewayOptions {
  control: GatewayControl
  /** Names this gateway's leases and reservations, so the control plane knows whose they are. */
  holder: string
  maxBodyBytes?: number
  mock?: MockOptions
  upstreams?: Upstreams
  /** Off only to measure what the firewall costs (benchmarks). */
  firewall?: boolean
  /** How long this gateway's leases outlive its last heartbeat. */
  leaseTtlMs?: number
  /** The control plane reclaimed this gateway's leases while it stalled; it has registered again. */
  onReclaimed?: () => void
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024

/**
 * The request path of SPEC §4, as stages in its order: authenticate → agent state and rate limit → parse
 * and route → input firewall → count → admit → forward → answer (JSON or stream) → settle and record →
 * observe. Each stage is its own module; a refusal from any of them is answered one way (`refuse`), and
 * whatever a request holds of the budget is released on every path. The control plane is reached only
 * through its port (`GatewayControl`).
 */
export class Gateway {
  readonly control: GatewayControl
  readonly metrics = new Metrics()
  readonly events = new EventHub()
  readonly limiter = new RateLimiter()
  readonly upstreams: Upstreams
  readonly leases: LeaseBook
  readonly heartbeat: Heartbeat
  readonly #deps: GatewayDeps
  readonly #idleTimer: NodeJS.Timeout

  constructor(private readonly options: GatewayOptions) {
    this.control = options.control
    this.upstreams = options.upstreams ?? new Upstreams()
    this.heartbeat = new Heartbeat({
      control: this.control,
      holder: options.holder,
      ttlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      holds: () => this.leases.holds(),
      onReclaimed: () => {
        process.stderr.write(
          'iron gateway: its heartbeat ran out (the process stalled); the control plane took its leases back, and it holds new ones from now on\n',
        )
        this.leases.forgetAll()
        options.onReclaimed?.()
      },
    })
    this.leases = new LeaseBook(this.control, options.holder, this.heartbeat.current)
    this.#deps = {
      control: this.control,
      leases: this.leases,
      limiter: this.limiter,
      upstreams: this.upstreams,
      metrics: this.metrics,
      events: this.events,
      holder: options.holder,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY,
      mock: options.mock,
      firewall: options.firewall !== false,
    }
    this.control.onChange((changed) => void this.#changed(changed))
    this.#idleTimer = setInterval(() => this.leases.returnIdle(), IDLE_CHECK_MS)
    this.#idleTimer.unref()
  }

  get holder(): string {
    return this.options.holder
  }

  /** A command changed the control plane: look now rather than at the next periodic check. */
  invalidate(): void {
    this.control.refresh(true)
  }

  /** Budgets whose terms changed (limit, period, status): stop lending from leases taken under the old ones. */
  async #changed(changed: ReadonlySet<ChangeDomain>): Promise<void> {
    if (!changed.has('budgets') && !changed.has('agents')) return
    const held = this.leases.heldLimits()
    if (held.length === 0) return
    const terms = new Map(
      (await this.control.budgetTerms(held.map((h) => h.agentId))).map((t) => [t.agent_id, t]),
    )
    for (const lease of held) {
      const now = terms.get(lease.agentId)
      if (!now?.active || now.limit_micros !== lease.limit) this.leases.retire(lease.agentId)
    }
  }

  /** Entry point for `/v1/...` requests. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t0 = performance.now()
    this.metrics.inFlight++
    const routed = adapterForRoute(path)
    const ex: Exchange = {
      req,
      res,
      adapter: routed ?? (path.includes('messages') ? anthropicMessages : openaiChat),
      record: newRecord(routed?.kind ?? 'unknown', this.holder),
      t0,
      upstreamMs: 0,
      recorded: false,
      // Every field from the start, so that exchanges share one shape (V8 keeps property access fast).
      agent: undefined,
      raw: undefined,
      body: undefined,
      info: undefined,
      provider: undefined,
      price: undefined,
      model: undefined,
      redacted: false,
      walked: undefined,
      checks: undefined,
      input: undefined,
      counted: undefined,
      outputCap: 0,
      admission: undefined,
      outgoing: undefined,
      clientWantsUsage: false,
    }
    const deps = this.#deps
    try {
      this.control.refresh()
      if (path === '/v1/models') return await this.#models(ex)
      if (!routed) {
        return await refuse(
          deps,
          ex,
          refusal(
            404,
            'not_found',
            `No route ${req.method} ${path}; iron serves ${ROUTE_LIST.join(', ')} and GET /v1/models`,
          ),
        )
      }
      if (req.method !== 'POST')
        return await refuse(
          deps,
          ex,
          refusal(405, 'method_not_allowed', `Use POST for ${path}`, { headers: { allow: 'POST' } }),
        )
      await this.#proxy(ex)
    } catch (error) {
      // The control plane could not be asked (a team gateway's server is down): refused, closed.
      if (error instanceof ControlPlaneUnreachable && !ex.recorded)
        return await refuse(deps, ex, refusal(error.status, error.code, error.message))
      // A bug, not bad input: the request still gets a record and an answer in its API's shape.
      process.stderr.write(
        `iron gateway: unexpected error on ${req.method} ${path} (${ex.record.id}): ${(error as Error).stack ?? error}\n`,
      )
      if (!ex.recorded)
        await refuse(
          deps,
          ex,
          refusal(500, 'gateway_error', `The gateway failed on this request (${ex.record.id}); it is logged`),
        )
      else if (!res.headersSent && !res.destroyed)
        sendJson(
          res,
          500,
          ex.adapter.error(500, 'gateway_error', 'The gateway failed on this request; it is logged'),
        )
      else if (!res.destroyed) res.destroy()
    } finally {
      // Whatever the request still holds of the budget goes back, on every path.
      const admission = ex.admission
      ex.admission = undefined
      if (admission) this.leases.release(admission)
      this.metrics.inFlight--
    }
  }

  /** The stages, in order; the first refusal answers the request. */
  async #proxy(ex: Exchange): Promise<void> {
    const deps = this.#deps
    let refused = await authenticate(deps, ex)
    refused ??= agentState(deps, ex)
    if (refused) return refuse(deps, ex, refused)
    const parsed = await parse(deps, ex)
    if (parsed === 'aborted') return abandoned(deps, ex)
    refused = parsed ?? inputFirewall(deps, ex) ?? count(deps, ex) ?? (await admit(deps, ex))
    if (refused) return refuse(deps, ex, refused)
    outgoingBody(ex)

    const controller = new AbortController()
    ex.res.on('close', () => {
      if (!ex.res.writableFinished) controller.abort()
    })
    const upstreamStart = performance.now()
    const upstream = await forward(deps, ex, controller.signal)
    if (!upstream) return
    if (String(upstream.headers['content-type'] ?? '').includes('text/event-stream'))
      return answerStream(deps, ex, upstream, upstreamStart, controller)
    return answerJson(deps, ex, upstream, upstreamStart, controller.signal)
  }

  /** `GET /v1/models`: the models this agent may use, in the shape of the SDK that asks. */
  async #models(ex: Exchange): Promise<void> {
    const deps = this.#deps
    const { req } = ex
    const anthropic =
      req.headers['anthropic-version'] !== undefined ||
      (req.headers['x-api-key'] !== undefined && req.headers.authorization === undefined)
    const models = ex
    models.adapter = anthropic ? anthropicMessages : openaiChat
    models.record.api = 'models'
    const secret = tokenFrom(req)
    const identity = secret ? await this.control.authenticate(secret) : undefined
    if (!identity) {
      return refuse(
        deps,
        models,
        refusal(401, secret ? 'invalid_token' : 'missing_token', 'A valid IC token is needed to list models'),
      )
    }
    models.agent = identity.agent
    models.record.agent_id = identity.agent.id
    const payload = modelsPayload(
      identity.agent,
      await this.control.providers(),
      await this.control.prices(),
      anthropic,
    )
    return answer(deps, models, 200, 'ok', JSON.stringify(payload), 'application/json')
  }

  /**
   * Register this gateway's heartbeat and give back what gateways whose heartbeat ran out left behind
   * (a kill -9, a stalled container). Returns how many leases and reservations went back.
   */
  start(): Promise<number> {
    return this.heartbeat.start()
  }

  /** Return every lease, wait until every write asked for so far is committed, end the registration. */
  async flush(): Promise<void> {
    clearInterval(this.#idleTimer)
    await this.leases.returnAll()
    await this.heartbeat.stop()
  }
}
