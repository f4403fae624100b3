import { ExitCode, IronError } from '../core/errors.js'
import type { PriceTable } from '../pricing/index.js'
import type { SafetyPolicy } from '../safety/index.js'
import type { Budget, DrawRequest, LeaseGrant, LeaseRequest, ProviderKind, SettleResult } from './api.js'

/** A settlement's result; `written` when it is the gateway's own figure, given before the store has it. */
export interface Settled extends SettleResult {
  /** The store's own result, once the settlement is written there (its alert, if it crossed a threshold). */
  written?: Promise<SettleResult>
}

/**
 * What a gateway needs from the control plane, and nothing more (SPEC §1): who a token is, what its agent
 * may do, a provider's key, prices, leases, and where requests are recorded. `LocalGatewayControl` serves
 * it from the local store; a team gateway serves it from `iron serve` over the lease protocol. The request
 * path is written against this port only.
 */
export interface GatewayControl {
  /** Where the control plane is (a store's path, a server's URL): for people and the registration. */
  readonly location: string

  /** The agent an IC token belongs to; undefined when the token is unknown, revoked or expired. */
  authenticate(secret: string): Promise<GatewayIdentity | undefined>
  /** Providers, as the agent's allowed providers name them. */
  providers(): Promise<readonly GatewayProvider[]>
  /** A provider's API key (null: it takes none). Held in memory only. */
  apiKey(providerId: string): Promise<string | null>
  /** The price table (bundled catalog with overrides). */
  prices(): Promise<PriceTable>
  /** Current terms of agents' budgets, to tell whether a lease was taken under terms that changed. */
  budgetTerms(agentIds: readonly string[]): Promise<BudgetTerms[]>
  /** Budgets as people see them, for the gateway's metrics and stats. */
  budgets(): Promise<Budget[]>

  /** Lend part of an agent's budget, or grow a lease (`top_up`). */
  grantLease(request: LeaseRequest): Promise<LeaseGrant>
  /**
   * Charge a request and write its record, together. Resolves once both are durable (in the store, or in
   * the gateway's own journal or outbox on their way to it), before the request's answer ends.
   */
  settle(draw: DrawRequest, record: RequestRecord): Promise<Settled>
  /** Give back what a lease did not spend (derived from what was drawn on it). */
  returnLease(lease: { lease_id: string; agent_id: string; holder: string }): Promise<void>
  /** Write the record of a request that was not charged (refused, failed, free). */
  record(record: RequestRecord): Promise<void>
  /** A token was used (bookkeeping, off the request path; at most once a minute per token). */
  tokenUsed(tokenId: string): void

  /** Register this gateway as a holder of budget; returns when its heartbeat runs out. */
  register(holder: HolderInfo): Promise<number>
  /** Extend the heartbeat; null when the holder was reclaimed meanwhile (it stalled past its TTL). */
  renew(holder: string, ttlMs: number): Promise<number | null>
  /** End the registration on a clean stop (what is still open goes back). */
  end(holder: string): Promise<void>
  /** Give back what holders whose heartbeat ran out left; returns how many leases and reservations. */
  reclaimExpired(): Promise<number>
  /** What this gateway has in flight on each lease, so budget views can show it. */
  reportHolds(holder: string, holds: readonly LeaseHold[]): Promise<void>

  /**
   * Look for changes made elsewhere (at most every 100 ms unless `now`); drops what it cached of them and
   * tells the listeners which kinds changed.
   */
  refresh(now?: boolean): void
  onChange(listener: (changed: ReadonlySet<ChangeDomain>) => void): void
  /** Wait for every write asked for so far, and let go of what it holds open. */
  close(): Promise<void>
}

/**
 * The control plane cannot be reached to decide on a request (a team gateway's server is down and the
 * request needs more than its lease holds, or a token it has not seen): the request is refused, closed.
 */
export class ControlPlaneUnreachable extends IronError {
  /** The HTTP status the gateway answers with: a refusal of spend, as when the budget is out. */
  readonly status = 402

  constructor(location: string, reason?: string) {
    super(
      'CONTROL_PLANE_UNREACHABLE',
      `The control plane at ${location} cannot be reached${reason ? ` (${reason})` : ''}; this gateway serves only what its budget leases already hold, and this request needs more`,
      {
        exitCode: ExitCode.refused,
        hint: `Check that iron serve runs at ${location} and that this machine can reach it`,
      },
    )
  }
}

export type ChangeDomain = 'agents' | 'tokens' | 'providers' | 'prices' | 'budgets' | 'settings'

export interface GatewayAgent {
  id: string
  name: string
  status: 'active' | 'suspended' | 'deleted'
  /** Provider names it may use; empty means any. */
  allowed_providers: readonly string[]
  /** Canonical model ids it may use; empty means any. */
  allowed_models: readonly string[]
  rpm_limit: number | null
  tpm_limit: number | null
  /** Whether its budget has a limit (then a model without a price is refused: fail closed). */
  budgeted: boolean
  /** Its effective safety policy (its own over the default). */
  policy: SafetyPolicy
}

export interface GatewayIdentity {
  token_id: string
  agent: GatewayAgent
}

export interface GatewayProvider {
  id: string
  name: string
  kind: ProviderKind
  /** Where its API is (the kind's default filled in); null for the built-in mock. */
  base_url: string | null
}

export interface BudgetTerms {
  agent_id: string
  limit_micros: number | null
  period_end: number | null
  /** Whether the agent may spend (active, not suspended or deleted). */
  active: boolean
}

export interface HolderInfo {
  holder: string
  host: string
  pid: number
  ttl_ms: number
}

export interface LeaseHold {
  lease_id: string
  agent_id: string
  held_micros: number
}

/** What the gateway records about each request (its audit event's data, with the ids beside it). */
export interface RequestRecord {
  id: string
  agent_id: string | null
  token_id: string | null
  api: string
  model: string | null
  provider: string | null
  stream: number
  status: number
  outcome: string
  error_code: string | null
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  cost_micros: number | null
  cost_known: number | null
  reserved_micros: number | null
  started_at: number
  latency_ms: number | null
  upstream_ms: number | null
  overhead_ms: number | null
  prompt_sha256: string | null
  response_sha256: string | null
  /** Firewall findings: counts by category and each finding's place and SHA-256, never the text. */
  findings: { input?: FindingsSummary; output?: FindingsSummary } | null
  holder: string | null
}

export interface FindingsSummary {
  counts: Record<string, number>
  blocked: string[]
  error: string | null
  items: Array<{
    category: string
    action: string
    path: string | null
    start: number
    end: number
    sha256: string
  }>
}
