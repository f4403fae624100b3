/**
 * The control plane's one interface. Commands use it in-process (local store) now; `iron serve` will
 * expose it over HTTP and `src/client/` will implement it as an HTTP client, checked by one contract suite.
 * Every value is a plain snake_case object, the same on the wire as in `--json` output.
 */
import type { Period } from '../core/periods.js'
import type { ModelPrice } from '../pricing/index.js'

export type ProviderKind = 'openai' | 'anthropic' | 'openai-compatible' | 'mock'
export type AgentStatus = 'active' | 'suspended' | 'deleted'
export type OnInsufficient = 'reject' | 'clamp'

/** Who does something; recorded on every mutation. */
export interface Actor {
  type: 'local' | 'user' | 'agent' | 'system'
  id: string
}

export interface TokenSummary {
  id: string
  prefix: string
  created_at: string
  expires_at: string | null
  last_used_at: string | null
}

export interface Agent {
  id: string
  name: string
  description: string
  project: string | null
  /** The user who owns it (team mode: they manage it), or null for the team's (an admin's) agents. */
  owner: string | null
  allowed_providers: string[]
  allowed_models: string[]
  rate_limits: { requests_per_minute: number | null; tokens_per_minute: number | null }
  /** The agent's own safety policy changes (over the default), or null. */
  safety_policy: Record<string, unknown> | null
  status: AgentStatus
  created_at: string
  updated_at: string
  deleted_at: string | null
  token: TokenSummary | null
}

export interface AgentInput {
  name: string
  description?: string
  project?: string | null
  /** A user's name to own it, or null for the team's; admins only (a user's agents are their own). */
  owner?: string | null
  allowed_providers?: string[]
  allowed_models?: string[]
  requests_per_minute?: number | null
  tokens_per_minute?: number | null
  /** A partial safety policy (see iron safety policy show), or null for the default. */
  safety_policy?: unknown
}

export interface AgentUpdate extends Partial<AgentInput> {
  status?: 'active' | 'suspended'
}

export interface AgentDeleteResult {
  agent: Agent
  revoked_token: string | null
}

export interface IcToken {
  id: string
  agent_id: string
  agent_name: string
  /** `agent`: the agent's own, one live at a time; `run`: minted for one `iron run`, ended with it. */
  kind: 'agent' | 'run'
  prefix: string
  status: 'live' | 'expired' | 'revoked'
  created_at: string
  expires_at: string | null
  revoked_at: string | null
  revoke_reason: string | null
  last_used_at: string | null
}

/** Returned once, at issue and rotate: the only time the secret exists outside the caller's hands. */
export interface IssuedToken extends IcToken {
  token: string
}

export interface Provider {
  id: string
  name: string
  kind: ProviderKind
  base_url: string | null
  key_mask: string | null
  description: string
  created_at: string
  updated_at: string
  last_test: { at: string; ok: boolean; note: string } | null
}

export interface ProviderInput {
  name: string
  kind: ProviderKind
  base_url?: string | null
  api_key?: string | null
  description?: string
}

export interface ProviderUpdate {
  base_url?: string | null
  api_key?: string
  description?: string
}

export interface ProviderTestResult {
  provider: string
  ok: boolean
  status: number | null
  latency_ms: number
  models: number | null
  note: string
}

export interface Budget {
  agent_id: string
  agent_name: string
  limit_micros: number | null
  period: Period
  timezone: string
  on_insufficient: OnInsufficient
  alert_thresholds: number[]
  period_start: string | null
  period_end: string | null
  spent_micros: number
  /** Worst cases of the requests now running: open reservations and what gateways hold on their leases. */
  in_flight_micros: number
  /** Open reservations (part of in flight). */
  reserved_micros: number
  /** What gateways hold in leases, not yet drawn: how they borrow the budget; never shown as used. */
  leased_micros: number
  /** Available: limit − spent − in flight, at least 0; null without a limit. */
  remaining_micros: number | null
  /** (spent + in flight) / limit, in percent. */
  used_pct: number | null
  updated_at: string
}

export interface BudgetInput {
  limit_micros?: number | null
  period?: Period
  timezone?: string
  on_insufficient?: OnInsufficient
  alert_thresholds?: number[]
  /** Required to set a limit below what the agent already spent this period. */
  allow_below_spend?: boolean
}

export interface BudgetCheck {
  budget: Budget
  over: boolean
  burn_rate_micros_per_hour: number
  projected_period_spend_micros: number | null
  exhausted_at: string | null
  verify?: LedgerVerification
}

export interface LedgerVerification {
  ok: boolean
  rows: number
  derived: { spent_micros: number; reserved_micros: number; leased_micros: number }
  cached: { spent_micros: number; reserved_micros: number; leased_micros: number }
  problems: string[]
}

