import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { StringDecoder } from 'node:string_decoder'
import type { Statement } from 'better-sqlite3'
import { formatMoney, MAX_MICROS } from '../core/money.js'
import {
  costMicros,
  MAX_TOKEN_COUNT,
  type ModelPrice,
  maxOutputTokensWithin,
  worstCaseMicros,
} from '../pricing/index.js'
import {
  type EvaluatedFinding,
  enabledCategories,
  redactRequest,
  redactResponse,
  type SafetyPolicy,
} from '../safety/index.js'
import type { LocalContext } from '../services/context.js'
import { DEFAULT_LEASE_TTL_MS } from '../services/local/holders.js'
import { createLocalControlPlane, type LocalControlPlane } from '../services/local/index.js'
import { DEFAULT_BASE_URLS } from '../services/local/providers.js'
import type { AgentRow } from '../store/agents.js'
import { type GroupCommit, groupCommitOf } from '../store/group-commit.js'
import type { ProviderRow } from '../store/providers.js'
import {
  type ApiKind,
  errorBody,
  type Family,
  familyOf,
  inputTexts,
  inputTokenIds,
  type Json,
  MAX_BODY_DEPTH,
  maxOutputField,
  nestsDeeperThan,
  outputText,
  type RequestInfo,
  ROUTES,
  readRequest,
  type Usage,
  upstreamPath,
  usageFromJson,
} from './apis.js'
import { EventHub } from './events.js'
import { Heartbeat } from './heartbeat.js'
import { drainOrClose, readBody, tokenFrom, upstreamErrorCode, upstreamHeaders } from './http.js'
import { type Admission, LeaseBook } from './leases.js'
import { Metrics } from './metrics.js'
import { type MockOptions, mockRespond } from './mock-upstream.js'
import { modelsPayload } from './models.js'
import { RateLimiter } from './rate-limit.js'
import { type FindingsSummary, finishTimes, newRecord, outcomeOf, type RequestRecord } from './record.js'
import { route } from './routing.js'
import { safeContentType, safeRequestId, scrubUpstreamText } from './scrub.js'
import { StreamFirewall } from './stream-firewall.js'
import { StreamMeter } from './stream-meter.js'
import { countInputTokens, countOutputTokens } from './tokenizer.js'
import { readText, toUpstreamError, type UpstreamResponse, Upstreams } from './upstream.js'

export interface GatewayOptions {
  ctx: LocalContext
  /** Identifies this gateway's reservations, so a restart can release what a crash left open. */
  holder: string
  maxBodyBytes?: number
  mock?: MockOptions
  upstreams?: Upstreams
  /** Off only to measure what the audit trail costs (benchmarks); every request is audited otherwise. */
  audit?: boolean
  /** Off only to measure what the firewall costs (benchmarks). */
  firewall?: boolean
  /** How long this gateway's leases outlive its last heartbeat (default DEFAULT_LEASE_TTL_MS). */
  leaseTtlMs?: number
  /** The store reclaimed this gateway's leases while it stalled; it has registered again. */
  onReclaimed?: () => void
}

interface AuthEntry {
  token_id: string
  agent_id: string
  expires_at: number | null
}

/** Per-request state, written to the request record at the end. */
interface Exchange {
  api: ApiKind
  family: Family
  record: RequestRecord
  t0: number
  upstreamMs: number
  agent?: AgentRow
  /** What the request holds of the budget until it is settled or released (the handler's finally frees it). */
  admission?: Admission
  /** Whether its record was written (a request that fails anywhere still gets one). */
  recorded: boolean
}

/** A request that passed authentication, parsing and routing. */
interface Accepted {
  agent: AgentRow
  raw: Buffer
  body: Json
  info: RequestInfo
  provider: ProviderRow
  price: ModelPrice | undefined
  /** The model id the provider knows. */
  model: string
}

/** An admitted request, ready to forward. */
interface Forward extends Accepted {
  /** The body as sent upstream. */
  outgoing: Buffer | string
  /** Input tokens as counted before sending. */
  input: number
  /** Output tokens allowed per choice, as reserved (and sent upstream). */
  outputCap: number
  clientWantsUsage: boolean
  policy: SafetyPolicy
  outputChecks: boolean
}

interface Answer {
  res: ServerResponse
  ex: Exchange
  forward: Forward
  upstream: UpstreamResponse
  upstreamStart: number
  settle: Settlement
  controller: AbortController
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024
const MAX_UPSTREAM_ERROR_BODY = 1024 * 1024
const MAX_UPSTREAM_JSON = 64 * 1024 * 1024

/**
 * The request path of SPEC §4: authenticate, check the agent, admit by reservation, forward with the real
 * provider key, meter from the response itself, settle; every request leaves a record.
 */
export class Gateway {
  readonly cp: LocalControlPlane
  readonly metrics = new Metrics()
  readonly events = new EventHub()
  readonly limiter = new RateLimiter()
  readonly upstreams: Upstreams
  readonly leases: LeaseBook
  readonly heartbeat: Heartbeat
  readonly #idleTimer: NodeJS.Timeout
  readonly #writer: GroupCommit
  readonly #dataVersion: Statement
  readonly #maxBody: number
  #version = -1
  #checkedAt = -1
  readonly #auth = new Map<string, AuthEntry>()
  readonly #agents = new Map<string, AgentRow>()
  readonly #keys = new Map<string, string | null>()
  readonly #budgeted = new Map<string, boolean>()
  readonly #policies = new Map<string, AgentPolicy>()
  readonly #touched = new Map<string, number>()
  #providers: ProviderRow[] | undefined

