import type { DrawRequest, LeaseGrant } from '../services/api.js'
import type { GatewayControl, LeaseHold, RequestRecord, Settled } from '../services/gateway-control.js'

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
    private readonly control: GatewayControl,
    private readonly holder: string,
    /** Resolves once this gateway's heartbeat is current (undefined when it already is). */
    private readonly live: () => Promise<void> | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Hold `worst` for a request, or say why not. `fitWithin` (clamp) gets what is available and may accept less. */
  async admit(
    agentId: string,
    worst: number,
    fitWithin?: (available: number) => number | undefined,
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
      const grant = this.#grant(agentId, worst, fitWithin)
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
   * Settle a request: its draw and its record in one write. The lease pays up to what it holds for the
   * request; a cost beyond that is drawn from the budget. A retired lease goes back after its last draw.
   */
  async settle(
    admission: Admission,
    draw: Omit<DrawRequest, 'agent_id' | 'lease_id' | 'counted_at' | 'room_micros'>,
    record: RequestRecord,
  ): Promise<Settled> {
    const lease = admission.lease
    const room = lease.granted - lease.drawn - (lease.held - admission.amount)
    lease.held -= admission.amount
    if (lease.id !== null) lease.drawn += Math.min(draw.actual_micros, Math.max(room, 0))
    lease.lastUsed = this.now()
    const closing = this.#closeIfDone(lease)
    const result = await this.control.settle(
      {
        ...draw,
        agent_id: lease.agentId,
        lease_id: lease.id,
        counted_at: lease.countedAt,
        room_micros: room,
        holder: this.holder,
      },
      record,
    )
    if (closing) void closing()
    return result
  }

  /** A request that will not be charged (refused before or by the upstream): free what it held, no write. */
  release(admission: Admission): void {
    admission.lease.held -= admission.amount
    void this.#closeIfDone(admission.lease)?.()
  }

  /** What this gateway still holds for an agent beyond what is in flight (to report what remains). */
  freeFor(agentId: string): number {
    const lease = this.#current.get(agentId)
    return lease && lease.id !== null ? Math.max(free(lease), 0) : 0
  }

  /** Stop lending from an agent's lease (its limit, period or status changed); it is returned once idle. */
  retire(agentId: string): void {
    void this.#retire(agentId)?.()
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
    const returns = [...this.#current.keys()].map((agentId) => this.#retire(agentId)?.())
    await Promise.all(returns)
  }

  /** What is in flight on each open lease, for the control plane's budget views. */
  holds(): LeaseHold[] {
    const holds: LeaseHold[] = []
    for (const lease of [...this.#current.values(), ...this.#retired])
      if (lease.id !== null)
        holds.push({ lease_id: lease.id, agent_id: lease.agentId, held_micros: lease.held })
    return holds
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
   * Grow the agent's lease (or open one) so that `worst` fits, and hold it for the request as soon as the
   * grant is back (before any other request can take it). With the clamp policy, a refusal says what was
   * available, and `fitWithin` may ask for less. Undefined: granted, but taken meanwhile (look again).
   */
  async #grant(
    agentId: string,
    worst: number,
    fitWithin?: (available: number) => number | undefined,
  ): Promise<Admission | AdmissionRefusal | undefined> {
    let need = worst
    let clamped = false
    for (;;) {
      const current = this.#usable(agentId)
      const base = current && current.id !== null ? current : undefined
      const result = await this.control.grantLease({
        agent_id: agentId,
        min_micros: need,
        holder: this.holder,
        top_up: base
          ? { lease_id: base.id!, counted_at: base.countedAt, free_micros: free(base) }
          : undefined,
      })
      if (!result.ok) {
        const fitted =
          !clamped && fitWithin && result.reason === 'budget_exceeded' && result.on_insufficient === 'clamp'
            ? fitWithin(result.remaining_micros)
            : undefined
        if (fitted === undefined || !Number.isSafeInteger(fitted) || fitted < 0) return result
        need = fitted
        clamped = true
        continue
      }
      const lease = this.#apply(agentId, base, result)
      const amount = lease.id === null ? 0 : need
      if (lease.id !== null && free(lease) < amount) return undefined
      return this.#hold(lease, amount, clamped)
    }
  }

  /** A grant, applied: the lease grown, or a new one in place of one the ledger closed or that is out of its period. */
  #apply(agentId: string, base: Lease | undefined, result: Extract<LeaseGrant, { ok: true }>): Lease {
    if (base && result.lease_id === base.id && this.#current.get(agentId) === base) {
      base.granted += result.granted_micros
      return base
    }
    void this.#retire(agentId)?.()
    const lease: Lease = {
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
    return lease
  }

  /** Take an agent's lease out of use; returns the write that gives it back if nothing is in flight on it. */
  #retire(agentId: string): (() => Promise<void>) | undefined {
    const lease = this.#current.get(agentId)
    if (!lease) return undefined
    this.#current.delete(agentId)
    lease.retired = true
    this.#retired.add(lease)
    return this.#closeIfDone(lease)
  }

  /** The write that returns a retired lease's rest, once nothing is in flight on it. */
  #closeIfDone(lease: Lease): (() => Promise<void>) | undefined {
    if (!lease.retired || lease.held > 0 || !this.#retired.has(lease)) return undefined
    this.#retired.delete(lease)
    if (lease.id === null) return undefined
    const id = lease.id
    return () =>
      this.control
        .returnLease({ lease_id: id, agent_id: lease.agentId, holder: this.holder })
        .catch((error: unknown) => {
          process.stderr.write(`iron gateway: could not return lease ${id}: ${(error as Error).message}\n`)
        })
  }
}