export interface LedgerEntry {
  seq: number
  kind: 'reserve' | 'commit' | 'release' | 'adjust' | 'lease_grant' | 'lease_return'
  reservation_id: string | null
  spent_delta_micros: number
  reserved_delta_micros: number
  leased_delta_micros: number
  at: string
  counted_at: string
  model: string | null
  provider: string | null
  input_tokens: number | null
  output_tokens: number | null
  cost_known: boolean | null
  overrun_micros: number | null
  note: string | null
}

/** A gateway asks for part of an agent's budget to admit requests in memory. */
export interface LeaseRequest {
  agent_id: string
  /** What the request at hand needs (its worst case). */
  min_micros: number
  /** What the gateway would like to hold (default: about the agent's spend over the last minute). */
  want_micros?: number
  holder: string
  /**
   * Grow this open lease rather than open another: `free_micros` is what it holds beyond the worst cases
   * of the requests in flight on it, so the request needs only the difference.
   */
  top_up?: { lease_id: string; counted_at: number; free_micros: number }
}

interface LeaseBase {
  agent_id: string
  limit_micros: number | null
  period_end: number | null
  on_insufficient: OnInsufficient
}

export type LeaseGrant =
  | (LeaseBase & {
      ok: true
      /** null for an agent without a limit: nothing to lend, requests are only metered. */
      lease_id: string | null
      granted_micros: number
      /** The period the lease (and every draw on it) counts in. */
      counted_at: number
    })
  | (LeaseBase & {
      ok: false
      reason: 'budget_exceeded' | 'agent_suspended' | 'agent_deleted'
      /** What this request could have had: the budget's free part, plus what the topped-up lease held free. */
      remaining_micros: number
      /** With budget_exceeded: what other holders' leases held of the budget at that moment. */
      leased_elsewhere_micros?: number
    })

/** A request's cost, charged to its agent's budget: drawn from the lease it was admitted on. */
export interface DrawRequest {
  /** The request id (req_…): one draw per request. */
  reservation_id: string
  agent_id: string
  lease_id: string | null
  counted_at: number
  /** What the lease holds for this draw; a cost beyond it is drawn from what the budget has free. */
  room_micros: number
  actual_micros: number
  holder?: string
  /** False when the model's price is unknown (usage is recorded, cost shown as unknown). */
  cost_known?: boolean
  model?: string
  provider?: string
  input_tokens?: number
  output_tokens?: number
  cached_tokens?: number
}

export interface SettleResult {
  reservation_id: string
  agent_id: string
  charged_micros: number
  overrun_micros: number
  remaining_micros: number | null
  /** The highest alert threshold (percent) newly crossed by this movement, if any. */
  alert_pct: number | null
}

export interface ModelPriceView extends ModelPrice {
  source: 'override' | 'bundled'
  /** Its provider's lifecycle: `deprecated` once a retirement date is set, `retired` from that day. */
  status: 'active' | 'deprecated' | 'retired'
  retires_on: string | null
  replacement: string | null
}

export interface PriceInput {
  model: string
  provider?: string
  kind?: 'chat' | 'embedding'
  input_micros_per_mtok?: number
  output_micros_per_mtok?: number
  cached_input_micros_per_mtok?: number | null
  cache_write_micros_per_mtok?: number | null
  max_output_tokens?: number
  context_window?: number
}

export type UsageGroup = 'agent' | 'model' | 'provider' | 'project' | 'day'

export interface UsageQuery {
  by?: UsageGroup
  since?: number
  until?: number
  agent?: string
}

export interface UsageRow {
  key: string
  requests: number
  input_tokens: number
  output_tokens: number
  cost_micros: number
  /** Requests whose cost is unknown (unpriced model): cost_micros is then a lower bound. */
  unpriced_requests: number
}

export interface UsageReport {
  by: UsageGroup
  since: string | null
  until: string | null
  rows: UsageRow[]
  total: UsageRow
}

export interface AgentsApi {
  create(input: AgentInput): Promise<Agent>
  list(options?: { include_deleted?: boolean; project?: string }): Promise<Agent[]>
  get(ref: string): Promise<Agent>
  update(ref: string, update: AgentUpdate): Promise<Agent>
  delete(ref: string, options: { force: boolean }): Promise<AgentDeleteResult>
}

export interface TokensApi {
  issue(agentRef: string, options?: { expires_in_ms?: number }): Promise<IssuedToken>
  list(options?: { agent?: string; include_revoked?: boolean }): Promise<IcToken[]>
  get(ref: string): Promise<IcToken>
  /** By token ID (`ic_…`) or agent, like revoke. */
  rotate(ref: string, options?: { expires_in_ms?: number }): Promise<IssuedToken>
  revoke(ref: string): Promise<IcToken>
}

