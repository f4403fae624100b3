import type { Statement } from 'better-sqlite3'
import type { PriceTable } from '../../pricing/index.js'
import type { AgentRow } from '../../store/agents.js'
import { startCheckpointer } from '../../store/checkpointer.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import type { Budget, DrawRequest, LeaseGrant, LeaseRequest, SettleResult } from '../api.js'
import type { LocalContext } from '../context.js'
import type {
  BudgetTerms,
  ChangeDomain,
  GatewayAgent,
  GatewayControl,
  GatewayIdentity,
  GatewayProvider,
  HolderInfo,
  LeaseHold,
  RequestRecord,
} from '../gateway-control.js'
import { createLocalControlPlane, type LocalControlPlane } from './index.js'
import { DEFAULT_BASE_URLS } from './providers.js'
import { auditRequest, recordDataJson } from './request-audit.js'

export interface LocalGatewayControlOptions {
  /** Off only to measure what the audit trail costs (benchmarks); every request is recorded otherwise. */
  audit?: boolean
}

interface CachedToken {
  token_id: string
  agent_id: string
  expires_at: number | null
}

const CHECK_EVERY_MS = 100
const TOUCH_EVERY_MS = 60_000

/**
 * The gateway's port on the local store. Reads are cached, and each cache is dropped only when what it
 * holds changed: triggers bump a counter per kind (agents, tokens, providers, prices, budgets, settings),
 * read at most every 100 ms (and at once when a command says it changed the store), so requests settled
 * by another gateway on the same store invalidate nothing. Writes go through the store's group commit.
 */
export class LocalGatewayControl implements GatewayControl {
  readonly location: string
  readonly #ctx: LocalContext
  readonly #cp: LocalControlPlane
  readonly #writer: GroupCommit
  readonly #audit: boolean
  readonly #counters: Statement
  readonly #terms: Statement
  readonly #touch: Statement
  readonly #limit: Statement
  readonly #checkpointer: ReturnType<typeof startCheckpointer>
  readonly #listeners: Array<(changed: ReadonlySet<ChangeDomain>) => void> = []
  #versions = new Map<ChangeDomain, number>()
  #checkedAt = -Infinity
  #reclaimedLegacy = false
  readonly #tokens = new Map<string, CachedToken>()
  readonly #agents = new Map<string, GatewayAgent>()
  readonly #keys = new Map<string, string | null>()
  readonly #touched = new Map<string, number>()
  #providers: GatewayProvider[] | undefined

