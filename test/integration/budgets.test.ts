import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { IronError } from '../../src/core/errors.js'
import { tempControlPlane } from '../helpers/control-plane.js'

const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as IronError).code

describe('budgets and the ledger', () => {
  it('reserve, commit and release move spent and reserved, one row each', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000_000, period: 'monthly' })
    const a = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 300_000 })
    const b = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 300_000 })
    expect(a.ok && b.ok).toBe(true)
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 0,
      reserved_micros: 600_000,
      remaining_micros: 400_000,
    })
    if (!a.ok || !b.ok) return
    const settled = await cp.budgets.commit({
      reservation_id: a.reservation_id,
      actual_micros: 120_000,
      model: 'gpt-4o',
      input_tokens: 10,
      output_tokens: 5,
    })
    expect(settled).toMatchObject({
      charged_micros: 120_000,
      released_micros: 180_000,
      overrun_micros: 0,
      remaining_micros: 580_000,
    })
    await cp.budgets.release(b.reservation_id)
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 120_000,
      reserved_micros: 0,
      remaining_micros: 880_000,
    })
    const history = await cp.budgets.history('bot')
    expect(history.map((h) => h.kind)).toEqual(['release', 'commit', 'reserve', 'reserve'])
    expect((await cp.budgets.check('bot', { verify: true })).verify).toMatchObject({ ok: true, rows: 4 })
  })

  it('refuses what does not fit, with what remains; clamps only when the policy says clamp', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000 })
    const fit = (available: number) => available
    expect(await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 1_500, fit })).toEqual({
      ok: false,
      reason: 'budget_exceeded',
      remaining_micros: 1_000,
      limit_micros: 1_000,
    })
    await cp.budgets.set('bot', { on_insufficient: 'clamp' })
    const clamped = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 1_500, fit })
    expect(clamped).toMatchObject({ ok: true, amount_micros: 1_000, clamped: true, remaining_micros: 0 })
    const none = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 10, fit: () => undefined })
    expect(none).toMatchObject({ ok: false, remaining_micros: 0 })
  })

  it('is idempotent per reservation id, and refuses a second, different settlement', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 10_000 })
    const first = await cp.budgets.reserve({
      agent_id: agent.id,
      amount_micros: 4_000,
      reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w',
    })
    const again = await cp.budgets.reserve({
      agent_id: agent.id,
      amount_micros: 4_000,
      reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w',
    })
    expect(again).toEqual({ ...first, remaining_micros: 6_000 })
    expect((await cp.budgets.get('bot')).reserved_micros).toBe(4_000)
    await cp.budgets.commit({ reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w', actual_micros: 3_000 })
    await cp.budgets.commit({ reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w', actual_micros: 3_000 })
    expect(
      await code(
        cp.budgets.commit({ reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w', actual_micros: 2_000 }),
      ),
    ).toBe('RESERVATION_CLOSED')
    expect(await code(cp.budgets.release('req_01jd8x4k3m5n6p7q8r9s0t1v2w'))).toBe('RESERVATION_CLOSED')
    expect(await code(cp.budgets.release('req_nope'))).toBe('RESERVATION_NOT_FOUND')
    expect((await cp.budgets.get('bot')).spent_micros).toBe(3_000)
  })

  it('charges what the upstream billed beyond the reservation, notes what passed the limit, and refuses what follows', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000 })
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 800 })
    if (!r.ok) throw new Error('expected a reservation')
    const settled = await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: 1_300 })
    expect(settled).toMatchObject({ charged_micros: 1_300, overrun_micros: 300, remaining_micros: 0 })
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.over).toBe(true)
    expect(check.budget.spent_micros).toBe(1_300)
    expect(check.verify?.ok).toBe(true)
    expect((await cp.budgets.history('bot'))[0]).toMatchObject({
      spent_delta_micros: 1_300,
      overrun_micros: 300,
    })
    expect(await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 1 })).toMatchObject({
      ok: false,
      reason: 'budget_exceeded',
    })
  })

  it('refuses suspended agents and reports alert thresholds once each', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 100_000, alert_thresholds: [50, 80] })
    const spend = async (amount: number) => {
      const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: amount })
      if (!r.ok) throw new Error(r.reason)
      return (await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: amount })).alert_pct
    }
    expect(await spend(40_000)).toBeNull()
    expect(await spend(15_000)).toBe(50)
    expect(await spend(1_000)).toBeNull()
    expect(await spend(30_000)).toBe(80)
    await cp.agents.update('bot', { status: 'suspended' })
    expect(await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 1 })).toMatchObject({
      ok: false,
      reason: 'agent_suspended',
    })
  })

  it('starts each calendar period at zero, keeps history, and counts a request in the period it began', async () => {
    const { cp, clock } = await tempControlPlane(Date.parse('2026-03-31T23:59:00Z'))
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 10_000, period: 'monthly' })
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 5_000 })
    clock.now = Date.parse('2026-04-01T00:01:00Z')
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 0,
      reserved_micros: 0,
      period_start: '2026-04-01T00:00:00.000Z',
      period_end: '2026-05-01T00:00:00.000Z',
    })
    if (r.ok) await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: 4_000 })
    expect((await cp.budgets.get('bot')).spent_micros).toBe(0)
    clock.now = Date.parse('2026-03-31T23:59:30Z')
    expect((await cp.budgets.get('bot')).spent_micros).toBe(4_000)
  })

  it('uses the budget time zone for calendar periods', async () => {
    const { cp } = await tempControlPlane(Date.parse('2026-07-15T02:00:00Z'))
    await cp.agents.create({ name: 'bot' })
    const daily = await cp.budgets.set('bot', {
      limit_micros: 1,
      period: 'daily',
      timezone: 'America/New_York',
    })
    expect(daily).toMatchObject({
      period_start: '2026-07-14T04:00:00.000Z',
      period_end: '2026-07-15T04:00:00.000Z',
    })
    const weekly = await cp.budgets.set('bot', { period: 'weekly', timezone: 'UTC' })
    expect(weekly).toMatchObject({
      period_start: '2026-07-13T00:00:00.000Z',
      period_end: '2026-07-20T00:00:00.000Z',
    })
    expect(await code(cp.budgets.set('bot', { timezone: 'Mars/Base' }))).toBe('INVALID_TIMEZONE')
  })

  it('a limit below current spend needs confirmation and says what happens', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 50_000_000, period: 'monthly' })
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 12_000_000 })
    if (r.ok) await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: 12_000_000 })
    const error = (await cp.budgets
      .set('bot', { limit_micros: 10_000_000 })
      .catch((e: unknown) => e)) as IronError
    expect(error.code).toBe('LIMIT_BELOW_SPEND')
    expect(error.message).toContain('$12.00')
    expect(error.message).toContain('until the period resets on 2026-04-01')
    const set = await cp.budgets.set('bot', { limit_micros: 10_000_000, allow_below_spend: true })
    expect(set.remaining_micros).toBe(0)
    const check = await cp.budgets.check('bot')
    expect(check.over).toBe(true)
  })

  it('check projects the period-end spend from the burn rate', async () => {
    const { cp, clock } = await tempControlPlane(Date.parse('2026-03-01T00:00:00Z'))
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 100_000_000, period: 'monthly' })
    clock.now = Date.parse('2026-03-11T00:00:00Z')
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 24_000_000 })
    if (r.ok) await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: 24_000_000 })
    const check = await cp.budgets.check('bot')
    expect(check.burn_rate_micros_per_hour).toBe(100_000)
    expect(check.projected_period_spend_micros).toBe(24_000_000 + 100_000 * 21 * 24)
    expect(check.exhausted_at).toBe('2026-04-11T16:00:00.000Z')
    expect(check.over).toBe(false)
  })

  it('check --verify recomputes balances from the rows and names a mismatch', async () => {
    const { cp, ctx } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 10_000 })
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 1_000 })
    if (r.ok) await cp.budgets.commit({ reservation_id: r.reservation_id, actual_micros: 900 })
    expect((await cp.budgets.check('bot', { verify: true })).verify?.ok).toBe(true)
    ctx.db().prepare('UPDATE budgets SET spent_micros = 500').run()
    const tampered = (await cp.budgets.check('bot', { verify: true })).verify!
    expect(tampered.ok).toBe(false)
    expect(tampered.problems[0]).toContain('spent: balance $0.0005 but the rows sum to $0.0009')
    ctx.db().prepare('UPDATE budgets SET spent_micros = 900').run()
    ctx.db().prepare("UPDATE ledger SET reserved_delta = -10 WHERE kind = 'commit'").run()
    const rows = (await cp.budgets.check('bot', { verify: true })).verify!
    expect(rows.problems.join('\n')).toContain('does not release what it reserved')
  })

  it('adjustments are rows with a reason', async () => {
    const { cp } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 10_000_000 })
    expect(
      (await cp.budgets.adjust('bot', { amount_micros: 2_000_000, reason: 'invoice reconciliation' }))
        .spent_micros,
    ).toBe(2_000_000)
    expect((await cp.budgets.adjust('bot', { amount_micros: -500_000, reason: 'refund' })).spent_micros).toBe(
      1_500_000,
    )
    expect(await code(cp.budgets.adjust('bot', { amount_micros: -5_000_000, reason: 'too much' }))).toBe(
      'ADJUSTMENT_TOO_LARGE',
    )
    expect(await code(cp.budgets.adjust('bot', { amount_micros: 5, reason: '' }))).toBe('INVALID_REASON')
    expect((await cp.budgets.history('bot'))[0]).toMatchObject({
      kind: 'adjust',
      note: 'refund',
      spent_delta_micros: -500_000,
    })
  })

  it('property: any interleaving keeps spent + reserved ≤ limit (beyond it only what was billed over a reservation, as overrun) and balances equal the rows', async () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('reserve' as const), amount: fc.integer({ min: 0, max: 400 }) }),
      fc.record({
        type: fc.constant('commit' as const),
        pick: fc.nat(),
        actual: fc.integer({ min: 0, max: 600 }),
      }),
      fc.record({ type: fc.constant('release' as const), pick: fc.nat() }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1_000 }),
        fc.array(op, { maxLength: 40 }),
        async (limit, ops) => {
          const { cp, ctx } = await tempControlPlane()
          const agent = await cp.agents.create({ name: 'p' })
          await cp.budgets.set('p', { limit_micros: limit })
          const open: string[] = []
          let overrun = 0
          for (const o of ops) {
            if (o.type === 'reserve') {
              const before = await cp.budgets.get('p')
              const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: o.amount })
              if (r.ok) open.push(r.reservation_id)
              expect(r.ok).toBe(before.spent_micros + before.reserved_micros + o.amount <= limit)
            } else if (open.length > 0) {
              const [id] = open.splice(o.pick % open.length, 1)
              if (o.type === 'commit')
                overrun += (await cp.budgets.commit({ reservation_id: id!, actual_micros: o.actual }))
                  .overrun_micros
              else await cp.budgets.release(id!)
            }
            const b = await cp.budgets.get('p')
            expect(b.spent_micros + b.reserved_micros).toBeLessThanOrEqual(limit + overrun)
          }
          const check = await cp.budgets.check('p', { verify: true })
          expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
          ctx.close()
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('lease holds: what gateways have in flight on their leases', () => {
  const TTL = 15_000
  const HOLDER = 'gw:test-host:1:1:aaaaaa'

  async function withLease(limit = 50_000_000) {
    const t = await tempControlPlane()
    const agent = await t.cp.agents.create({ name: 'bot' })
    await t.cp.budgets.set('bot', { limit_micros: limit, period: 'monthly' })
    t.cp.holders.register({ holder: HOLDER, host: 'test-host', pid: 1, ttl_ms: TTL })
    const lease = (want = 2_500_000, holder = HOLDER) => {
      const grant = t.cp.budgets.grantLeaseSync({
        agent_id: agent.id,
        min_micros: 1_000,
        want_micros: want,
        holder,
      })
      if (!grant.ok || grant.lease_id === null) throw new Error('expected a lease')
      return grant
    }
    const rows = () =>
      t.ctx
        .db()
        .prepare('SELECT lease_id, holder, held_micros FROM lease_holds ORDER BY lease_id')
        .all() as Array<{ lease_id: string; holder: string; held_micros: number }>
    return { ...t, agent, lease, rows }
  }

  it('recordHolds replaces what the holder wrote before: upserts the given leases, deletes the others', async () => {
    const { cp, agent, lease, rows } = await withLease()
    const a = lease()
    const b = lease()
    const holds = (entries: Array<[string, number]>) =>
      entries.map(([lease_id, held_micros]) => ({ lease_id, agent_id: agent.id, held_micros }))
    cp.budgets.recordHolds(
      HOLDER,
      holds([
        [a.lease_id!, 3_000],
        [b.lease_id!, 7_000],
      ]),
    )
    expect(rows()).toEqual(
      [
        { lease_id: a.lease_id, holder: HOLDER, held_micros: 3_000 },
        { lease_id: b.lease_id, holder: HOLDER, held_micros: 7_000 },
      ].sort((x, y) => x.lease_id!.localeCompare(y.lease_id!)),
    )
    cp.budgets.recordHolds(HOLDER, holds([[b.lease_id!, 1_000]]))
    expect(rows()).toEqual([{ lease_id: b.lease_id, holder: HOLDER, held_micros: 1_000 }])
    cp.budgets.recordHolds(HOLDER, [])
    expect(rows()).toEqual([])
  })

  it('a returned or reclaimed lease loses its row, and a late heartbeat does not bring it back', async () => {
    const { cp, agent, clock, lease, rows } = await withLease()
    const a = lease()
    const b = lease()
    const hold = (lease_id: string, held_micros: number) => ({ lease_id, agent_id: agent.id, held_micros })
    cp.budgets.recordHolds(HOLDER, [hold(a.lease_id!, 3_000), hold(b.lease_id!, 7_000)])
    cp.budgets.returnLeaseSync({ lease_id: a.lease_id!, agent_id: agent.id, holder: HOLDER })
    expect(rows().map((r) => r.lease_id)).toEqual([b.lease_id])
    // The holder's heartbeat runs out: its leases go back and nothing of it stays in flight.
    clock.now += TTL + 1
    expect(cp.budgets.reclaimExpired()).toBe(1)
    expect(rows()).toEqual([])
    // A heartbeat written by the stalled holder afterwards names leases that are closed: skipped.
    cp.budgets.recordHolds(HOLDER, [hold(a.lease_id!, 3_000), hold(b.lease_id!, 7_000)])
    expect(rows()).toEqual([])
  })

  it('a lease that is not the holder’s, or not the agent’s, is refused', async () => {
    const { cp, agent, lease, rows } = await withLease()
    const other = await cp.agents.create({ name: 'other' })
    const a = lease()
    const hold = { lease_id: a.lease_id!, agent_id: agent.id, held_micros: 1 }
    expect(() => cp.budgets.recordHolds('gw:someone-else:2:2:bbbbbb', [hold])).toThrow(/not a lease/)
    expect(() => cp.budgets.recordHolds(HOLDER, [{ ...hold, agent_id: other.id }])).toThrow(/not a lease/)
    expect(() => cp.budgets.recordHolds(HOLDER, [{ ...hold, lease_id: 'lease_nope' }])).toThrow(/not a lease/)
    expect(() => cp.budgets.recordHolds(HOLDER, [{ ...hold, held_micros: -1 }])).toThrow(/Invalid hold/)
    expect(rows()).toEqual([])
  })
})

