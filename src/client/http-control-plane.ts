import { IronError } from '../core/errors.js'
import { PriceTable } from '../pricing/lookup.js'
import type {
  Agent,
  AgentDeleteResult,
  AgentInput,
  AgentsApi,
  AgentUpdate,
  ApiToken,
  ApiTokenInput,
  ApiTokensApi,
  AuditApi,
  AuditEvent,
  AuditPage,
  AuditPruneResult,
  AuditQuery,
  AuditVerification,
  AuditVerifyOptions,
  Budget,
  BudgetCheck,
  BudgetInput,
  BudgetRequest,
  BudgetRequestStatus,
  BudgetRequestsApi,
  BudgetsApi,
  ControlPlane,
  IcToken,
  IssuedApiToken,
  IssuedToken,
  LedgerEntry,
  ModelPriceView,
  PriceInput,
  PricingApi,
  Provider,
  ProviderInput,
  ProvidersApi,
  ProviderTestResult,
  ProviderUpdate,
  SafetyApi,
  SafetyPolicyView,
  SafetyScanResult,
  TokensApi,
  UsageApi,
  UsageQuery,
  UsageReport,
  User,
  UserInput,
  UsersApi,
  UserUpdate,
  Whoami,
} from '../services/api.js'
import { servingProblem } from '../services/serving.js'
import type { Query, ServerConnection } from './http.js'

/** A name or ID in a path: encoded, so `a/b` or `..` stays one segment. */
const seg = (ref: string): string => encodeURIComponent(ref)

/** The services take epoch milliseconds; the wire takes ISO-8601 (SPEC §9). */
const isoOf = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString()

function auditFilters(query: AuditQuery): Query {
  return {
    agent: query.agent,
    actor: query.actor,
    action: query.action,
    outcome: query.outcome,
    since: isoOf(query.since),
    until: isoOf(query.until),
  }
}

/** Calls that do real work on the server (a provider's round trip, a whole chain's proof) may take longer. */
const SLOW_CALL_MS = 5 * 60_000

class HttpAgents implements AgentsApi {
  constructor(
    private readonly http: ServerConnection,
    private readonly plane: HttpControlPlane,
  ) {}

  create(input: AgentInput): Promise<Agent> {
    return this.http.send('POST', '/api/v1/agents', input)
  }
  list(options: { include_deleted?: boolean; project?: string } = {}): Promise<Agent[]> {
    return this.http.list('/api/v1/agents', {
      include_deleted: options.include_deleted,
      project: options.project,
    })
  }
  get(ref: string): Promise<Agent> {
    return this.http.get(`/api/v1/agents/${seg(ref)}`)
  }
  update(ref: string, update: AgentUpdate): Promise<Agent> {
    return this.http.send('PATCH', `/api/v1/agents/${seg(ref)}`, update)
  }
  delete(ref: string, options: { force: boolean }): Promise<AgentDeleteResult> {
    return this.http.call('DELETE', `/api/v1/agents/${seg(ref)}`, { query: { force: options.force } })
  }

  /**
   * Why the agent cannot make the calls it is set up for (as the local service says at create), from the
   * server's providers and prices; nothing when the caller may not read them.
   */
  async servingProblem(
    agent: Pick<Agent, 'name' | 'allowed_providers' | 'allowed_models'>,
  ): Promise<string | undefined> {
    try {
      const [providers, prices] = await Promise.all([
        this.plane.providers.list(),
        this.plane.pricing.list({ include_retired: true }),
      ])
      const table = new PriceTable(
        prices.map(({ source: _s, status: _t, retires_on: _r, replacement: _p, ...price }) => price),
      )
      return servingProblem(agent, providers, table)
    } catch {
      return undefined
    }
  }
}

class HttpTokens implements TokensApi {
  constructor(private readonly http: ServerConnection) {}

