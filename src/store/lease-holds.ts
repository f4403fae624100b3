import { type Db, dialectSql, type Statement } from './db.js'

/** The worst cases a gateway has in flight on one of its leases, as of its last heartbeat. */
export interface LeaseHold {
  lease_id: string
  agent_id: string
  held_micros: number
}

/**
 * What an agent's gateways hold in flight on its open leases counted in [start, end): each hold finds its
 * lease by the reservation index, so a budget view reads a few rows, never the period's ledger. (The `+`
 * keeps SQLite from walking the agent's ledger rows by ledger_agent_counted instead.)
 */
export const LEASE_HOLD_LOOKUPS = {
  heldInPeriod: `SELECT coalesce(sum(h.held_micros), 0) FROM lease_holds h
    JOIN ledger g ON g.reservation_id = h.lease_id AND g.lease_id IS NULL AND g.kind = 'lease_grant'
    WHERE h.agent_id = @agent_id AND +g.agent_id = h.agent_id AND +g.counted_at >= @start AND +g.counted_at < @end
      AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.reservation_id = h.lease_id AND r.lease_id IS NULL AND r.kind = 'lease_return')`,
}

/** lease_holds: written by gateways with their heartbeat, read by budget views. */
export class LeaseHoldsRepo {
  readonly #upsert: Statement
  readonly #removeOthers: Statement
  readonly #remove: Statement
  readonly #removeHolder: Statement
  readonly #heldInPeriod: Statement

  constructor(readonly db: Db) {
    this.#upsert = db.prepare(
      `INSERT INTO lease_holds (lease_id, agent_id, holder, held_micros, updated_at)
        VALUES (@lease_id, @agent_id, @holder, @held_micros, @updated_at)
        ON CONFLICT (lease_id) DO UPDATE SET agent_id = excluded.agent_id, holder = excluded.holder,
        held_micros = excluded.held_micros, updated_at = excluded.updated_at`,
    )
    this.#removeOthers = db.prepare(
      dialectSql(
        db,
        'DELETE FROM lease_holds WHERE holder = ? AND lease_id NOT IN (SELECT value FROM json_each(?))',
        'DELETE FROM lease_holds WHERE holder = ? AND lease_id NOT IN (SELECT jsonb_array_elements_text(?::jsonb))',
      ),
    )
    this.#remove = db.prepare('DELETE FROM lease_holds WHERE lease_id = ?')
    this.#removeHolder = db.prepare('DELETE FROM lease_holds WHERE holder = ?')
    // PostgreSQL has no unary plus on text; its planner needs no hint.
    const held = LEASE_HOLD_LOOKUPS.heldInPeriod
    this.#heldInPeriod = db.prepare(dialectSql(db, held, held.replaceAll('+g.', 'g.'))).pluck()
  }

  upsert(holder: string, hold: LeaseHold, now: number): void {
    this.#upsert.run({ ...hold, holder, updated_at: now })
  }

  /** Delete a holder's rows for leases other than `keep`. */
  removeOthers(holder: string, keep: readonly string[]): void {
    this.#removeOthers.run(holder, JSON.stringify(keep))
  }

  remove(leaseId: string): void {
    this.#remove.run(leaseId)
  }

  removeHolder(holder: string): void {
    this.#removeHolder.run(holder)
  }

  /** What is held in flight on the agent's open leases counted in [start, end) (end null: open-ended). */
  heldInPeriod(agentId: string, start: number, end: number | null): number {
    return this.#heldInPeriod.get({
      agent_id: agentId,
      start,
      end: end ?? Number.MAX_SAFE_INTEGER,
    }) as number
  }
}