describe('what people see: spent, in flight and available; leases are not spend', () => {
  const TTL = 15_000
  const HOLDER = 'gw:test-host:1:1:aaaaaa'

  /** An agent with a $50 monthly budget and a gateway holding a $2.50 lease on it. */
  async function leased() {
    const t = await tempControlPlane()
    const agent = await t.cp.agents.create({ name: 'bot' })
    await t.cp.budgets.set('bot', { limit_micros: 50_000_000, period: 'monthly' })
    t.cp.holders.register({ holder: HOLDER, host: 'test-host', pid: 1, ttl_ms: TTL })
    const grant = t.cp.budgets.grantLeaseSync({
      agent_id: agent.id,
      min_micros: 1_000,
      want_micros: 2_500_000,
      holder: HOLDER,
    })
    if (!grant.ok || grant.lease_id === null) throw new Error('expected a lease')
    expect(grant.granted_micros).toBe(2_500_000)
    const draw = (id: string, micros: number) =>
      t.cp.budgets.drawSync({
        reservation_id: id,
        agent_id: agent.id,
        lease_id: grant.lease_id,
        counted_at: grant.counted_at,
        room_micros: micros,
        actual_micros: micros,
        holder: HOLDER,
      })
    const hold = (held_micros: number) =>
      t.cp.budgets.recordHolds(HOLDER, [{ lease_id: grant.lease_id!, agent_id: agent.id, held_micros }])
    return { ...t, agent, grant, draw, hold }
  }

  it('after one $0.0004 request: nothing in flight, $49.9996 available, the lease only as its own field', async () => {
    const { cp, draw } = await leased()
    draw('req_01jd8x4k3m5n6p7q8r9s0t1v2w', 400)
    const budget = await cp.budgets.get('bot')
    expect(budget).toMatchObject({
      spent_micros: 400,
      reserved_micros: 0,
      in_flight_micros: 0,
      remaining_micros: 49_999_600,
      leased_micros: 2_499_600,
      used_pct: 0,
    })
    expect((await cp.budgets.list()).find((b) => b.agent_name === 'bot')).toEqual(budget)
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.over).toBe(false)
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
  })

  it('a limit just above what was spent is not refused because of the lease, and is not over', async () => {
    const { cp, draw } = await leased()
    draw('req_01jd8x4k3m5n6p7q8r9s0t1v2w', 400)
    const set = await cp.budgets.set('bot', { limit_micros: 1_000 })
    expect(set).toMatchObject({ spent_micros: 400, in_flight_micros: 0, remaining_micros: 600, used_pct: 40 })
    const check = await cp.budgets.check('bot')
    expect(check.over).toBe(false)
    expect(check.budget.remaining_micros).toBe(600)
    expect((await cp.budgets.set('bot', { limit_micros: 2_000 })).used_pct).toBe(20)
  })

  it('in flight is open reservations plus what gateways hold on open leases, as of their last heartbeat', async () => {
    const { cp, agent, draw, hold, grant } = await leased()
    draw('req_01jd8x4k3m5n6p7q8r9s0t1v2w', 400)
    const r = await cp.budgets.reserve({ agent_id: agent.id, amount_micros: 100_000 })
    if (!r.ok) throw new Error('expected a reservation')
    hold(300_000)
    const budget = await cp.budgets.get('bot')
    expect(budget).toMatchObject({
      spent_micros: 400,
      reserved_micros: 100_000,
      in_flight_micros: 400_000,
      remaining_micros: 50_000_000 - 400 - 400_000,
      used_pct: 0.8,
    })
    expect(budget.spent_micros + budget.in_flight_micros + budget.remaining_micros!).toBe(budget.limit_micros)
    expect((await cp.budgets.list())[0]).toEqual(budget)
    // A heartbeat written before draws it has not reported yet: never more than the leases still hold.
    hold(9_000_000)
    expect((await cp.budgets.get('bot')).in_flight_micros).toBe(100_000 + 2_499_600)
    // The lease goes back: what was held on it is no longer in flight.
    cp.budgets.returnLeaseSync({ lease_id: grant.lease_id!, agent_id: agent.id, holder: HOLDER })
    expect(await cp.budgets.get('bot')).toMatchObject({ in_flight_micros: 100_000, leased_micros: 0 })
  })

  it('a limit below spent + in flight needs --yes and names both; leases alone never do', async () => {
    const { cp, draw, hold } = await leased()
    draw('req_01jd8x4k3m5n6p7q8r9s0t1v2w', 400)
    hold(300_000)
    const error = (await cp.budgets
      .set('bot', { limit_micros: 200_000 })
      .catch((e: unknown) => e)) as IronError
    expect(error.code).toBe('LIMIT_BELOW_SPEND')
    expect(error.message).toContain('$0.3004')
    expect(error.message).toContain('$0.30 in flight')
    expect(await cp.budgets.set('bot', { limit_micros: 300_400 })).toMatchObject({
      remaining_micros: 0,
      used_pct: 100,
    })
    // Everything available is in flight: over, though nothing was spent beyond the limit.
    expect((await cp.budgets.check('bot')).over).toBe(true)
    hold(0)
    expect((await cp.budgets.check('bot')).over).toBe(false)
  })

  it('what a lease of the last period holds does not count in the new one', async () => {
    const { cp, clock, hold } = await leased()
    hold(300_000)
    expect((await cp.budgets.get('bot')).in_flight_micros).toBe(300_000)
    clock.now = Date.parse('2026-04-01T00:00:01Z')
    expect((await cp.budgets.get('bot')).in_flight_micros).toBe(0)
  })
})

