import type { DrawRequest, LeaseGrant, SettleResult } from '../services/api.js'
import type { LocalBudgets } from '../services/local/budgets.js'
import type { GroupCommit } from '../store/group-commit.js'

/** Part of an agent's budget this gateway holds; `id` null for an agent without a limit (metered only). */
export interface Lease {
  id: string | null
  agentId: string
  granted: number
  /** Charged to the ledger so far. */
  drawn: number
  /** Worst cases of the requests in flight on it. */
  held: number
  countedAt: number
  periodEnd: number | null
  limit: number | null
  retired: boolean
  lastUsed: number
}

export interface Admission {
  lease: Lease
  /** The worst case held for this request (smaller than asked when clamped). */
  amount: number
  clamped: boolean
}

export type AdmissionRefusal = Extract<LeaseGrant, { ok: false }>

const IDLE_RETURN_MS = 30_000

/**
 * Admission in memory: the gateway borrows part of each agent's budget from the ledger (a lease, one
 * transaction) and admits requests against it without touching the store; each request then costs one
 * write, its settlement, which moves its cost from leased to spent. The ledger's invariant covers leases:
 * spent + reserved + leased ≤ limit, whatever the number of gateways. What a lease did not spend goes back
 * when it is replaced, idle, out of its period, or when the gateway stops (or, after a crash, restarts).
 */
export class LeaseBook {
  readonly #current = new Map<string, Lease>()
  readonly #granting = new Map<string, Promise<unknown>>()
  readonly #retired = new Set<Lease>()

  constructor(
    private readonly budgets: LocalBudgets,
    private readonly writer: GroupCommit,
    private readonly holder: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Hold `worst` for a request, or say why not. `fit` (clamp) gets what is available and may accept less. */
  async admit(
    agentId: string,
    worst: number,
    fit?: (available: number) => number | undefined,
  ): Promise<Admission | AdmissionRefusal> {
    let tried = false
    for (;;) {
      const lease = this.#usable(agentId)
      if (lease) {
        if (lease.id === null) return this.#hold(lease, 0, false)
        if (lease.granted - lease.drawn - lease.held >= worst) return this.#hold(lease, worst, false)
      }
      const pending = this.#granting.get(agentId)
      if (pending && !tried) {
        await pending
        tried = true
        continue
      }
      const grant = this.#grant(agentId, worst, fit)
      this.#granting.set(agentId, grant)
      let result: LeaseGrant
      try {
        result = await grant
      } finally {
        if (this.#granting.get(agentId) === grant) this.#granting.delete(agentId)
      }
      if (!result.ok) return result
      const fresh = this.#current.get(agentId)!
      if (result.clamped_micros !== null) return this.#hold(fresh, result.clamped_micros, true)
      tried = true
    }
  }

  /** Settle a request: its draw (and, if its lease is done with, the lease's return) in one group savepoint. */
  async settle(
    admission: Admission,
    draw: Omit<DrawRequest, 'agent_id' | 'lease_id' | 'counted_at' | 'room_micros'>,
    also: (result: SettleResult) => void,
  ): Promise<SettleResult> {
    const lease = admission.lease
    const room = lease.granted - lease.drawn - (lease.held - admission.amount)
    const charge = lease.id === null ? draw.actual_micros : Math.min(draw.actual_micros, room)
    lease.held -= admission.amount
    lease.drawn += charge
    lease.lastUsed = this.now()
    const closing = this.#closeIfDone(lease)
    const request: DrawRequest = {
      ...draw,
      agent_id: lease.agentId,
      lease_id: lease.id,
      counted_at: lease.countedAt,
      room_micros: room,
      holder: this.holder,
    }
    return this.writer.run(() => {
      const result = this.budgets.drawSync(request)
      closing?.()
      also(result)
      return result
    })
  }

  /** A request that will not be charged (the upstream refused it): free what it held, no write. */
  release(admission: Admission): void {
    admission.lease.held -= admission.amount
    const closing = this.#closeIfDone(admission.lease)
    if (closing) void this.writer.run(closing).catch(() => {})
  }

  /** What this gateway still holds for an agent beyond what is in flight (to report what remains). */
  freeFor(agentId: string): number {
    const lease = this.#current.get(agentId)
    return lease && lease.id !== null ? Math.max(lease.granted - lease.drawn - lease.held, 0) : 0
  }

  /** Stop lending from an agent's lease (its limit, period or status changed); it is returned once idle. */
  retire(agentId: string): void {
    const lease = this.#current.get(agentId)
    if (!lease) return
    this.#current.delete(agentId)
    lease.retired = true
    this.#retired.add(lease)
    const closing = this.#closeIfDone(lease)
    if (closing) void this.writer.run(closing).catch(() => {})
  }

  /** The limits the leases were taken under, to notice a change made by another process. */
  heldLimits(): Array<{ agentId: string; limit: number | null; periodEnd: number | null }> {
    return [...this.#current.values()].map((l) => ({
      agentId: l.agentId,
      limit: l.limit,
      periodEnd: l.periodEnd,
    }))
  }

  /** Return leases nobody used for a while, so other gateways (and the budget view) get the money back. */
  returnIdle(): void {
    const now = this.now()
    for (const lease of this.#current.values())
      if (lease.held === 0 && now - lease.lastUsed > IDLE_RETURN_MS) this.retire(lease.agentId)
  }

  /** On shutdown: every lease back, once its requests are settled. */
  async returnAll(): Promise<void> {
    for (const agentId of [...this.#current.keys()]) this.retire(agentId)
    await this.writer.run(() => undefined)
  }

  #usable(agentId: string): Lease | undefined {
    const lease = this.#current.get(agentId)
    if (!lease) return undefined
    if (lease.periodEnd !== null && this.now() >= lease.periodEnd) {
      this.retire(agentId)
      return undefined
    }
    return lease
  }

  #hold(lease: Lease, amount: number, clamped: boolean): Admission {
    lease.held += amount
    lease.lastUsed = this.now()
    return { lease, amount, clamped }
  }

  async #grant(
    agentId: string,
    worst: number,
    fit?: (available: number) => number | undefined,
  ): Promise<LeaseGrant> {
    // The lease being replaced goes back first when nothing is in flight on it, so its rest is not stranded.
    const previous = this.#current.get(agentId)
    if (previous) this.retire(agentId)
    const result = await this.writer.run(() =>
      this.budgets.grantLeaseSync({ agent_id: agentId, min_micros: worst, holder: this.holder, fit }),
    )
    if (result.ok) {
      this.#current.set(agentId, {
        id: result.lease_id,
        agentId,
        granted: result.granted_micros,
        drawn: 0,
        held: 0,
        countedAt: result.counted_at,
        periodEnd: result.period_end,
        limit: result.limit_micros,
        retired: false,
        lastUsed: this.now(),
      })
    }
    return result
  }

  /** The write that returns a retired lease's rest, once nothing is in flight on it. */
  #closeIfDone(lease: Lease): (() => void) | undefined {
    if (!lease.retired || lease.held > 0 || !this.#retired.has(lease)) return undefined
    this.#retired.delete(lease)
    if (lease.id === null) return undefined
    const unused = lease.granted - lease.drawn
    const id = lease.id
    return () =>
      this.budgets.returnLeaseSync({
        lease_id: id,
        agent_id: lease.agentId,
        counted_at: lease.countedAt,
        unused_micros: unused,
        holder: this.holder,
      })
  }
}