  issue(agentRef: string, options: { expires_in_ms?: number } = {}): Promise<IssuedToken> {
    return this.http.send('POST', `/api/v1/agents/${seg(agentRef)}/tokens`, options)
  }
  list(options: { agent?: string; include_revoked?: boolean } = {}): Promise<IcToken[]> {
    return this.http.list('/api/v1/tokens', {
      agent: options.agent,
      include_revoked: options.include_revoked,
    })
  }
  get(ref: string): Promise<IcToken> {
    return this.http.get(`/api/v1/tokens/${seg(ref)}`)
  }
  rotate(ref: string, options: { expires_in_ms?: number } = {}): Promise<IssuedToken> {
    return this.http.send('POST', `/api/v1/tokens/${seg(ref)}/rotate`, options)
  }
  revoke(ref: string): Promise<IcToken> {
    return this.http.send('POST', `/api/v1/tokens/${seg(ref)}/revoke`)
  }
}

class HttpProviders implements ProvidersApi {
  constructor(private readonly http: ServerConnection) {}

  add(input: ProviderInput): Promise<Provider> {
    return this.http.send('POST', '/api/v1/providers', input)
  }
  list(): Promise<Provider[]> {
    return this.http.list('/api/v1/providers')
  }
  get(ref: string): Promise<Provider> {
    return this.http.get(`/api/v1/providers/${seg(ref)}`)
  }
  update(ref: string, update: ProviderUpdate): Promise<Provider> {
    return this.http.send('PATCH', `/api/v1/providers/${seg(ref)}`, update)
  }
  remove(ref: string): Promise<Provider> {
    return this.http.send('DELETE', `/api/v1/providers/${seg(ref)}`)
  }
  test(ref: string): Promise<ProviderTestResult> {
    return this.http.send('POST', `/api/v1/providers/${seg(ref)}/test`, {}, { timeoutMs: SLOW_CALL_MS })
  }
}

class HttpBudgets implements BudgetsApi {
  constructor(private readonly http: ServerConnection) {}

  set(agentRef: string, input: BudgetInput): Promise<Budget> {
    return this.http.send('PUT', `/api/v1/agents/${seg(agentRef)}/budget`, input)
  }
  get(agentRef: string): Promise<Budget> {
    return this.http.get(`/api/v1/agents/${seg(agentRef)}/budget`)
  }
  list(): Promise<Budget[]> {
    return this.http.list('/api/v1/budgets')
  }
  check(agentRef: string, options: { verify?: boolean } = {}): Promise<BudgetCheck> {
    return this.http.get(`/api/v1/agents/${seg(agentRef)}/budget/check`, { verify: options.verify })
  }
  async history(agentRef: string, options: { limit?: number; since?: number } = {}): Promise<LedgerEntry[]> {
    const path = `/api/v1/agents/${seg(agentRef)}/budget/history`
    // As the local service: the newest 50 entries unless a limit (at most 10,000) is asked.
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 10_000)
    return (await this.http.take<LedgerEntry>(path, { since: isoOf(options.since) }, limit)).data
  }
  adjust(agentRef: string, input: { amount_micros: number; reason: string }): Promise<Budget> {
    return this.http.send('POST', `/api/v1/agents/${seg(agentRef)}/budget/adjust`, input)
  }
}

class HttpPricing implements PricingApi {
  constructor(private readonly http: ServerConnection) {}

  list(options: { provider?: string; include_retired?: boolean } = {}): Promise<ModelPriceView[]> {
    return this.http.list('/api/v1/pricing', {
      provider: options.provider,
      include_retired: options.include_retired,
    })
  }
  get(model: string): Promise<ModelPriceView> {
    return this.http.get(`/api/v1/pricing/${seg(model)}`)
  }
  set({ model, ...price }: PriceInput): Promise<ModelPriceView> {
    return this.http.send('PUT', `/api/v1/pricing/${seg(model)}`, price)
  }
  unset(model: string): Promise<{ model: string; removed: boolean; now: ModelPriceView | null }> {
    return this.http.send('DELETE', `/api/v1/pricing/${seg(model)}`)
  }
}

class HttpUsage implements UsageApi {
  constructor(private readonly http: ServerConnection) {}

  report(query: UsageQuery): Promise<UsageReport> {
    return this.http.get('/api/v1/usage', {
      by: query.by,
      since: isoOf(query.since),
      until: isoOf(query.until),
      agent: query.agent,
    })
  }
}

class HttpAudit implements AuditApi {
  constructor(
    private readonly http: ServerConnection,
    private readonly plane: HttpControlPlane,
  ) {}