export interface ProvidersApi {
  add(input: ProviderInput): Promise<Provider>
  list(): Promise<Provider[]>
  get(ref: string): Promise<Provider>
  update(ref: string, update: ProviderUpdate): Promise<Provider>
  remove(ref: string): Promise<Provider>
  test(ref: string): Promise<ProviderTestResult>
}

export interface BudgetsApi {
  set(agentRef: string, input: BudgetInput): Promise<Budget>
  get(agentRef: string): Promise<Budget>
  list(): Promise<Budget[]>
  check(agentRef: string, options?: { verify?: boolean }): Promise<BudgetCheck>
  history(agentRef: string, options?: { limit?: number; since?: number }): Promise<LedgerEntry[]>
  adjust(agentRef: string, input: { amount_micros: number; reason: string }): Promise<Budget>
}

export interface PricingApi {
  list(options?: { provider?: string; include_retired?: boolean }): Promise<ModelPriceView[]>
  get(model: string): Promise<ModelPriceView>
  set(input: PriceInput): Promise<ModelPriceView>
  unset(model: string): Promise<{ model: string; removed: boolean; now: ModelPriceView | null }>
}

export interface UsageApi {
  report(query: UsageQuery): Promise<UsageReport>
}

export interface ControlPlane {
  audit: AuditApi
  safety: SafetyApi
  agents: AgentsApi
  tokens: TokensApi
  providers: ProvidersApi
  budgets: BudgetsApi
  budgetRequests: BudgetRequestsApi
  pricing: PricingApi
  usage: UsageApi
  users: UsersApi
  apiTokens: ApiTokensApi
  /** Who the caller is: on the local store its OS user (every right); on a server, the signed-in user. */
  whoami(): Promise<Whoami>
}

/** admin: everything; user: their own agents, tokens and budgets within what an admin granted; viewer: read their own. */
export type UserRole = 'admin' | 'user' | 'viewer'
export type UserStatus = 'active' | 'suspended' | 'deleted'

export interface User {
  id: string
  name: string
  display_name: string
  email: string | null
  role: UserRole
  status: UserStatus
  /** Whether a password is set (an account without one signs in with API tokens only). */
  has_password: boolean
  /** Set while the account is locked after repeated failed logins. */
  locked_until: string | null
  last_login_at: string | null
  created_at: string
  updated_at: string
  deleted_at: string | null
}

export interface UserInput {
  name: string
  role?: UserRole
  display_name?: string
  email?: string | null
  /** At least 12 characters; never logged, stored as a scrypt hash. */
  password?: string
}

export interface UserUpdate {
  display_name?: string
  email?: string | null
  role?: UserRole
}

export interface UsersApi {
  create(input: UserInput): Promise<User>
  list(options?: { include_deleted?: boolean }): Promise<User[]>
  get(ref: string): Promise<User>
  update(ref: string, update: UserUpdate): Promise<User>
  /** Suspending signs the user out everywhere (sessions revoked) and refuses their API tokens until activated. */
  suspend(ref: string): Promise<User>
  activate(ref: string): Promise<User>
  /** Soft delete: sessions and API tokens revoked, history kept. */
  delete(ref: string): Promise<User>
  /** Sets a new password, revokes the user's sessions and clears a lock. */
  resetPassword(ref: string, password: string): Promise<User>
}

export interface ApiToken {
  id: string
  user_id: string
  user_name: string
  name: string
  /** What the token may do: at most its user's role. */
  role: UserRole
  prefix: string
  status: 'live' | 'expired' | 'revoked'
  created_at: string
  expires_at: string | null
  last_used_at: string | null
  revoked_at: string | null
}

/** Returned once, at creation. */
export interface IssuedApiToken extends ApiToken {
  token: string
}

export interface ApiTokenInput {
  name: string
  /** Whose token (admins only; default: the caller). */
  user?: string
  /** Narrower than the user's role, e.g. a viewer token of an admin (default: the user's role). */
  role?: UserRole
  expires_in_ms?: number
}

export interface ApiTokensApi {
  create(input: ApiTokenInput): Promise<IssuedApiToken>
  list(options?: { user?: string; include_revoked?: boolean }): Promise<ApiToken[]>
  get(ref: string): Promise<ApiToken>
  revoke(ref: string): Promise<ApiToken>
}

export type BudgetRequestStatus = 'pending' | 'approved' | 'rejected' | 'cancelled'

export interface BudgetRequest {
  id: string
  agent_id: string
  agent_name: string
  /** The actor who asked (user:<name>, local:<os user>). */
  requested_by: string
  /** The limit asked for; null asks for no limit. */
  limit_micros: number | null
  /** The agent's limit when the request was made. */
  previous_limit_micros: number | null
  reason: string
  status: BudgetRequestStatus
  decided_by: string | null
  decided_at: string | null
  decision_note: string | null
  created_at: string
}

