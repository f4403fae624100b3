import type { PriceTable } from '../../pricing/index.js'
import type { AgentRow } from '../../store/agents.js'
import { startCheckpointer } from '../../store/checkpointer.js'
import type { Statement } from '../../store/db.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import { isFile, type Journal } from '../../store/journal.js'
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
  Settled,
} from '../gateway-control.js'
import { createLocalControlPlane, type LocalControlPlane } from './index.js'
import { DEFAULT_BASE_URLS } from './providers.js'
import {
  openSettlementJournal,
  recoverSettlements,
  type Settlement,
  writeRecord,
  writeSettlement,
} from './settlements.js'

export interface LocalGatewayControlOptions {
  /** Off only to measure what the audit trail costs (benchmarks); every request is recorded otherwise. */
  audit?: boolean
  /**
   * Off: each settlement is in the store before its answer ends (one commit on the request path). On (the
   * default, for a store in a file): in the gateway's journal, then in the store in the next group commit.
   */
  journal?: boolean
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
  readonly #checkpointer: ReturnType<typeof startCheckpointer> | undefined
  readonly #listeners: Array<(changed: ReadonlySet<ChangeDomain>) => void> = []
  #versions = new Map<ChangeDomain, number>()
  #checkedAt = -Infinity
  #reclaimedLegacy = false
  readonly #tokens = new Map<string, CachedToken>()
  readonly #agents = new Map<string, GatewayAgent>()
  readonly #keys = new Map<string, string | null>()
  readonly #touched = new Map<string, number>()
  #providers: GatewayProvider[] | undefined
  readonly #journal: Journal<Settlement> | undefined
  /** Settlements in the journal not yet in the store, and what each agent's of them draw beyond their leases. */
  #unwritten = 0
  readonly #unwrittenExcess = new Map<string, number>()
  /** Settlements whose write failed: kept in the journal, tried again at the next heartbeat. */
  #failed: Settlement[] = []
  readonly #balance: Statement

  constructor(ctx: LocalContext, options: LocalGatewayControlOptions = {}) {
    this.#ctx = ctx
    this.location = ctx.storeLabel
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
    this.#balance = db
      .prepare(
        'SELECT limit_micros - spent_micros - reserved_micros - leased_micros FROM budgets WHERE agent_id = ?',
      )
      .pluck()
    this.#journal =
      options.journal !== false && isFile(ctx.dbPath)
        ? openSettlementJournal(ctx.dbPath, this.#cp)
        : undefined
    this.#versions = this.#readVersions()
    this.#checkedAt = performance.now()
    // PostgreSQL checkpoints on its own.
    this.#checkpointer = isFile(ctx.dbPath) ? startCheckpointer(db, ctx.dbPath) : undefined
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

  /**
   * With a journal, the settlement is appended to it (one write, durable against a crash of the process)
   * and the answer goes on at once with the gateway's own figures; the group commit then writes it to the
   * store, batched with whatever else is waiting, off the request path. Without one, it is written first.
   */
  settle(draw: DrawRequest, record: RequestRecord): Promise<Settled> {
    const journal = this.#journal
    const settlement: Settlement = { draw, record }
    if (!journal) return this.#writer.run(() => writeSettlement(this.#cp, settlement, this.#audit))
    record.cost_micros = draw.actual_micros
    journal.append(settlement)
    const written = this.#write(journal, settlement)
    const remaining = () => this.#remaining(draw.agent_id)
    return Promise.resolve({
      reservation_id: draw.reservation_id,
      agent_id: draw.agent_id,
      charged_micros: draw.actual_micros,
      overrun_micros: 0,
      // Read from the store only when asked (a JSON answer's header; a stream never asks).
      get remaining_micros() {
        return remaining()
      },
      alert_pct: null,
      written,
    })
  }

  /**
   * Write a journaled settlement to the store. The journal is cleared whenever nothing in it waits; one
   * whose write failed (the store busy past the group commit's minute, or refusing it) stays in it, is
   * tried again at the next heartbeat, and is written by the next process to open the store if this one stops first.
   */
  #write(journal: Journal<Settlement>, settlement: Settlement): Promise<SettleResult> {
    const { draw } = settlement
    const excess = this.#excessOf(draw)
    this.#unwritten++
    this.#addExcess(draw.agent_id, excess)
    const written = this.#writer.run(() => writeSettlement(this.#cp, settlement, this.#audit))
    const done = (failed: boolean) => {
      this.#addExcess(draw.agent_id, -excess)
      if (failed) this.#failed.push(settlement)
      if (--this.#unwritten > 0) return
      journal.clear()
      for (const kept of this.#failed) journal.append(kept)
    }
    written.then(
      () => done(false),
      (error: unknown) => {
        process.stderr.write(
          `iron gateway: request ${settlement.record.id} is kept in ${journal.path} until it can be written: ${(error as Error).message}\n`,
        )
        done(true)
      },
    )
    return written
  }

  /** What a draw takes beyond what its lease holds for it (charged to the budget directly). */
  #excessOf(draw: DrawRequest): number {
    return draw.lease_id === null
      ? 0
      : draw.actual_micros - Math.min(draw.actual_micros, Math.max(draw.room_micros, 0))
  }

  /** What the budget has left as the store says, less what settlements on their way to it draw beyond leases. */
  #remaining(agentId: string): number | null {
    const left = this.#balance.get(agentId) as number | null | undefined
    if (left === null || left === undefined) return null
    return Math.max(left - (this.#unwrittenExcess.get(agentId) ?? 0), 0)
  }

  #addExcess(agentId: string, micros: number): void {
    if (micros === 0) return
    const total = (this.#unwrittenExcess.get(agentId) ?? 0) + micros
    if (total === 0) this.#unwrittenExcess.delete(agentId)
    else this.#unwrittenExcess.set(agentId, total)
  }

  async returnLease(lease: { lease_id: string; agent_id: string; holder: string }): Promise<void> {
    await this.#writer.run(() => {
      this.#cp.budgets.returnLeaseSync(lease)
    })
  }

  async record(record: RequestRecord): Promise<void> {
    if (!this.#audit) return
    await this.#writer.run(() => writeRecord(this.#cp.audit, record))
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
    const journal = this.#journal
    if (journal && this.#failed.length > 0) {
      // Still in the journal; tried again (each goes back to #failed if it fails again).
      const retry = this.#failed
      this.#failed = []
      for (const settlement of retry) this.#write(journal, settlement).catch(() => {})
    }
    // What a gateway that died had answered goes to the store before its leases go back, so that its
    // draws are taken from them rather than from the budget.
    recoverSettlements(this.#ctx.dbPath, this.#cp)
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

  /** Resolves once every settlement answered so far is in the store. */
  async settled(): Promise<void> {
    await this.#writer.run(() => undefined)
  }

  async close(): Promise<void> {
    await this.#writer.run(() => undefined)
    // Cleared as its settlements were written; what is left (writes that failed) is for the next process.
    this.#journal?.close()
    await this.#checkpointer?.stop()
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
}