  /** One page of `limit` events as the local service gives it (50 unless asked, at most 1,000), from server pages. */
  async list(query: AuditQuery & { limit?: number; cursor?: string }): Promise<AuditPage> {
    const limit = Math.min(Math.max(Math.floor(query.limit ?? 50), 1), 1_000)
    const page = await this.http.take<AuditEvent>('/api/v1/audit', auditFilters(query), limit, query.cursor)
    return { events: page.data, next_cursor: page.next_cursor }
  }

  get(ref: string): Promise<AuditEvent> {
    return this.http.get(`/api/v1/audit/${seg(ref.trim())}`)
  }

  /**
   * The export, read as it arrives: one event per line, never the whole trail in memory. Events carry
   * their agent's name as the local stream's do (an export holds only the chained fields).
   */
  async *stream(query: AuditQuery & { after_seq?: number }): AsyncIterable<AuditEvent> {
    let names: Map<string, string> | undefined
    const lines = this.http.lines('/api/v1/audit/export', {
      format: 'jsonl',
      after_seq: query.after_seq,
      ...auditFilters(query),
    })
    for await (const line of lines) {
      const event = parseLine(line, this.http.url)
      if (event.agent_name !== undefined) {
        yield event
        continue
      }
      if (event.agent_id !== null && !names) names = await this.#agentNames()
      yield { ...event, agent_name: event.agent_id === null ? null : (names?.get(event.agent_id) ?? null) }
    }
  }

  async count(query: AuditQuery): Promise<number> {
    const answer = await this.http.get<number | { count: number }>('/api/v1/audit/count', auditFilters(query))
    return typeof answer === 'number' ? answer : answer.count
  }

  verify(options: AuditVerifyOptions = {}): Promise<AuditVerification> {
    return this.http.send('POST', '/api/v1/audit/verify', options, { timeoutMs: SLOW_CALL_MS })
  }

  prune(before: number): Promise<AuditPruneResult> {
    return this.http.send(
      'POST',
      '/api/v1/audit/prune',
      { before: isoOf(before) },
      { timeoutMs: SLOW_CALL_MS },
    )
  }

  async #agentNames(): Promise<Map<string, string>> {
    const agents = await this.plane.agents.list({ include_deleted: true })
    return new Map(agents.map((a) => [a.id, a.name]))
  }
}

/** One event of the export; a line that is not JSON means something other than iron answered. */
function parseLine(line: string, url: string): AuditEvent {
  try {
    return JSON.parse(line) as AuditEvent
  } catch {
    throw new IronError(
      'SERVER_ERROR',
      `${url} sent an audit export line that is not JSON: ${line.slice(0, 80)}`,
      {
        hint: 'The server may be a different version of iron, or a proxy rewrote the stream',
      },
    )
  }
}

class HttpSafety implements SafetyApi {
  constructor(private readonly http: ServerConnection) {}

  getPolicy(options: { agent?: string } = {}): Promise<SafetyPolicyView> {
    return this.http.get('/api/v1/safety/policy', { agent: options.agent })
  }
  setDefault(change: unknown, options: { replace?: boolean } = {}): Promise<SafetyPolicyView> {
    return this.http.send('PUT', '/api/v1/safety/policy', { change, replace: options.replace })
  }
  scan(input: { text: string; direction?: 'input' | 'output'; agent?: string }): Promise<SafetyScanResult> {
    return this.http.send('POST', '/api/v1/safety/scan', input)
  }
}

class HttpUsers implements UsersApi {
  constructor(private readonly http: ServerConnection) {}

  create(input: UserInput): Promise<User> {
    return this.http.send('POST', '/api/v1/users', input)
  }
  list(options: { include_deleted?: boolean } = {}): Promise<User[]> {
    return this.http.list('/api/v1/users', { include_deleted: options.include_deleted })
  }
  get(ref: string): Promise<User> {
    return this.http.get(`/api/v1/users/${seg(ref)}`)
  }
  update(ref: string, update: UserUpdate): Promise<User> {
    return this.http.send('PATCH', `/api/v1/users/${seg(ref)}`, update)
  }
  suspend(ref: string): Promise<User> {
    return this.http.send('POST', `/api/v1/users/${seg(ref)}/suspend`)
  }
  activate(ref: string): Promise<User> {
    return this.http.send('POST', `/api/v1/users/${seg(ref)}/activate`)
  }
  delete(ref: string): Promise<User> {
    return this.http.send('DELETE', `/api/v1/users/${seg(ref)}`)
  }
  resetPassword(ref: string, password: string): Promise<User> {
    return this.http.send('POST', `/api/v1/users/${seg(ref)}/reset-password`, { password })
  }
}

