import type { Db } from '../../store/db.js'
import { type GroupCommit, groupCommitOf } from '../../store/group-commit.js'
import type { HoldersRepo } from '../../store/holders.js'
import type { LocalBudgets } from './budgets.js'

/** How long a gateway's leases outlive its last heartbeat, unless configured (gateway.lease_ttl). */
export const DEFAULT_LEASE_TTL_MS = 15_000

export interface HolderInfo {
  holder: string
  host: string
  pid: number
  ttl_ms: number
}

/**
 * Who holds budget, and for how long: a gateway registers, renews its heartbeat a few times per TTL, and
 * ends its registration when it stops. Its leases and reservations are its own only while the heartbeat
 * is current; once it has run out, any process on the store reclaims them (SPEC §6), whatever the
 * process table of this machine says.
 */
export class LocalHolders {
  readonly #writer: GroupCommit

  constructor(
    db: Db,
    private readonly repo: HoldersRepo,
    private readonly budgets: LocalBudgets,
    private readonly now: () => number,
  ) {
    this.#writer = groupCommitOf(db)
  }

  /** Register (or re-register after being reclaimed); returns when the heartbeat runs out. */
  register(info: HolderInfo): number {
    return this.#writer.now(() => {
      const now = this.now()
      const expiresAt = now + info.ttl_ms
      this.repo.upsert({
        holder: info.holder,
        kind: 'gateway',
        host: info.host,
        pid: info.pid,
        started_at: now,
        renewed_at: now,
        expires_at: expiresAt,
      })
      return expiresAt
    })
  }

  /**
   * Extend the heartbeat. Returns the new expiry, or null when the holder was reclaimed meanwhile (it
   * stalled past its TTL): what it held has gone back, and it must register again before holding more.
   */
  renew(holder: string, ttlMs: number): number | null {
    return this.#writer.now(() => {
      const now = this.now()
      return this.repo.renew(holder, now, now + ttlMs) ? now + ttlMs : null
    })
  }

  /** A holder that stopped cleanly (it has returned its leases already; anything left goes back now). */
  end(holder: string): void {
    this.#writer.now(() => {
      this.budgets.releaseOpen(holder, 'stopped')
      this.repo.end(holder, this.now(), 'stopped')
    })
  }

  get(holder: string) {
    return this.repo.get(holder)
  }
}