describe('lease sizing: about a minute of the agent’s recent spend', () => {
  const HOLDER = 'gw:test-host:1:1:aaaaaa'

  async function agentWith(limit: number) {
    const t = await tempControlPlane()
    const agent = await t.cp.agents.create({ name: 'bot' })
    await t.cp.budgets.set('bot', { limit_micros: limit, period: 'monthly' })
    t.cp.holders.register({ holder: HOLDER, host: 'test-host', pid: 1, ttl_ms: 24 * 3_600_000 })
    const grant = (min: number, extra: { want_micros?: number; top_up?: LeaseTopUp } = {}) => {
      const g = t.cp.budgets.grantLeaseSync({ agent_id: agent.id, min_micros: min, holder: HOLDER, ...extra })
      if (!g.ok || g.lease_id === null) throw new Error('expected a lease')
      return g
    }
    let n = 0
    const draw = (lease: { lease_id: string | null; counted_at: number }, micros: number) =>
      t.cp.budgets.drawSync({
        reservation_id: `req_${String(n++).padStart(26, '0')}`,
        agent_id: agent.id,
        lease_id: lease.lease_id,
        counted_at: lease.counted_at,
        room_micros: micros,
        actual_micros: micros,
        holder: HOLDER,
      })
    const giveBack = (lease: { lease_id: string | null }) =>
      t.cp.budgets.returnLeaseSync({ lease_id: lease.lease_id!, agent_id: agent.id, holder: HOLDER })
    return { ...t, agent, grant, draw, giveBack }
  }
  type LeaseTopUp = { lease_id: string; counted_at: number; free_micros: number }

  it('an idle agent’s first lease is $0.01, or two worst cases when those are more, whatever its limit', async () => {
    const { grant, giveBack } = await agentWith(50_000_000)
    const small = grant(1_000)
    expect(small.granted_micros).toBe(10_000)
    giveBack(small)
    expect(grant(30_000).granted_micros).toBe(60_000)
  })

  it('a new lease holds what the agent spent over the last minute', async () => {
    const { clock, grant, draw, giveBack } = await agentWith(50_000_000)
    const first = grant(1_000, { want_micros: 10_000_000 })
    // $3 over a minute: 30 requests of $0.10, one every 2 s.
    for (let i = 0; i < 30; i++) {
      clock.now += 2_000
      draw(first, 100_000)
    }
    giveBack(first)
    expect(grant(1_000).granted_micros).toBe(3_000_000)
  })

  it('a top-up of an older lease counts only its draws of the last minute', async () => {
    const { clock, grant, draw } = await agentWith(50_000_000)
    const lease = grant(1_000, { want_micros: 10_000_000 })
    // Ten minutes of $0.10 every 10 s: the last minute (draws at 540 s … 600 s) is 7 of them.
    for (let i = 0; i < 60; i++) {
      clock.now += 10_000
      draw(lease, 100_000)
    }
    const topUp = grant(1_000, {
      top_up: { lease_id: lease.lease_id!, counted_at: lease.counted_at, free_micros: 0 },
    })
    expect(topUp).toMatchObject({ lease_id: lease.lease_id, granted_micros: 700_000 })
  })

  it.each([
    ['opened with the load', 0],
    ['opened five minutes before it', 300_000],
  ])(
    'under load it reads a bounded number of rows and scales what they show to a minute (a lease %s)',
    async (_, idle) => {
      const { clock, grant, draw } = await agentWith(50_000_000)
      const lease = grant(1_000, { want_micros: 1_000_000 })
      clock.now += idle
      // 1,000 draws of $0.0001, one every 10 ms: $0.60 a minute at this rate.
      for (let i = 0; i < 1_000; i++) {
        clock.now += 10
        draw(lease, 100)
      }
      const topUp = grant(1_000, {
        top_up: { lease_id: lease.lease_id!, counted_at: lease.counted_at, free_micros: 0 },
      })
      // The newest 256 draws span 2.55 s: 25,600 micros × 60 s / 2.55 s.
      expect(topUp.granted_micros).toBe(Math.round((25_600 * 60_000) / 2_550))
    },
  )

  it('never more than what remains, and never less than the request needs', async () => {
    const { clock, grant, draw, giveBack } = await agentWith(1_000_000)
    const first = grant(1_000, { want_micros: 900_000 })
    for (let i = 0; i < 8; i++) {
      clock.now += 1_000
      draw(first, 100_000)
    }
    giveBack(first)
    // $0.80 spent in the last minute, $0.20 left: the lease is what is left.
    expect(grant(1_000).granted_micros).toBe(200_000)
    const { grant: fresh } = await agentWith(50_000_000)
    expect(fresh(4_000_000, { want_micros: 1_000 }).granted_micros).toBe(4_000_000)
  })
})
