import type { DrawRequest, LeaseGrant, SettleResult } from '../services/api.js'
import type { LocalBudgets } from '../services/local/budgets.js'
import type { GroupCommit } from '../store/group-commit.js'

/** Part of an agent's budget this gateway holds; `id` null for an agent without a limit (metered only). */
export interface Lease {
  id: string | null
  agentId: string
  /** Granted so far: the grant and its top-ups, as written to the ledger. */
  granted: number
  /** What draws took from the lease, as written to the ledger. */
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

const free = (lease: Lease) => lease.granted - lease.drawn - lease.held

/**
 * Admission in memory: the gateway borrows part of each agent's budget from the ledger (a lease) and
 * admits requests against it without touching the store; each request then costs one write, its
 * settlement, which moves its cost from leased to spent. The ledger's invariant covers leases:
 * spent + reserved + leased ≤ limit, whatever the number of gateways.
 *
 * One lease per agent, grown in place (a top-up) when a request needs more than it holds free, so that a
 * request that fits the budget is never refused because this gateway's lease is too small; one grant in
 * flight per agent, the others wait for it. What a lease did not spend goes back when it is idle, out of
 * its period, its budget changed, or the gateway stops; if the gateway stalls past its heartbeat, the
 * ledger reclaims it and its late draws are charged to the budget directly.
 */
export class LeaseBook {
  readonly #current = new Map<string, Lease>()
  readonly #granting = new Map<string, Promise<void>>()
  readonly #retired = new Set<Lease>()