export interface BudgetRequestsApi {
  create(agentRef: string, input: { limit_micros: number | null; reason: string }): Promise<BudgetRequest>
  list(options?: { status?: BudgetRequestStatus; agent?: string }): Promise<BudgetRequest[]>
  get(id: string): Promise<BudgetRequest>
  /** Admins only; sets the agent's limit (and what its owner may set) in the same transaction. */
  approve(id: string, options?: { note?: string }): Promise<BudgetRequest>
  reject(id: string, options?: { note?: string }): Promise<BudgetRequest>
  /** The requester (or an admin) withdraws a pending request. */
  cancel(id: string): Promise<BudgetRequest>
}

export interface Whoami {
  /** 'local': the store itself, by the OS user who can open it (every right); otherwise a server's user. */
  mode: 'local' | 'server'
  server: string | null
  /** The audit actor (local:<os user>, user:<name>). */
  actor: string
  role: UserRole
  user: User | null
  /** How the caller signed in: a session, an API token, or the local store. */
  via: 'local' | 'session' | 'api_token'
  /** When the session or API token used expires. */
  expires_at: string | null
}

export interface AuditEvent {
  id: string
  seq: number
  at: string
  actor: string
  action: string
  resource: { type: string; id: string | null } | null
  agent_id: string | null
  /** The agent's name, for people (list, show, tail); not part of the chained event, so not in exports. */
  agent_name?: string | null
  outcome: 'success' | 'failure' | 'denied'
  data: Record<string, unknown>
  prev_hash: string
  hash: string
}

export interface AuditQuery {
  agent?: string
  actor?: string
  action?: string
  outcome?: string
  since?: number
  until?: number
}

export interface AuditPage {
  events: AuditEvent[]
  /** Pass back as `cursor` for the next (older) page; null when there is none. */
  next_cursor: string | null
}

export interface AuditVerification {
  ok: boolean
  events: number
  head: { seq: number; hash: string } | null
  /** The head as `seq:hash`, to keep somewhere else and pass to `expect_head` next time; null unless ok. */
  witness: string | null
  /** The head asked for with `expect_head`, and whether the chain still reaches it with that hash. */
  expected_head: { seq: number; hash: string; ok: boolean } | null
  first_broken: { seq: number; id: string; reason: string } | null
  pruned: { events: number; through_seq: number; first_at: string | null; last_at: string | null } | null
  checkpoints: number
  problems: string[]
}

export interface AuditPruneResult {
  pruned: number
  through_seq: number
  first_at: string | null
  last_at: string | null
  head_hash: string
}

export interface AuditVerifyOptions {
  /**
   * A head printed by an earlier verify (`seq:hash`, kept elsewhere): the chain must still reach that event
   * with that hash, so events deleted from its end are caught too.
   */
  expect_head?: string
}

export interface AuditApi {
  list(query: AuditQuery & { limit?: number; cursor?: string }): Promise<AuditPage>
  /** By ID (`aud_…`) or sequence number. */
  get(ref: string): Promise<AuditEvent>
  /** Events in chain order after a sequence number (for export and tail). */
  stream(query: AuditQuery & { after_seq?: number }): AsyncIterable<AuditEvent>
  count(query: AuditQuery): Promise<number>
  verify(options?: AuditVerifyOptions): Promise<AuditVerification>
  prune(before: number): Promise<AuditPruneResult>
}

export interface SafetyPolicyView {
  /** The agent whose policy this is, or null for the default. */
  agent: string | null
  /** The effective policy: built-in default, then the store's changes, then the agent's. */
  policy: import('../safety/index.js').SafetyPolicy
  store_default: import('../safety/index.js').PartialSafetyPolicy
  agent_policy: import('../safety/index.js').PartialSafetyPolicy | null
}

export interface SafetyFindingView {
  category: string
  action: string
  start: number
  end: number
  confidence: number
  sha256: string
  reasons?: string[]
}

export interface SafetyScanResult {
  direction: 'input' | 'output'
  agent: string | null
  bytes: number
  findings: SafetyFindingView[]
  blocked: string[]
  redacted: string[]
  logged: string[]
  error: { code: string; message: string } | null
  /** The text as it would be forwarded (redactions applied); null when the scan failed. */
  redacted_text: string | null
}

export interface SafetyApi {
  getPolicy(options?: { agent?: string }): Promise<SafetyPolicyView>
  setDefault(change: unknown, options?: { replace?: boolean }): Promise<SafetyPolicyView>
  scan(input: { text: string; direction?: 'input' | 'output'; agent?: string }): Promise<SafetyScanResult>
}