  constructor(ctx: LocalContext, options: LocalGatewayControlOptions = {}) {
    this.#ctx = ctx
    this.location = ctx.dbPath
    const db = ctx.db()
    this.#cp = createLocalControlPlane(ctx)
    this.#writer = groupCommitOf(db)
    this.#audit = options.audit !== false
    this.#counters = db.prepare('SELECT domain, version FROM change_counters')
    this.#terms = db.prepare(
      'SELECT b.limit_micros AS limit_micros, b.period_end AS period_end, a.status AS status FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE b.agent_id = ?',
    )
    this.#touch = db.prepare('UPDATE ic_tokens SET last_used_at = ? WHERE id = ?')
    this.#limit = db.prepare('SELECT limit_micros FROM budgets WHERE agent_id = ?').pluck()
    this.#versions = this.#readVersions()
    this.#checkedAt = performance.now()
    this.#checkpointer = startCheckpointer(db, ctx.dbPath)
  }

  async authenticate(secret: string): Promise<GatewayIdentity | undefined> {
    this.refresh()
    let token = this.#tokens.get(secret)
    if (!token) {
      const found = this.#cp.tokens.authenticate(secret)
      if (!found) return undefined
      token = { token_id: found.token_id, agent_id: found.agent.id, expires_at: found.expires_at }
      this.#tokens.set(secret, token)
      this.#agents.set(found.agent.id, this.#agentView(found.agent))
    }
    if (token.expires_at !== null && token.expires_at <= this.#ctx.now()) return undefined
    let agent = this.#agents.get(token.agent_id)
    if (!agent) {
      const row = this.#cp.repos.agents.byId(token.agent_id)
      if (!row || row.deleted_at !== null) return undefined
      agent = this.#agentView(row)
      this.#agents.set(agent.id, agent)
    }
    if (agent.status === 'deleted') return undefined
    return { token_id: token.token_id, agent }
  }

  async providers(): Promise<readonly GatewayProvider[]> {
    this.#providers ??= this.#cp.repos.providers.list().map((p) => ({
      id: p.id,
      name: p.name,
      kind: p.kind,
      base_url: p.base_url ?? DEFAULT_BASE_URLS[p.kind] ?? null,
    }))
    return this.#providers
  }

  async apiKey(providerId: string): Promise<string | null> {
    if (!this.#keys.has(providerId)) {
      const row = this.#cp.repos.providers.byId(providerId)
      this.#keys.set(providerId, row ? this.#cp.providers.apiKey(row) : null)
    }
    return this.#keys.get(providerId) ?? null
  }

  async prices(): Promise<PriceTable> {
    return this.#cp.pricing.table()
  }

  async budgetTerms(agentIds: readonly string[]): Promise<BudgetTerms[]> {
    const terms: BudgetTerms[] = []
    for (const agentId of agentIds) {
      const row = this.#terms.get(agentId) as
        | { limit_micros: number | null; period_end: number | null; status: string }
        | undefined
      if (row)
        terms.push({
          agent_id: agentId,
          limit_micros: row.limit_micros,
          period_end: row.period_end,
          active: row.status === 'active',
        })
    }
    return terms
  }

  async budgets(): Promise<Budget[]> {
    return this.#cp.budgets.list()
  }

  grantLease(request: LeaseRequest): Promise<LeaseGrant> {
    return this.#writer.run(() => this.#cp.budgets.grantLeaseSync(request))
  }

  settle(draw: DrawRequest, record: RequestRecord): Promise<SettleResult> {
    return this.#writer.run(() => {
      const result = this.#cp.budgets.drawSync(draw)
      record.cost_micros = result.charged_micros
      this.#record(record)
      return result
    })
  }

  async returnLease(lease: { lease_id: string; agent_id: string; holder: string }): Promise<void> {
    await this.#writer.run(() => {
      this.#cp.budgets.returnLeaseSync(lease)
    })
  }

  async record(record: RequestRecord): Promise<void> {
    await this.#writer.run(() => this.#record(record))
  }

  tokenUsed(tokenId: string): void {
    const now = this.#ctx.now()
    if (now - (this.#touched.get(tokenId) ?? -Infinity) < TOUCH_EVERY_MS) return
    this.#touched.set(tokenId, now)
    void this.#writer.run(() => this.#touch.run(now, tokenId)).catch(() => {})
  }

  async register(holder: HolderInfo): Promise<number> {
    return this.#cp.holders.register(holder)
  }

  renew(holder: string, ttlMs: number): Promise<number | null> {
    return this.#writer.run(() => this.#cp.holders.renew(holder, ttlMs))
  }

  async end(holder: string): Promise<void> {
    await this.#writer.run(() => this.#cp.holders.end(holder))
  }

  async reclaimExpired(): Promise<number> {
    // Once per process, also what gateways from before heartbeats left open (they never registered).
    const legacy = this.#reclaimedLegacy ? 0 : this.#cp.budgets.reclaimUnregistered()
    this.#reclaimedLegacy = true
    return legacy + this.#cp.budgets.reclaimExpired()
  }

  async reportHolds(holder: string, holds: readonly LeaseHold[]): Promise<void> {
    await this.#writer.run(() => this.#cp.budgets.recordHolds(holder, holds))
  }

  refresh(now = false): void {
    const at = performance.now()
    if (!now && at - this.#checkedAt < CHECK_EVERY_MS) return
    this.#checkedAt = at
    const versions = this.#readVersions()
    const changed = new Set<ChangeDomain>()
    for (const [domain, version] of versions) if (this.#versions.get(domain) !== version) changed.add(domain)
    this.#versions = versions
    if (changed.size === 0) return
    if (changed.has('tokens') || changed.has('agents')) this.#tokens.clear()
    if (changed.has('agents') || changed.has('settings') || changed.has('budgets')) this.#agents.clear()
    if (changed.has('providers')) {
      this.#providers = undefined
      this.#keys.clear()
    }
    if (changed.has('prices')) this.#cp.pricing.invalidate()
    for (const listener of this.#listeners) listener(changed)
  }

  onChange(listener: (changed: ReadonlySet<ChangeDomain>) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    await this.#writer.run(() => undefined)
    await this.#checkpointer.stop()
  }

  #readVersions(): Map<ChangeDomain, number> {
    const rows = this.#counters.all() as Array<{ domain: ChangeDomain; version: number }>
    return new Map(rows.map((r) => [r.domain, r.version]))
  }

  #agentView(row: AgentRow): GatewayAgent {
    const limit = (this.#limit.get(row.id) ?? null) as number | null
    return {
      id: row.id,
      name: row.name,
      status: row.deleted_at !== null ? 'deleted' : row.status,
      allowed_providers: JSON.parse(row.allowed_providers) as string[],
      allowed_models: JSON.parse(row.allowed_models) as string[],
      rpm_limit: row.rpm_limit,
      tpm_limit: row.tpm_limit,
      budgeted: limit !== null,
      policy: this.#cp.safety.effectiveFor(row),
    }
  }

  /** The request's record is its audit event. */
  #record(record: RequestRecord): void {
    if (!this.#audit) return
    auditRequest(this.#cp.audit, record, {
      actor: record.agent_id ? `agent:${record.agent_id}` : 'anonymous',
      agent_id: record.agent_id,
      data: recordDataJson(record),
    })
  }
}
