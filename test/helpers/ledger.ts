import { newId } from '../../src/core/ids.js'
import type { DrawRequest, LeaseGrant, LeaseRequest } from '../../src/services/api.js'
import type { LocalContext } from '../../src/services/context.js'
import type { LocalControlPlane } from '../../src/services/local/index.js'

export const HOLDER = 'gw:test-host:1:1:aaaaaa'
const WEEK = 7 * 24 * 3_600_000

export type Granted = Extract<LeaseGrant, { ok: true }>
type LeaseRef = Pick<Granted, 'lease_id' | 'counted_at'>

/**
 * One gateway's admission path straight on the ledger, as LocalGatewayControl drives it: the holder
 * registered (for a week unless `ttlMs` says otherwise, so moving the clock does not reclaim its leases),
 * leases granted and topped up, each request's cost drawn from its lease, the rest returned.
 */
export function gatewayLedger(
  cp: LocalControlPlane,
  agentId: string,
  options: { holder?: string; ttlMs?: number } = {},
) {
  const holder = options.holder ?? HOLDER
  cp.holders.register({ holder, host: 'test-host', pid: 1, ttl_ms: options.ttlMs ?? WEEK })
  /** A lease (or a top-up) for a request whose worst case is `min`, or the refusal. */
  const ask = (min: number, extra: Partial<Omit<LeaseRequest, 'agent_id' | 'holder'>> = {}) =>
    cp.budgets.grantLeaseSync({ agent_id: agentId, min_micros: min, holder, ...extra })
  const grant = (min: number, extra: Partial<Omit<LeaseRequest, 'agent_id' | 'holder'>> = {}): Granted => {
    const granted = ask(min, extra)
    if (!granted.ok) throw new Error(`expected a lease, got ${granted.reason}`)
    return granted
  }
  /** A request that cost `actual`, charged to the lease; the lease held `room_micros` for it (default: `actual`). */
  const draw = (lease: LeaseRef, actual: number, extra: Partial<DrawRequest> = {}) =>
    cp.budgets.drawSync({
      reservation_id: newId('req'),
      agent_id: agentId,
      lease_id: lease.lease_id,
      counted_at: lease.counted_at,
      room_micros: actual,
      actual_micros: actual,
      holder,
      ...extra,
    })
  const giveBack = (lease: LeaseRef) =>
    cp.budgets.returnLeaseSync({ lease_id: lease.lease_id!, agent_id: agentId, holder })
  /** The holder's heartbeat: `held` in flight on the lease. */
  const hold = (lease: LeaseRef, held: number) =>
    cp.budgets.recordHolds(holder, [{ lease_id: lease.lease_id!, agent_id: agentId, held_micros: held }])
  return { holder, ask, grant, draw, giveBack, hold }
}

/**
 * A reservation as a gateway from before leases left it open: its reserve row, counted now, and the
 * budget's reserved balance. Returns its id.
 */
export function legacyReservation(
  ctx: LocalContext,
  agentId: string,
  amount: number,
  holder: string,
): string {
  const id = newId('req')
  const now = ctx.now()
  const db = ctx.db()
  db.transaction(() => {
    db.prepare(
      `INSERT INTO ledger (agent_id, kind, reservation_id, reserved_delta, counted_at, at, holder)
        VALUES (?, 'reserve', ?, ?, ?, ?, ?)`,
    ).run(agentId, id, amount, now, now, holder)
    db.prepare('UPDATE budgets SET reserved_micros = reserved_micros + ? WHERE agent_id = ?').run(
      amount,
      agentId,
    )
  })()
  return id
}