  constructor(private readonly options: GatewayOptions) {
    const db = options.ctx.db()
    this.cp = createLocalControlPlane(options.ctx)
    this.#writer = groupCommitOf(db)
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY
    this.upstreams = options.upstreams ?? new Upstreams()
    this.heartbeat = new Heartbeat({
      holders: this.cp.holders,
      budgets: this.cp.budgets,
      writer: this.#writer,
      holder: options.holder,
      ttlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      onReclaimed: () => {
        process.stderr.write(
          'iron gateway: its heartbeat ran out (the process stalled); the store took its leases back, and it holds new ones from now on\n',
        )
        this.leases.forgetAll()
        options.onReclaimed?.()
      },
    })
    this.leases = new LeaseBook(this.cp.budgets, this.#writer, options.holder, this.heartbeat.current)
    this.#idleTimer = setInterval(() => this.leases.returnIdle(), 5_000)
    this.#idleTimer.unref()
  }

  get holder(): string {
    return this.options.holder
  }

  /**
   * Drop every cache when another process has written to the store (a revoked token, a suspended agent).
   * Commands that change the store tell the gateway at once (`/_iron/invalidate`); as a backstop for other
   * writers, the store's change counter is also checked every 100 ms.
   */
  #fresh(): void {
    const now = performance.now()
    if (now - this.#checkedAt < 100) return
    this.#checkedAt = now
    const version = this.#dataVersion.get() as number
    if (version === this.#version) return
    this.#version = version
    this.invalidate()
  }

  /** Drop every cache (tokens, agents, providers, keys, prices) and re-check the budgets leases were taken under. */
  invalidate(): void {
    this.#auth.clear()
    this.#agents.clear()
    this.#keys.clear()
    this.#budgeted.clear()
    this.#policies.clear()
    this.#providers = undefined
    this.cp.pricing.invalidate()
    // A budget changed elsewhere (limit, period, status): stop lending from a lease taken under the old one.
    const current = this.options.ctx
      .db()
      .prepare(
        'SELECT b.limit_micros AS limit_micros, b.period_end AS period_end, a.status AS status FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE b.agent_id = ?',
      )
    for (const held of this.leases.heldLimits()) {
      const now = current.get(held.agentId) as
        | { limit_micros: number | null; period_end: number | null; status: string }
        | undefined
      if (now?.status !== 'active' || now.limit_micros !== held.limit) this.leases.retire(held.agentId)
    }
  }

  #authenticate(secret: string): { entry: AuthEntry; agent: AgentRow } | undefined {
    let entry = this.#auth.get(secret)
    if (!entry) {
      const found = this.cp.tokens.authenticate(secret)
      if (!found) return undefined
      entry = { token_id: found.token_id, agent_id: found.agent.id, expires_at: found.expires_at }
      this.#auth.set(secret, entry)
      this.#agents.set(found.agent.id, found.agent)
    }
    if (entry.expires_at !== null && entry.expires_at <= Date.now()) return undefined
    let agent = this.#agents.get(entry.agent_id)
    if (!agent) {
      agent = this.cp.repos.agents.byId(entry.agent_id)
      if (!agent) return undefined
      this.#agents.set(agent.id, agent)
    }
    if (agent.deleted_at !== null) return undefined
    return { entry, agent }
  }

  /** The agent's effective safety policy and whether it checks each direction (cached until the store changes). */
  #policyFor(agent: AgentRow): AgentPolicy {
    let entry = this.#policies.get(agent.id)
    if (!entry) {
      const policy = this.cp.safety.effectiveFor(agent)
      const on = this.options.firewall !== false
      entry = {
        policy,
        input: on && enabledCategories(policy, 'input').size > 0,
        output: on && enabledCategories(policy, 'output').size > 0,
      }
      this.#policies.set(agent.id, entry)
    }
    return entry
  }

  /** Keep what the firewall found in the request record, and tell `/_iron/events` watchers. */
  #findings(
    ex: Exchange,
    direction: 'input' | 'output',
    result: {
      findings: ReadonlyArray<EvaluatedFinding & { path?: string }>
      blocked: readonly string[]
      error?: { code: string; message: string }
    },
  ): void {
    if (result.findings.length === 0 && !result.error) return
    const counts: Record<string, number> = {}
    for (const f of result.findings) counts[f.category] = (counts[f.category] ?? 0) + 1
    const summary: FindingsSummary = {
      counts,
      blocked: [...result.blocked],
      error: result.error?.code ?? null,
      items: result.findings.slice(0, 100).map((f) => ({
        category: f.category,
        action: f.action,
        path: f.path ?? null,
        start: f.start,
        end: f.end,
        sha256: f.sha256,
      })),
    }
    ex.record.findings = { ...ex.record.findings, [direction]: summary }
    const actions = new Set(result.findings.map((f) => f.action))
    this.events.publish({
      type: 'safety',
      at: new Date().toISOString(),
      agent: ex.agent?.name ?? '(unauthenticated)',
      agent_id: ex.agent?.id ?? null,
      request_id: ex.record.id,
      direction,
      action: result.blocked.length || result.error ? 'block' : actions.has('redact') ? 'redact' : 'log',
      categories: Object.keys(counts),
    })
  }