  constructor(
    private readonly budgets: LocalBudgets,
    private readonly writer: GroupCommit,
    private readonly holder: string,
    /** Resolves once this gateway's heartbeat is current (undefined when it already is). */
    private readonly live: () => Promise<void> | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Hold `worst` for a request, or say why not. `fit` (clamp) gets what is available and may accept less. */
  async admit(
    agentId: string,
    worst: number,
    fit?: (available: number) => number | undefined,
  ): Promise<Admission | AdmissionRefusal> {
    for (;;) {
      const stale = this.live()
      if (stale) await stale
      const lease = this.#usable(agentId)
      if (lease && (lease.id === null || free(lease) >= worst))
        return this.#hold(lease, lease.id === null ? 0 : worst, false)
      const pending = this.#granting.get(agentId)
      if (pending) {
        await pending
        continue
      }
      const grant = this.#grant(agentId, worst, fit)
      const done = grant.then(
        () => undefined,
        () => undefined,
      )
      this.#granting.set(agentId, done)
      let result: Admission | AdmissionRefusal | undefined
      try {
        result = await grant
      } finally {
        if (this.#granting.get(agentId) === done) this.#granting.delete(agentId)
      }
      if (result) return result
    }
  }

  /**
   * Settle a request: its draw (and, if its lease is done with, the lease's return) in one group savepoint.
   * The lease pays up to what it holds for the request; a cost beyond that is drawn from the budget.
   */
  async settle(
    admission: Admission,
    draw: Omit<DrawRequest, 'agent_id' | 'lease_id' | 'counted_at' | 'room_micros'>,
    also: (result: SettleResult) => void,
  ): Promise<SettleResult> {
    const lease = admission.lease
    const room = lease.granted - lease.drawn - (lease.held - admission.amount)
    lease.held -= admission.amount
    if (lease.id !== null) lease.drawn += Math.min(draw.actual_micros, Math.max(room, 0))
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

  /** A request that will not be charged (refused before or by the upstream): free what it held, no write. */
  release(admission: Admission): void {
    admission.lease.held -= admission.amount
    const closing = this.#closeIfDone(admission.lease)
    if (closing) void this.writer.run(closing).catch(() => {})
  }

  /** What this gateway still holds for an agent beyond what is in flight (to report what remains). */
  freeFor(agentId: string): number {
    const lease = this.#current.get(agentId)
    return lease && lease.id !== null ? Math.max(free(lease), 0) : 0
  }

  /** Stop lending from an agent's lease (its limit, period or status changed); it is returned once idle. */
  retire(agentId: string): void {
    const closing = this.#retire(agentId)
    if (closing) void this.writer.run(closing).catch(() => {})
  }

  /**
   * This gateway's heartbeat ran out and its leases were reclaimed: forget them without returning
   * anything (the ledger has them back). Requests in flight on them still settle, charged to the budget.
   */
  forgetAll(): void {
    for (const lease of [...this.#current.values(), ...this.#retired]) lease.retired = true
    this.#current.clear()
    this.#retired.clear()
  }

  /** The limits the leases were taken under, to notice a change made by another process. */
  heldLimits(): Array<{ agentId: string; limit: number | null; periodEnd: number | null }> {
    return [...this.#current.values()].map((l) => ({
      agentId: l.agentId,
      limit: l.limit,
      periodEnd: l.periodEnd,
    }))
  }

  /** Leases this gateway has open (current, and retired ones waiting for their requests). */
  get open(): number {
    let n = this.#retired.size
    for (const lease of this.#current.values()) if (lease.id !== null) n++
    return n
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

  /**
   * Grow the agent's lease (or open one) so that `worst` fits, and hold it for the request in the same
   * step as the ledger write, so that no other request can take what was granted for this one.
   * Undefined: granted, but taken meanwhile (look again).
   */
  #grant(
    agentId: string,
    worst: number,
    fit?: (available: number) => number | undefined,
  ): Promise<Admission | AdmissionRefusal | undefined> {
    let undo: (() => void) | undefined
    return this.writer
      .run((): Admission | AdmissionRefusal | undefined => {
        const current = this.#usable(agentId)
        const base = current && current.id !== null ? current : undefined
        const result = this.budgets.grantLeaseSync({
          agent_id: agentId,
          min_micros: worst,
          holder: this.holder,
          fit,
          top_up: base
            ? { lease_id: base.id!, counted_at: base.countedAt, free_micros: free(base) }
            : undefined,
        })
        if (!result.ok) return result
        let lease: Lease
        if (base && result.lease_id === base.id) {
          lease = base
          lease.granted += result.granted_micros
          undo = () => {
            lease.granted -= result.granted_micros
          }
        } else {
          // A new lease (the old one was closed by the ledger, or counts in another period): the old one goes back.
          this.#retire(agentId)?.()
          lease = {
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
          }
          this.#current.set(agentId, lease)
          undo = () => {
            if (this.#current.get(agentId) === lease) this.#current.delete(agentId)
          }
        }
        const amount = lease.id === null ? 0 : (result.clamped_micros ?? worst)
        if (lease.id !== null && free(lease) < amount) return undefined
        const admission = this.#hold(lease, amount, result.clamped_micros !== null)
        const previousUndo = undo
        undo = () => {
          lease.held -= amount
          previousUndo()
        }
        return admission
      })
      .catch((error: unknown) => {
        // The transaction did not commit: nothing was granted, nothing is held.
        undo?.()
        throw error
      })
  }

  /** Take an agent's lease out of use; returns the write that gives it back if nothing is in flight on it. */
  #retire(agentId: string): (() => void) | undefined {
    const lease = this.#current.get(agentId)
    if (!lease) return undefined
    this.#current.delete(agentId)
    lease.retired = true
    this.#retired.add(lease)
    return this.#closeIfDone(lease)
  }

  /** The write that returns a retired lease's rest, once nothing is in flight on it. */
  #closeIfDone(lease: Lease): (() => void) | undefined {
    if (!lease.retired || lease.held > 0 || !this.#retired.has(lease)) return undefined
    this.#retired.delete(lease)
    if (lease.id === null) return undefined
    const id = lease.id
    return () => {
      this.budgets.returnLeaseSync({ lease_id: id, agent_id: lease.agentId, holder: this.holder })
    }
  }
}
