import { hostname } from 'node:os'
import type { GatewayControl, LeaseHold } from '../services/gateway-control.js'

export interface HeartbeatOptions {
  control: GatewayControl
  holder: string
  ttlMs: number
  /** The control plane reclaimed this gateway's leases (it stalled past its TTL): forget them. */
  onReclaimed: () => void
  /** What is in flight on each lease now, reported with each beat for budget views. */
  holds: () => LeaseHold[]
}

/**
 * The gateway's claim on what it holds: registered with an expiry, renewed three times per TTL. Admission
 * from a lease waits for a renewal when the last one is getting old (the process stalled), so a gateway
 * never lends from a lease the control plane may already have given back. Each beat also reports what is
 * in flight and reclaims what gateways whose heartbeat ran out left behind.
 */
export class Heartbeat {
  readonly #o: HeartbeatOptions
  #until = 0
  #timer: NodeJS.Timeout | undefined
  #renewing: Promise<void> | undefined
  #reported = ''

  constructor(options: HeartbeatOptions) {
    this.#o = options
  }

  /** Register, reclaim what dead gateways left, and start renewing. Returns how many leases went back. */
  async start(): Promise<number> {
    this.#until = await this.#register()
    const released = await this.#o.control.reclaimExpired()
    this.#timer = setInterval(() => void this.#beat(), Math.max(Math.floor(this.#o.ttlMs / 3), 200))
    this.#timer.unref()
    return released
  }

  /** Undefined while the heartbeat is current; otherwise the renewal to wait for (it rejects if it fails). */
  readonly current = (): Promise<void> | undefined => {
    if (Date.now() < this.#until - this.#o.ttlMs / 3) return undefined
    return this.#renew()
  }

  /** Stop renewing and end the registration (after the leases were returned). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#o.control.end(this.#o.holder)
  }

  #register(): Promise<number> {
    return this.#o.control.register({
      holder: this.#o.holder,
      host: hostname(),
      pid: process.pid,
      ttl_ms: this.#o.ttlMs,
    })
  }

  #renew(): Promise<void> {
    this.#renewing ??= (async () => {
      try {
        let until = await this.#o.control.renew(this.#o.holder, this.#o.ttlMs)
        if (until === null) {
          // Reclaimed while stalled: what it held is back in the budget; start again with nothing.
          this.#o.onReclaimed()
          until = await this.#register()
        }
        this.#until = until
      } finally {
        this.#renewing = undefined
      }
    })()
    return this.#renewing
  }

  /** A renewal that fails leaves the heartbeat stale: admissions wait on the next one, or fail (closed). */
  async #beat(): Promise<void> {
    try {
      await this.#renew()
      const holds = this.#o.holds()
      const text = JSON.stringify(holds)
      if (text !== this.#reported) {
        await this.#o.control.reportHolds(this.#o.holder, holds)
        this.#reported = text
      }
      await this.#o.control.reclaimExpired()
    } catch (error) {
      process.stderr.write(`iron gateway: heartbeat: ${(error as Error).message}\n`)
    }
  }
}
