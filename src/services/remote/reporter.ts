import type { ReportedEvent } from '../lease-protocol.js'
import type { Outbox, OutboxLease } from './outbox.js'

export interface ReporterOptions {
  outbox: Outbox
  /** Send one batch of a lease's reports (maybe none: a heartbeat); resolves once the server has them. */
  send(lease: OutboxLease, events: ReportedEvent[]): Promise<void>
  /** Give a lease back (its reports are all delivered). */
  giveBack(lease: OutboxLease): Promise<void>
  /** Leases to report on every interval even with nothing to report (the heartbeat that keeps them). */
  live(): Iterable<string>
  /** Whether a failure means the server cannot be reached now (stop this round, try at the next). */
  unreachable(error: unknown): boolean
  /** Whether the server refused the batch itself (its shape or size): it is split, a lone bad report set aside. */
  rejectsBatch?(error: unknown): boolean
  /** The server was reached, or not (for the gateway's view of its control plane). */
  onReach?(reached: boolean, error?: unknown): void
  log?(line: string): void
  intervalMs?: number
  now?: () => number
}

/** At most this many reports in one call (the server takes 500). */
export const BATCH_MAX = 500
/** This many new reports send a batch without waiting for the interval. */
export const BATCH_TRIGGER = 50
export const REPORT_INTERVAL_MS = 1_000
/** A lease the server refused to hear about (a credential it does not take) is tried again this much later. */
const REFUSED_RETRY_MS = 30_000

/**
 * Sends the outbox to the server: every interval (one second) or as soon as 50 reports wait, a batch per
 * lease, oldest first, each deleted once the server has acknowledged it; a heartbeat for leases with
 * nothing to say; then the returns asked for, once their reports are all in. One round at a time. A round
 * that cannot reach the server stops there and leaves everything in place for the next one.
 */
export class Reporter {
  readonly #o: ReporterOptions
  readonly #now: () => number
  #interval: number
  #timer: NodeJS.Timeout | undefined
  #round: Promise<void> | undefined
  #again = false
  #added = 0
  #stopped = false
  readonly #refusedUntil = new Map<string, number>()
  /** How many reports go in one call, per lease (halved while the server refuses batches as they are). */
  readonly #sizes = new Map<string, number>()
  readonly #waiters: Array<() => void> = []

  constructor(options: ReporterOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#interval = options.intervalMs ?? REPORT_INTERVAL_MS
  }

  start(): void {
    this.#schedule()
  }

  /** The server asked for another interval (within reason). */
  set intervalMs(ms: number) {
    const next = Math.min(Math.max(Math.floor(ms), 100), 60_000)
    if (next === this.#interval) return
    this.#interval = next
    if (this.#timer) this.#schedule()
  }

  get intervalMs(): number {
    return this.#interval
  }

  /** A report was written: 50 of them send a batch at once. */
  added(): void {
    if (++this.#added >= BATCH_TRIGGER) void this.flush()
  }

  /** A credential for a lease's reports may have arrived: try its refused leases at the next round. */
  retryRefused(): void {
    this.#refusedUntil.clear()
  }

  /** Run a round now (or right after the one running); resolves when it has ended. */
  flush(): Promise<void> {
    if (this.#round) {
      this.#again = true
      return this.#round
    }
    this.#round = (async () => {
      try {
        do {
          this.#again = false
          this.#added = 0
          await this.#roundOnce()
        } while (this.#again && !this.#stopped)
      } finally {
        this.#round = undefined
        for (const wake of this.#waiters.splice(0)) wake()
      }
    })()
    return this.#round
  }

  /** Until the current round (if any) has ended. */
  idle(): Promise<void> {
    return this.#round ? new Promise((resolve) => this.#waiters.push(resolve)) : Promise.resolve()
  }

  /** Stop the interval; one last round, given at most `deadlineMs`. Whether everything was delivered. */
  async stop(deadlineMs: number): Promise<boolean> {
    clearInterval(this.#timer)
    this.#timer = undefined
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs)
      timer.unref()
    })
    await Promise.race([this.flush(), late])
    clearTimeout(timer)
    this.#stopped = true
    return this.#o.outbox.size === 0 && this.#o.outbox.leases().every((l) => l.return_spent === null)
  }

  #schedule(): void {
    clearInterval(this.#timer)
    this.#timer = setInterval(() => void this.flush(), this.#interval)
    this.#timer.unref()
  }

  async #roundOnce(): Promise<void> {
    const { outbox } = this.#o
    const leases = new Map(outbox.leases().map((l) => [l.lease_id, l]))
    const pending = outbox.pendingByLease()
    const live = new Set(this.#o.live())
    const ids = new Set<string>([...pending.keys(), ...live])
    for (const lease of leases.values()) if (lease.return_spent !== null) ids.add(lease.lease_id)
    const now = this.#now()
    for (const id of ids) {
      const lease = leases.get(id)
      if (!lease || (this.#refusedUntil.get(id) ?? 0) > now) continue
      try {
        let sent = false
        for (;;) {
          if (this.#stopped) return
          const size = this.#sizes.get(id) ?? BATCH_MAX
          const batch = outbox.batch(id, size)
          if (batch.length === 0 && (sent || !live.has(id))) break
          try {
            await this.#o.send(
              lease,
              batch.map((b) => b.event),
            )
          } catch (error) {
            if (!this.#o.rejectsBatch?.(error) || batch.length === 0) throw error
            if (batch.length > 1) this.#sizes.set(id, Math.ceil(batch.length / 2))
            else {
              // One report the server will never take as it is (a bug): kept aside, said, not sent again.
              outbox.setAside(id, batch[0]!.seq, (error as Error).message)
              this.#o.log?.(
                `the server refused the report of request ${batch[0]!.event.request_id} (${(error as Error).message}); kept aside in ${outbox.path}`,
              )
            }
            continue
          }
          this.#o.onReach?.(true)
          sent = true
          if (size < BATCH_MAX) this.#sizes.set(id, Math.min(size * 2, BATCH_MAX))
          if (batch.length > 0) outbox.acknowledge(id, batch.at(-1)!.seq)
          if (outbox.batch(id, 1).length === 0) break
        }
        if (lease.return_spent !== null && outbox.batch(id, 1).length === 0) {
          await this.#o.giveBack(lease)
          outbox.dropLease(id)
        }
        this.#refusedUntil.delete(id)
      } catch (error) {
        if (this.#stopped) return
        if (this.#o.unreachable(error)) {
          this.#o.onReach?.(false, error)
          return
        }
        this.#refusedUntil.set(id, this.#now() + REFUSED_RETRY_MS)
        this.#o.log?.(`reports for lease ${id} refused: ${(error as Error).message}; kept, tried again later`)
      }
    }
  }
}