class HttpApiTokens implements ApiTokensApi {
  constructor(private readonly http: ServerConnection) {}

  create(input: ApiTokenInput): Promise<IssuedApiToken> {
    return this.http.send('POST', '/api/v1/api-tokens', input)
  }
  list(options: { user?: string; include_revoked?: boolean } = {}): Promise<ApiToken[]> {
    return this.http.list('/api/v1/api-tokens', {
      user: options.user,
      include_revoked: options.include_revoked,
    })
  }
  get(ref: string): Promise<ApiToken> {
    return this.http.get(`/api/v1/api-tokens/${seg(ref)}`)
  }
  revoke(ref: string): Promise<ApiToken> {
    return this.http.send('POST', `/api/v1/api-tokens/${seg(ref)}/revoke`)
  }
}

class HttpBudgetRequests implements BudgetRequestsApi {
  constructor(private readonly http: ServerConnection) {}

  create(agentRef: string, input: { limit_micros: number | null; reason: string }): Promise<BudgetRequest> {
    return this.http.send('POST', '/api/v1/budget-requests', { agent: agentRef, ...input })
  }
  list(options: { status?: BudgetRequestStatus; agent?: string } = {}): Promise<BudgetRequest[]> {
    return this.http.list('/api/v1/budget-requests', { status: options.status, agent: options.agent })
  }
  get(id: string): Promise<BudgetRequest> {
    return this.http.get(`/api/v1/budget-requests/${seg(id)}`)
  }
  approve(id: string, options: { note?: string } = {}): Promise<BudgetRequest> {
    return this.http.send('POST', `/api/v1/budget-requests/${seg(id)}/approve`, options)
  }
  reject(id: string, options: { note?: string } = {}): Promise<BudgetRequest> {
    return this.http.send('POST', `/api/v1/budget-requests/${seg(id)}/reject`, options)
  }
  cancel(id: string): Promise<BudgetRequest> {
    return this.http.send('POST', `/api/v1/budget-requests/${seg(id)}/cancel`)
  }
}

/**
 * The control plane of an `iron serve`, over HTTP: the same interface as the local services, returning the
 * same values (the routes answer the services' return values as they are), so commands print the same
 * `--json` either way. The contract suite (test/contract) runs one set of tests against both.
 */
export class HttpControlPlane implements ControlPlane {
  readonly agents: HttpAgents
  readonly tokens: HttpTokens
  readonly providers: HttpProviders
  readonly budgets: HttpBudgets
  readonly pricing: HttpPricing
  readonly usage: HttpUsage
  readonly audit: HttpAudit
  readonly safety: HttpSafety
  readonly users: UsersApi
  readonly apiTokens: ApiTokensApi
  readonly budgetRequests: BudgetRequestsApi

  constructor(readonly http: ServerConnection) {
    this.agents = new HttpAgents(http, this)
    this.tokens = new HttpTokens(http)
    this.providers = new HttpProviders(http)
    this.budgets = new HttpBudgets(http)
    this.pricing = new HttpPricing(http)
    this.usage = new HttpUsage(http)
    this.audit = new HttpAudit(http, this)
    this.safety = new HttpSafety(http)
    this.users = new HttpUsers(http)
    this.apiTokens = new HttpApiTokens(http)
    this.budgetRequests = new HttpBudgetRequests(http)
  }

  get url(): string {
    return this.http.url
  }

  /** Who the credential in use is, as the server sees it. */
  async whoami(): Promise<Whoami> {
    const me = await this.http.get<Whoami>('/api/v1/auth/me')
    return { ...me, mode: 'server', server: me.server ?? this.http.url }
  }

  close(): Promise<void> {
    return this.http.close()
  }
}
