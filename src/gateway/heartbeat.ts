import { hostname } from 'node:os'
import type { LocalBudgets } from '../services/local/budgets.js'
import type { LocalHolders } from '../services/local/holders.js'
import type { GroupCommit } from '../store/group-commit.js'

export interface HeartbeatOptions {
  holders: LocalHolders
  budgets: LocalBudgets
  writer: GroupCommit
  holder: string
  ttlMs: number
  /** The store reclaimed this gateway's leases (it stalled past its TTL): forget them. */
  onReclaimed: () => void
  now?: () => number
}

/**
 * The gateway's claim on what it holds: registered in the store with an expiry, renewed three times per
 * TTL. Admission from a lease waits for a renewal when the last one is getting old (the process stalled),
 * so a gateway never lends from a lease the store may already have given back. Each tick also reclaims
 * what gateways whose heartbeat ran out left behind.
 */
export class Heartbeat {
  readonly #o: HeartbeatOptions
  readonly #now: () => number
  #until = 0
  #timer: NodeJS.Timeout | undefined
  #renewing: Promise<void> | undefined

  constructor(options: HeartbeatOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** Register, reclaim what dead gateways left, and start renewing. Returns how many leases went back. */
  start(): number {
    this.#until = this.#register()
    const released = this.#o.budgets.reclaimUnregistered() + this.#o.budgets.reclaimExpired()
    this.#timer = setInterval(() => void this.#tick(), Math.max(Math.floor(this.#o.ttlMs / 3), 200))
    this.#timer.unref()
    return released
  }

  /** Undefined while the heartbeat is current; otherwise the renewal to wait for. */
  readonly current = (): Promise<void> | undefined => {
    if (this.#now() < this.#until - this.#o.ttlMs / 3) return undefined
    return this.#renew()
  }

  /** Stop renewing and end the registration (after the leases were returned). */
  stop(): void {
    clearInterval(this.#timer)
    this.#o.holders.end(this.#o.holder)
  }

  #register(): number {
    return this.#o.holders.register({
      holder: this.#o.holder,
      host: hostname(),
      pid: process.pid,
      ttl_ms: this.#o.ttlMs,
    })
  }

  #renew(): Promise<void> {
    this.#renewing ??= this.#o.writer
      .run(() => {
        const until = this.#o.holders.renew(this.#o.holder, this.#o.ttlMs)
        if (until !== null) return until
        // Reclaimed while stalled: what it held is back in the budget; start again with nothing.
        this.#o.onReclaimed()
        return this.#register()
      })
      .then((until) => {
        this.#until = until
      })
      .finally(() => {
        this.#renewing = undefined
      })
    return this.#renewing
  }

  /** A renewal that failed leaves the heartbeat stale: admissions wait on the next one, or fail (closed). */
  async #tick(): Promise<void> {
    try {
      await this.#renew()
      this.#o.budgets.reclaimExpired()
    } catch (error) {
      process.stderr.write(`iron gateway: heartbeat: ${(error as Error).message}\n`)
    }
  }
}