  #providersList(): ProviderRow[] {
    this.#providers ??= this.cp.repos.providers.list()
    return this.#providers
  }

  #apiKey(provider: ProviderRow): string | null {
    if (!this.#keys.has(provider.id)) this.#keys.set(provider.id, this.cp.providers.apiKey(provider))
    return this.#keys.get(provider.id) ?? null
  }

  #isBudgeted(agentId: string): boolean {
    let budgeted = this.#budgeted.get(agentId)
    if (budgeted === undefined) {
      budgeted =
        (this.options.ctx
          .db()
          .prepare('SELECT limit_micros FROM budgets WHERE agent_id = ?')
          .pluck()
          .get(agentId) ?? null) !== null
      this.#budgeted.set(agentId, budgeted)
    }
    return budgeted
  }

  /** Entry point for `/v1/...` requests. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t0 = performance.now()
    this.metrics.inFlight++
    let exchange: Exchange | undefined
    try {
      this.#fresh()
      if (path === '/v1/models') return await this.#models(req, res, t0)
      const api = ROUTES[path]
      if (!api) {
        return this.#plainError(
          res,
          path.includes('messages') ? 'anthropic' : 'openai',
          404,
          'not_found',
          `No route ${req.method} ${path}; iron serves /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/models, /v1/messages and /v1/messages/count_tokens`,
        )
      }
      exchange = {
        api,
        family: familyOf(api),
        t0,
        upstreamMs: 0,
        record: newRecord(api, this.holder),
        recorded: false,
      }
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        return await this.#refuse(res, exchange, 405, 'method_not_allowed', `Use POST for ${path}`)
      }
      await this.#proxy(req, res, exchange)
    } catch (error) {
      // A bug, not bad input: the request still gets a record and an answer in its API's shape.
      if (!exchange) throw error
      process.stderr.write(
        `iron gateway: unexpected error on ${req.method} ${path} (${exchange.record.id}): ${(error as Error).stack ?? error}\n`,
      )
      if (!exchange.recorded) {
        exchange.upstreamMs ||= 0
        await this.#refuse(
          res,
          exchange,
          500,
          'gateway_error',
          `The gateway failed on this request (${exchange.record.id}); it is logged`,
        )
      } else if (!res.headersSent && !res.destroyed) {
        this.#plainError(
          res,
          exchange.family,
          500,
          'gateway_error',
          'The gateway failed on this request; it is logged',
          exchange,
        )
      } else if (!res.destroyed) {
        res.destroy()
      }
    } finally {
      // Whatever the request still holds of the budget goes back, on every path.
      if (exchange?.admission) this.#release(exchange)
      this.metrics.inFlight--
    }
  }

  /** Free what a request held without charging it (it was refused, or the upstream did not answer). */
  #release(ex: Exchange): void {
    const admission = ex.admission
    ex.admission = undefined
    if (admission) this.leases.release(admission)
  }

  /** `POST /v1/...`: admit, forward, then answer from the provider's JSON or stream. */
  async #proxy(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    const accepted = await this.#accept(req, res, ex)
    if (!accepted) return
    const forward = await this.#reserve(res, ex, accepted)
    if (!forward) return
    const { provider } = forward

    const settle = new Settlement(this, ex, forward)
    const controller = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) controller.abort()
    })
    const upstreamStart = performance.now()
    const key = provider.kind === 'mock' ? null : this.#apiKey(provider)
    let upstream: UpstreamResponse
    try {
      upstream =
        provider.kind === 'mock'
          ? mockRespond(
              ex.api,
              {
                ...forward.body,
                stream: forward.info.stream,
                stream_options: forward.clientWantsUsage ? { include_usage: true } : undefined,
              },
              forward.outputCap || 64,
              this.options.mock,
            )
          : await this.upstreams.send({
              url: new URL(`${provider.base_url ?? DEFAULT_BASE_URLS[provider.kind]}${upstreamPath(ex.api)}`),
              headers: upstreamHeaders(provider, key, req),
              body: forward.outgoing,
              signal: controller.signal,
            })
    } catch (error) {
      ex.upstreamMs = performance.now() - upstreamStart
      this.#release(ex)
      if (controller.signal.aborted) return this.#record(ex, 499, 'client_closed', 'client_closed')
      const failure = toUpstreamError(error)
      return this.#refuse(
        res,
        ex,
        failure.code === 'UPSTREAM_TIMEOUT' ? 504 : 502,
        failure.code.toLowerCase(),
        `Provider ${provider.name}: ${failure.message}`,
      )
    }
    const upstreamRequestId = safeRequestId(
      upstream.headers['x-request-id'] ?? upstream.headers['request-id'],
    )
    if (upstreamRequestId) res.setHeader('x-upstream-request-id', upstreamRequestId)

    if (upstream.status >= 400) {
      const raw = await readText(upstream.body, MAX_UPSTREAM_ERROR_BODY).catch(() => '')
      ex.upstreamMs = performance.now() - upstreamStart
      this.#release(ex)
      // Relayed so SDKs show the provider's reason, but never with a secret in it (some servers echo the key).
      const text = raw ? scrubUpstreamText(raw, [key]) : undefined
      ex.record.error_code = text ? upstreamErrorCode(text) : 'upstream_error'
      const status = upstream.status >= 400 && upstream.status <= 599 ? upstream.status : 502
      let json = false
      try {
        json = text !== undefined && typeof JSON.parse(text) === 'object'
      } catch {}
      return this.#send(
        res,
        ex,
        status,
        'upstream_error',
        text ||
          JSON.stringify(
            errorBody(ex.family, {
              status,
              code: 'upstream_error',
              message: `Provider ${provider.name} answered ${upstream.status}`,
            }),
          ),
        text && !json ? 'text/plain; charset=utf-8' : 'application/json',
      )
    }
    const answer = { res, ex, forward, upstream, upstreamStart, settle, controller }
    if (String(upstream.headers['content-type'] ?? '').includes('text/event-stream'))
      return this.#answerStream(answer)
    return this.#answerJson(answer)
  }

  /** Authenticate, read and parse the body, and route it: what the request is and who may send it. */
  async #accept(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<Accepted | undefined> {
    const secret = tokenFrom(req)
    if (!secret) {
      await this.#refuse(
        res,
        ex,
        401,
        'missing_token',
        'No IC token: send it as Authorization: Bearer <token> or x-api-key',
      )
      return
    }
    const auth = this.#authenticate(secret)
    if (!auth) {
      await this.#refuse(res, ex, 401, 'invalid_token', 'The IC token is unknown, revoked or expired')
      return
    }
    const { agent } = auth
    ex.agent = agent
    ex.record.agent_id = agent.id
    ex.record.token_id = auth.entry.token_id
    this.#touch(auth.entry.token_id)
    if (agent.status !== 'active') {
      await this.#refuse(res, ex, 403, 'agent_suspended', `Agent ${agent.name} is suspended`)
      return
    }

    const type = String(req.headers['content-type'] ?? '')
    if (!/^application\/json\b/i.test(type)) {
      await this.#refuse(
        res,
        ex,
        415,
        'unsupported_media_type',
        `Send the body as application/json (got '${type || 'nothing'}')`,
      )
      return
    }
    const raw = await readBody(req, this.#maxBody)
    if (raw === 'too_large') {
      res.setHeader('connection', 'close')
      await this.#refuse(
        res,
        ex,
        413,
        'request_too_large',
        `The body is larger than the gateway's limit of ${this.#maxBody} bytes`,
      )
      return
    }
    if (raw === 'aborted') {
      await this.#record(ex, 499, 'client_closed', 'client_closed')
      return
    }
    ex.record.prompt_sha256 = createHash('sha256').update(raw).digest('hex')
    let body: Json
    try {
      const parsed = JSON.parse(raw.toString('utf8')) as unknown
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object')
      body = parsed as Json
    } catch {
      await this.#refuse(res, ex, 400, 'invalid_json', 'The body is not a JSON object')
      return
    }
    if (nestsDeeperThan(body, MAX_BODY_DEPTH)) {
      await this.#refuse(
        res,
        ex,
        400,
        'too_deeply_nested',
        `The body nests arrays and objects more than ${MAX_BODY_DEPTH} levels deep`,
      )
      return
    }
    const info = readRequest(ex.api, body)
    if (typeof info === 'string') {
      await this.#refuse(res, ex, 400, 'invalid_request', `Invalid request: ${info}`)
      return
    }
    ex.record.model = info.model
    ex.record.stream = info.stream ? 1 : 0

    const routed = route({
      agent,
      requested: info.model,
      family: ex.family,
      providers: this.#providersList(),
      prices: this.cp.pricing.table(),
      budgeted: this.#isBudgeted(agent.id),
    })
    if ('status' in routed) {
      await this.#refuse(res, ex, routed.status, routed.code, routed.message)
      return
    }
    ex.record.provider = routed.provider.name
    ex.record.model = routed.price?.model ?? routed.model
    return { agent, raw, body, info, provider: routed.provider, price: routed.price, model: routed.model }
  }

  /**
   * Check the input, the rate limits and the budget; reserve the worst case (or, under the clamp policy,
   * the largest max tokens that fits) and shape the body sent upstream.
   */
  async #reserve(res: ServerResponse, ex: Exchange, accepted: Accepted): Promise<Forward | undefined> {
    const { agent, info, provider, price } = accepted
    let body = accepted.body
    const { policy, input: inputChecks, output: outputChecks } = this.#policyFor(agent)
    let redactedInput = false
    if (inputChecks) {
      const checked = redactRequest(
        ex.api === 'anthropic-count-tokens' ? 'anthropic-messages' : ex.api,
        body,
        policy,
      )
      this.#findings(ex, 'input', checked)
      if (checked.error || checked.blocked.length) {
        const what = checked.error
          ? `the firewall could not check it (${checked.error.message})`
          : checked.blocked.join(', ')
        await this.#refuse(
          res,
          ex,
          400,
          'safety_violation',
          `The request was blocked by iron's input firewall: ${what}`,
          'safety_blocked',
        )
        return
      }
      if (checked.redacted.length) {
        body = checked.body as Json
        redactedInput = true
      }
    }

    const input =
      countInputTokens(inputTexts(ex.api, body), accepted.model, price?.provider ?? provider.kind).tokens +
      inputTokenIds(ex.api, body)
    const limits = this.limiter.admit(agent.id, { rpm: agent.rpm_limit, tpm: agent.tpm_limit }, input)
    if (!limits.ok) {
      res.setHeader('retry-after', String(limits.retryAfterSeconds))
      await this.#refuse(
        res,
        ex,
        429,
        'rate_limited',
        `Agent ${agent.name} is over its ${limits.limit.replaceAll('_', ' ')} limit; retry in ${limits.retryAfterSeconds}s`,
      )
      return
    }

    // The worst case: every input token at the highest input price, and every choice at its max tokens.
    const choices = info.choices
    let outputCap =
      info.producesOutput && price
        ? Math.min(info.maxOutput?.value ?? price.max_output_tokens, price.max_output_tokens)
        : 0
    if (outputCap * choices > MAX_TOKEN_COUNT) {
      await this.#refuse(
        res,
        ex,
        400,
        'invalid_request',
        `Invalid request: ${choices} choices of ${outputCap} tokens is more output than any model produces`,
      )
      return
    }
    let clampedTo: number | undefined
    const worst = price && info.billable ? worstCaseMicros(price, input, outputCap * choices) : 0
    if (info.billable) {
      const reservation = await this.leases.admit(
        agent.id,
        worst,
        price && info.producesOutput
          ? (available) => {
              const tokens = Math.floor(maxOutputTokensWithin(price, input, available) / choices)
              if (tokens < 1) return undefined
              clampedTo = tokens
              return worstCaseMicros(price, input, tokens * choices)
            }
          : undefined,
      )
      if ('ok' in reservation) {
        res.setHeader('x-iron-budget-remaining-micros', String(reservation.remaining_micros))
        if (reservation.reason === 'budget_exceeded') {
          const elsewhere = reservation.leased_elsewhere_micros ?? 0
          await this.#refuse(
            res,
            ex,
            402,
            'budget_exceeded',
            `Agent ${agent.name} has ${formatMoney(reservation.remaining_micros)} left, and this request could cost up to ${formatMoney(worst)}` +
              (elsewhere > 0
                ? ` (other gateways hold ${formatMoney(elsewhere)} of its budget in leases; they return what they do not use)`
                : ''),
          )
          return
        }
        await this.#refuse(
          res,
          ex,
          403,
          reservation.reason,
          `Agent ${agent.name} is ${reservation.reason === 'agent_deleted' ? 'deleted' : 'suspended'}`,
        )
        return
      }
      ex.admission = reservation
      ex.record.reserved_micros = reservation.amount
      if (reservation.clamped && clampedTo !== undefined) outputCap = clampedTo
    }

    // The body as sent upstream: the model id it knows, output bounded by what was reserved, usage in streams.
    let changed = accepted.model !== info.model || redactedInput
    if (changed) body.model = accepted.model
    const maxField = info.maxOutput?.field ?? maxOutputField(ex.api, provider.kind)
    if (
      price &&
      info.producesOutput &&
      maxField &&
      (info.maxOutput?.value ?? Number.POSITIVE_INFINITY) > outputCap
    ) {
      body[maxField] = outputCap
      changed = true
    }
    const clientWantsUsage = (body.stream_options as Json | undefined)?.include_usage === true
    if (ex.api === 'openai-chat' && info.stream && !clientWantsUsage && provider.kind !== 'mock') {
      body.stream_options = { ...(body.stream_options as Json | undefined), include_usage: true }
      changed = true
    }
    return {
      ...accepted,
      body,
      outgoing: changed ? JSON.stringify(body) : accepted.raw,
      input,
      outputCap,
      clientWantsUsage,
      policy,
      outputChecks,
    }
  }

  /** A JSON answer: read it whole, meter it, check it, settle, then send it. */
  async #answerJson({
    res,
    ex,
    forward,
    upstream,
    upstreamStart,
    settle,
    controller,
  }: Answer): Promise<void> {
    let text: string
    try {
      text = await readText(upstream.body, MAX_UPSTREAM_JSON)
    } catch {
      ex.upstreamMs = performance.now() - upstreamStart
      const status = controller.signal.aborted ? 499 : 502
      await settle.commit(undefined, '', status === 499 ? 'client_closed' : 'upstream_error', status)
      if (controller.signal.aborted) return
      return this.#plainError(
        res,
        ex.family,
        502,
        'upstream_failed',
        `Provider ${forward.provider.name} stopped mid-answer`,
        ex,
      )
    }
    ex.upstreamMs = performance.now() - upstreamStart
    let parsed: Json | undefined
    try {
      const value = JSON.parse(text) as unknown
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Json
    } catch {}
    if (!parsed || nestsDeeperThan(parsed, MAX_BODY_DEPTH)) {
      // Not an answer of this API: charged as estimated (the provider may have billed it), never relayed.
      await settle.commit(undefined, text, 'upstream_error', 502)
      return this.#plainError(
        res,
        ex.family,
        502,
        'upstream_invalid_response',
        `Provider ${forward.provider.name} answered with a body that is not a JSON object of this API`,
        ex,
      )
    }
    const usage = usageFromJson(ex.api, parsed)
    // Output firewall: the answer is paid for either way; a blocked one does not reach the agent.
    let blockedOutput: string | undefined
    if (forward.outputChecks && ex.api !== 'anthropic-count-tokens') {
      const checked = redactResponse(ex.api, parsed, forward.policy)
      this.#findings(ex, 'output', checked)
      if (checked.error || checked.blocked.length)
        blockedOutput = checked.error ? checked.error.message : checked.blocked.join(', ')
      else if (checked.redacted.length) text = JSON.stringify(checked.body)
    }
    if (blockedOutput) {
      text = JSON.stringify(
        errorBody(ex.family, {
          status: 400,
          code: 'safety_violation',
          message: `The response was blocked by iron's output firewall: ${blockedOutput}`,
        }),
      )
    }
    ex.record.response_sha256 = createHash('sha256').update(text).digest('hex')
    const status = blockedOutput ? 400 : 200
    const result = await settle.commit(
      usage,
      usage ? '' : outputText(ex.api, parsed),
      blockedOutput ? 'safety_blocked' : 'ok',
      status,
    )
    if (result.remaining_micros !== null) {
      const remaining = result.remaining_micros + this.leases.freeFor(forward.agent.id)
      res.setHeader('x-iron-budget-remaining-micros', String(remaining))
    }
    res.setHeader('x-iron-cost-micros', String(result.charged_micros))
    return this.#send(
      res,
      ex,
      status,
      blockedOutput ? 'safety_blocked' : 'ok',
      text,
      blockedOutput
        ? 'application/json'
        : safeContentType(upstream.headers['content-type'], 'application/json'),
      true,
    )
  }

  /** A stream: forward each event as it comes, meter from the stream, settle before the end. */
  async #answerStream({
    res,
    ex,
    forward,
    upstream,
    upstreamStart,
    settle,
    controller,
  }: Answer): Promise<void> {
    const firewall = forward.outputChecks ? new StreamFirewall(ex.api, forward.policy) : undefined
    const meter = new StreamMeter(ex.api, ex.api === 'openai-chat' && !forward.clientWantsUsage, firewall)
    const hash = createHash('sha256')
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-iron-request-id': ex.record.id,
      'x-iron-overhead-ms': (upstreamStart - ex.t0).toFixed(3),
    })
    res.flushHeaders()
    let failed: Error | undefined
    // Each chunk is metered and forwarded as it is parsed; a client that reads slowly holds the upstream.
    const utf8 = new StringDecoder('utf8')
    try {
      await upstream.body.each((chunk) => {
        // What the upstream sent is metered even when the client has left: the provider bills it.
        const out = meter.push(utf8.write(chunk))
        if (res.destroyed) return false
        if (out) {
          hash.update(out)
          if (!res.write(out)) return drainOrClose(res)
        }
        return meter.blocked ? false : undefined
      })
      const rest = meter.push(utf8.end()) + meter.end()
      if (rest && !res.destroyed) {
        hash.update(rest)
        res.write(rest)
      }
    } catch (error) {
      failed = error as Error
    }
    ex.upstreamMs = performance.now() - upstreamStart
    const clientGone = res.destroyed || controller.signal.aborted
    const usage =
      meter.usage ?? (meter.partialInput ? { ...meter.partialInput, output_tokens: 0 } : undefined)
    const complete = Boolean(meter.usage) && !failed && !clientGone
    if (meter.blocked) controller.abort()
    if (firewall)
      this.#findings(ex, 'output', { findings: firewall.findings, blocked: firewall.blocked ?? [] })
    const outcome = clientGone
      ? 'client_closed'
      : meter.blocked
        ? 'safety_blocked'
        : failed
          ? 'upstream_error'
          : 'ok'
    // The closing event (or an error event) goes out only once the usage is committed: a stream the client
    // saw finish is never missing from the ledger.
    let closing = clientGone || meter.blocked ? '' : meter.closing()
    if ((failed || meter.blocked) && !clientGone) {
      const error = errorBody(
        ex.family,
        meter.blocked
          ? {
              status: 400,
              code: 'safety_violation',
              message: `The response was blocked by iron's output firewall: ${(firewall?.blocked ?? []).join(', ')}`,
            }
          : {
              status: 502,
              code: 'upstream_failed',
              message: `Provider ${forward.provider.name} stopped mid-stream`,
            },
      )
      closing +=
        ex.family === 'anthropic'
          ? `event: error\ndata: ${JSON.stringify(error)}\n\n`
          : `data: ${JSON.stringify(error)}\n\n`
    }
    ex.record.response_sha256 = hash.update(closing).digest('hex')
    // The status the client saw: the stream's headers went out as 200, whatever its events said after.
    await settle.commit(
      complete ? meter.usage : usage,
      meter.text,
      outcome,
      clientGone ? 499 : 200,
      meter.extraChars,
    )
    if (closing && !res.destroyed) res.write(closing)
    if (!res.destroyed) res.end()
    this.#observe(ex, clientGone ? 499 : 200, outcome)
  }

  /** Record, meter and answer a refusal in the called API's error shape. */
  async #refuse(
    res: ServerResponse,
    ex: Exchange,
    status: number,
    code: string,
    message: string,
    outcome: string = outcomeOf(status),
  ): Promise<void> {
    ex.record.error_code = code
    await this.#send(
      res,
      ex,
      status,
      outcome,
      JSON.stringify(errorBody(ex.family, { status, code, message })),
      'application/json',
    )
  }

  async #send(
    res: ServerResponse,
    ex: Exchange,
    status: number,
    outcome: string,
    body: string,
    contentType: string,
    settled = false,
  ): Promise<void> {
    ex.record.status = status
    ex.record.outcome = outcome
    if (!settled) await this.writeRecord(ex)
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(status, {
        'content-type': contentType,
        'content-length': Buffer.byteLength(body),
        'x-iron-request-id': ex.record.id,
        'x-iron-overhead-ms': Math.max(performance.now() - ex.t0 - ex.upstreamMs, 0).toFixed(3),
      })
      res.end(body)
    }
    this.#observe(ex, status, outcome)
  }

  /** A request that got no answer (the client left first): record it all the same. */
  async #record(ex: Exchange, status: number, outcome: string, code: string): Promise<void> {
    ex.record.status = status
    ex.record.outcome = outcome
    ex.record.error_code = code
    await this.writeRecord(ex)
    this.#observe(ex, status, outcome)
  }

  #plainError(
    res: ServerResponse,
    family: Family,
    status: number,
    code: string,
    message: string,
    ex?: Exchange,
  ): void {
    if (res.headersSent || res.destroyed) return
    const body = JSON.stringify(errorBody(family, { status, code, message }))
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...(ex ? { 'x-iron-request-id': ex.record.id } : {}),
    })
    res.end(body)
  }

  /** The request's record is its audit event: appended in the same savepoint as its usage row. */
  #audit(ex: Exchange): void {
    if (this.options.audit === false) return
    const { id, agent_id, started_at, ...fields } = ex.record
    const status = ex.record.status
    this.cp.audit.record({
      actor: agent_id ? `agent:${agent_id}` : 'anonymous',
      action: 'gateway.request',
      resource_type: 'request',
      resource_id: id,
      agent_id,
      outcome:
        ex.record.outcome === 'safety_blocked' || [401, 402, 403, 429].includes(status)
          ? 'denied'
          : status < 400
            ? 'success'
            : 'failure',
      at: started_at,
      data: {
        ...fields,
        stream: fields.stream === 1,
        cost_known: fields.cost_known === null ? null : fields.cost_known === 1,
      },
    })
  }

  /** Write a request's record (its audit event) once, whatever happened to the request. */
  async writeRecord(ex: Exchange): Promise<void> {
    if (ex.recorded) return
    ex.recorded = true
    finishTimes(ex.record, performance.now() - ex.t0, ex.upstreamMs)
    await this.#writer
      .run(() => this.#audit(ex))
      .catch((error: unknown) => {
        process.stderr.write(
          `iron gateway: could not record request ${ex.record.id}: ${(error as Error).message}\n`,
        )
      })
  }

  /** Settle a reservation and write the request record in one group-committed savepoint. */
  async settleAndRecord(ex: Exchange, admission: Admission, draw: Parameters<LeaseBook['settle']>[1]) {
    ex.recorded = true
    const settled = await this.leases.settle(admission, draw, (result) => {
      finishTimes(ex.record, performance.now() - ex.t0, ex.upstreamMs)
      ex.record.cost_micros = result.charged_micros
      this.#audit(ex)
    })
    if (settled.alert_pct !== null && ex.agent) {
      this.events.publish({
        type: 'alert',
        at: new Date().toISOString(),
        agent: ex.agent.name,
        agent_id: ex.agent.id,
        threshold_pct: settled.alert_pct,
        remaining_micros: settled.remaining_micros,
      })
    }
    return settled
  }

  #observe(ex: Exchange, status: number, outcome: string): void {
    const latency = performance.now() - ex.t0
    this.metrics.latency.observe(latency)
    this.metrics.overhead.observe(Math.max(latency - ex.upstreamMs, 0))
    const agent = ex.agent?.name ?? '(unauthenticated)'
    this.metrics.request(
      { agent, model: ex.record.model ?? '', outcome, status },
      ex.record.cost_micros ?? 0,
      {
        input: ex.record.input_tokens ?? 0,
        output: ex.record.output_tokens ?? 0,
      },
    )
    this.events.publish({
      type: 'request',
      at: new Date().toISOString(),
      id: ex.record.id,
      agent,
      agent_id: ex.agent?.id ?? null,
      model: ex.record.model,
      provider: ex.record.provider,
      status,
      outcome,
      stream: ex.record.stream === 1,
      input_tokens: ex.record.input_tokens,
      output_tokens: ex.record.output_tokens,
      cost_micros: ex.record.cost_micros,
      latency_ms: Math.round(latency * 1000) / 1000,
    })
  }

  /** `GET /v1/models`: the models this agent may use, in the shape of the SDK that asks. */
  async #models(req: IncomingMessage, res: ServerResponse, t0: number): Promise<void> {
    const anthropic =
      req.headers['anthropic-version'] !== undefined ||
      (req.headers['x-api-key'] !== undefined && req.headers.authorization === undefined)
    const family: Family = anthropic ? 'anthropic' : 'openai'
    const ex: Exchange = {
      api: anthropic ? 'anthropic-messages' : 'openai-chat',
      family,
      t0,
      upstreamMs: 0,
      record: newRecord('models', this.holder),
      recorded: false,
    }
    const secret = tokenFrom(req)
    const auth = secret ? this.#authenticate(secret) : undefined
    if (!auth)
      return this.#refuse(
        res,
        ex,
        401,
        secret ? 'invalid_token' : 'missing_token',
        'A valid IC token is needed to list models',
      )
    ex.agent = auth.agent
    ex.record.agent_id = auth.agent.id
    const payload = modelsPayload(auth.agent, this.#providersList(), this.cp.pricing.table(), anthropic)
    return this.#send(res, ex, 200, 'ok', JSON.stringify(payload), 'application/json')
  }

  /** Remember when a token was last used, at most once a minute per token (off the request's path). */
  #touch(tokenId: string): void {
    const now = Date.now()
    if (now - (this.#touched.get(tokenId) ?? 0) < 60_000) return
    this.#touched.set(tokenId, now)
    void this.#writer
      .run(() =>
        this.options.ctx.db().prepare('UPDATE ic_tokens SET last_used_at = ? WHERE id = ?').run(now, tokenId),
      )
      .catch(() => {})
  }

  /**
   * Register this gateway's heartbeat and give back what gateways whose heartbeat ran out left behind
   * (a kill -9, a stalled container). Returns how many leases and reservations went back.
   */
  start(): number {
    return this.heartbeat.start()
  }

  /** Return every lease, wait until every write asked for so far is committed, end the registration. */
  async flush(): Promise<void> {
    clearInterval(this.#idleTimer)
    await this.leases.returnAll()
    this.heartbeat.stop()
  }
}

/** Charge a finished (or cut) request: usage from the response, or an estimate from what was produced. */
class Settlement {
  constructor(
    private readonly gateway: Gateway,
    private readonly ex: Exchange,
    private readonly forward: Forward,
  ) {}

  /**
   * `status` is what the client got on the wire; the record says the same. A cut stream is charged the
   * input as counted and the output it produced, counted with the tokenizer and never more than the
   * output that was reserved (every choice at its cap).
   */
  async commit(
    usage: Usage | undefined,
    producedText: string,
    outcome: string,
    status: number,
    extraChars = 0,
  ) {
    const r = this.ex.record
    const { price, info } = this.forward
    const provider = price?.provider ?? 'openai-compatible'
    const reservedOutput = this.forward.outputCap * info.choices
    const estimate = () =>
      Math.min(
        countOutputTokens(producedText, r.model ?? '', provider) + Math.ceil(extraChars / 4),
        reservedOutput,
      )
    const final: Usage = saneUsage(
      usage ?? {
        input_tokens: this.forward.input,
        output_tokens: info.producesOutput ? estimate() : 0,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
      },
    )
    if (usage && usage.output_tokens === 0 && producedText && info.producesOutput)
      final.output_tokens = estimate()
    const cost = price && info.billable ? Math.min(costMicros(price, final), MAX_MICROS) : 0
    r.input_tokens = final.input_tokens
    r.output_tokens = final.output_tokens
    r.cached_tokens = final.cached_input_tokens
    r.cost_known = price || !info.billable ? 1 : 0
    r.status = status
    r.outcome = outcome
    if (status >= 400 && !r.error_code) r.error_code = outcome
    this.gateway.limiter.addTokens(r.agent_id ?? '', final.output_tokens)
    const admission = this.ex.admission
    this.ex.admission = undefined
    if (!admission) {
      // Nothing was reserved (token counting is free): recorded, not charged.
      r.cost_micros = cost
      await this.gateway.writeRecord(this.ex)
      return { charged_micros: cost, remaining_micros: null, overrun_micros: 0 }
    }
    return this.gateway.settleAndRecord(this.ex, admission, {
      reservation_id: r.id,
      actual_micros: cost,
      cost_known: price !== undefined,
      model: r.model ?? undefined,
      provider: r.provider ?? undefined,
      input_tokens: final.input_tokens,
      output_tokens: final.output_tokens,
      cached_tokens: final.cached_input_tokens,
    })
  }
}

/** Usage as an upstream reported it, made safe to price: whole counts within bounds, cache parts within input. */
function saneUsage(usage: Usage): Usage {
  const count = (n: number) => (Number.isSafeInteger(n) && n > 0 ? Math.min(n, MAX_TOKEN_COUNT) : 0)
  const cached = count(usage.cached_input_tokens)
  const written = count(usage.cache_write_tokens)
  return {
    input_tokens: Math.min(Math.max(count(usage.input_tokens), cached + written), MAX_TOKEN_COUNT),
    output_tokens: count(usage.output_tokens),
    cached_input_tokens: Math.min(cached, MAX_TOKEN_COUNT),
    cache_write_tokens: Math.min(written, Math.max(MAX_TOKEN_COUNT - cached, 0)),
  }
}

interface AgentPolicy {
  policy: SafetyPolicy
  /** Whether anything is checked on input, on output (a policy of all `off` costs nothing). */
  input: boolean
  output: boolean
}
