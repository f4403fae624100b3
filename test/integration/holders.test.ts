import { describe, expect, it } from 'vitest'
import { tempControlPlane } from '../helpers/control-plane.js'

/**
 * Who holds budget is decided by heartbeats in the store, never by process ids or host names: a gateway in
 * another PID namespace, PID 1 in a container or a zombie all look alike to kill(pid, 0).
 */
describe('lease holders', () => {
  const TTL = 15_000

  async function withLease() {
    const t = await tempControlPlane()
    const agent = await t.cp.agents.create({ name: 'bot' })
    await t.cp.budgets.set('bot', { limit_micros: 1_000_000 })
    // A holder named like a gateway on this host whose process id does not exist here.
    const holder = 'gw:this-host:2147483646:1:abcdef'
    t.cp.holders.register({ holder, host: 'this-host', pid: 2147483646, ttl_ms: TTL })
    const grant = t.cp.budgets.grantLeaseSync({ agent_id: agent.id, min_micros: 100_000, holder })
    if (!grant.ok || grant.lease_id === null) throw new Error('expected a lease')
    return { ...t, agent, holder, grant }
  }

  it('a lease stays with a holder whose heartbeat is current, whatever its process id, and comes back once it runs out', async () => {
    const { cp, clock, holder, grant } = await withLease()
    expect((await cp.budgets.get('bot')).leased_micros).toBe(grant.granted_micros)
    clock.now += TTL - 1
    expect(cp.budgets.reclaimExpired()).toBe(0)
    expect((await cp.budgets.get('bot')).leased_micros).toBe(grant.granted_micros)
    // Renewed in time: it keeps it.
    expect(cp.holders.renew(holder, TTL)).toBe(clock.now + TTL)
    clock.now += TTL - 1
    expect((await cp.budgets.get('bot')).leased_micros).toBe(grant.granted_micros)
    // Silent past its expiry: any process on the store gives it back (here, a budget view).
    clock.now += 2
    const budget = await cp.budgets.get('bot')
    expect(budget.leased_micros).toBe(0)
    expect(cp.holders.get(holder)).toMatchObject({ end_reason: 'expired' })
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
  })

  it('a holder that was reclaimed learns it at its next renewal, and a late draw is charged to the budget, not the closed lease', async () => {
    const { cp, clock, holder, grant, agent } = await withLease()
    clock.now += TTL + 1
    expect(cp.budgets.reclaimExpired()).toBe(1)
    expect(cp.holders.renew(holder, TTL)).toBeNull()
    // A request admitted before the stall settles after it: charged in full, from what the budget has free.
    const draw = cp.budgets.drawSync({
      reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w',
      agent_id: agent.id,
      lease_id: grant.lease_id,
      counted_at: grant.counted_at,
      room_micros: 100_000,
      actual_micros: 80_000,
      holder,
    })
    expect(draw).toMatchObject({ charged_micros: 80_000, overrun_micros: 0 })
    const budget = await cp.budgets.get('bot')
    expect(budget).toMatchObject({ spent_micros: 80_000, leased_micros: 0, remaining_micros: 920_000 })
    // Returning the lease again changes nothing: it went back once.
    expect(cp.budgets.returnLeaseSync({ lease_id: grant.lease_id!, agent_id: agent.id, holder })).toBe(0)
    // Registering again brings the holder back to life with nothing held.
    cp.holders.register({ holder, host: 'this-host', pid: 2147483646, ttl_ms: TTL })
    expect(cp.holders.renew(holder, TTL)).toBe(clock.now + TTL)
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
  })

  it('open leases of gateways from before heartbeats (never registered) go back; a registered one stays', async () => {
    const { cp, agent, holder, grant } = await withLease()
    const legacy = cp.budgets.grantLeaseSync({
      agent_id: agent.id,
      min_micros: 50_000,
      holder: 'gw:old-host:42:7',
    })
    if (!legacy.ok) throw new Error('expected a lease')
    expect(cp.budgets.reclaimUnregistered()).toBe(1)
    expect((await cp.budgets.get('bot')).leased_micros).toBe(grant.granted_micros)
    expect(cp.holders.get(holder)?.ended_at).toBeNull()
  })
})
