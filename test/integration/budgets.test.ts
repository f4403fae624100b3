import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { IronError } from '../../src/core/errors.js'
import { tempControlPlane } from '../helpers/control-plane.js'
import { gatewayLedger, HOLDER, legacyReservation } from '../helpers/ledger.js'

const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as IronError).code

/** An agent with a budget, and one gateway's admission path on it (see gatewayLedger). */
async function budgeted(limit: number, options: { period?: 'monthly'; start?: number; ttlMs?: number } = {}) {
  const t = await tempControlPlane(options.start)
  const agent = await t.cp.agents.create({ name: 'bot' })
  await t.cp.budgets.set('bot', { limit_micros: limit, period: options.period })
  return { ...t, agent, gw: gatewayLedger(t.cp, agent.id, { ttlMs: options.ttlMs }) }
}

describe('budgets and the ledger', () => {
  it('a lease, a draw and the return move leased and spent, one row each', async () => {
    const { cp, gw } = await budgeted(1_000_000, { period: 'monthly' })
    const lease = gw.grant(300_000, { want_micros: 600_000 })
    expect(lease.granted_micros).toBe(600_000)
    // Two requests of $0.30 in flight on it, as the gateway's heartbeat says.
    gw.hold(lease, 600_000)
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 0,
      leased_micros: 600_000,
      in_flight_micros: 600_000,
      remaining_micros: 400_000,
    })
    const settled = gw.draw(lease, 120_000, {
      room_micros: 300_000,
      model: 'gpt-4o',
      input_tokens: 10,
      output_tokens: 5,
    })
    expect(settled).toMatchObject({ charged_micros: 120_000, overrun_micros: 0, remaining_micros: 400_000 })
    // The other request is never charged (refused upstream): nothing is written, the lease goes back whole.
    gw.hold(lease, 0)
    expect(gw.giveBack(lease)).toBe(480_000)
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 120_000,
      leased_micros: 0,
      in_flight_micros: 0,
      remaining_micros: 880_000,
    })
    const history = await cp.budgets.history('bot')
    expect(history.map((h) => h.kind)).toEqual(['lease_return', 'commit', 'lease_grant'])
    expect(history[1]).toMatchObject({ model: 'gpt-4o', input_tokens: 10, output_tokens: 5 })
    expect((await cp.budgets.check('bot', { verify: true })).verify).toMatchObject({ ok: true, rows: 3 })
  })

  it('refuses what does not fit, with what remains and the policy, so that a gateway clamps only when it says clamp', async () => {
    const { cp, agent, gw } = await budgeted(1_000)
    expect(gw.ask(1_500)).toEqual({
      ok: false,
      reason: 'budget_exceeded',
      remaining_micros: 1_000,
      leased_elsewhere_micros: 0,
      agent_id: agent.id,
      limit_micros: 1_000,
      period_end: null,
      on_insufficient: 'reject',
    })
    await cp.budgets.set('bot', { on_insufficient: 'clamp' })
    expect(gw.ask(1_500)).toMatchObject({ ok: false, remaining_micros: 1_000, on_insufficient: 'clamp' })
    // The gateway lowers max tokens to fit what remains and asks again.
    expect(gw.ask(1_000)).toMatchObject({ ok: true, granted_micros: 1_000 })
    expect(gw.ask(10)).toMatchObject({ ok: false, remaining_micros: 0 })
  })

  it('a lease goes back once: returning it again, or a lease that does not exist, gives back nothing', async () => {
    const { cp, agent, gw } = await budgeted(10_000)
    const lease = gw.grant(4_000)
    gw.draw(lease, 3_000)
    expect(gw.giveBack(lease)).toBe(7_000)
    expect(gw.giveBack(lease)).toBe(0)
    expect(cp.budgets.returnLeaseSync({ lease_id: 'lease_nope', agent_id: agent.id, holder: HOLDER })).toBe(0)
    expect(await cp.budgets.get('bot')).toMatchObject({ spent_micros: 3_000, leased_micros: 0 })
    expect((await cp.budgets.history('bot')).map((h) => h.kind)).toEqual([
      'lease_return',
      'commit',
      'lease_grant',
    ])
    expect((await cp.budgets.check('bot', { verify: true })).verify?.ok).toBe(true)
  })

  it('charges what the upstream billed beyond the worst case, notes what passed the limit, and refuses what follows', async () => {
    const { cp, gw } = await budgeted(1_000)
    const lease = gw.grant(800)
    expect(lease.granted_micros).toBe(1_000)
    // The lease pays what it holds (all of it: nothing else is in flight); the rest passes the limit.
    const settled = gw.draw(lease, 1_300, { room_micros: 1_000 })
    expect(settled).toMatchObject({ charged_micros: 1_300, overrun_micros: 300, remaining_micros: 0 })
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.over).toBe(true)
    expect(check.budget.spent_micros).toBe(1_300)
    expect(check.verify?.ok).toBe(true)
    expect((await cp.budgets.history('bot'))[0]).toMatchObject({
      spent_delta_micros: 1_300,
      overrun_micros: 300,
    })
    const topUp = { lease_id: lease.lease_id!, counted_at: lease.counted_at, free_micros: 0 }
    expect(gw.ask(1, { top_up: topUp })).toMatchObject({ ok: false, reason: 'budget_exceeded' })
    expect(gw.ask(1)).toMatchObject({ ok: false, reason: 'budget_exceeded' })
  })

  it('refuses suspended agents and reports alert thresholds once each', async () => {
    const { cp, gw } = await budgeted(100_000)
    await cp.budgets.set('bot', { alert_thresholds: [50, 80] })
    const spend = (amount: number) => {
      const lease = gw.grant(amount)
      const { alert_pct } = gw.draw(lease, amount)
      gw.giveBack(lease)
      return alert_pct
    }
    expect(spend(40_000)).toBeNull()
    expect(spend(15_000)).toBe(50)
    expect(spend(1_000)).toBeNull()
    expect(spend(30_000)).toBe(80)
    await cp.agents.update('bot', { status: 'suspended' })
    expect(gw.ask(1)).toMatchObject({ ok: false, reason: 'agent_suspended' })
  })

  it('starts each calendar period at zero, keeps history, and counts a request in the period its lease began', async () => {
    const { cp, clock, gw } = await budgeted(10_000, {
      period: 'monthly',
      start: Date.parse('2026-03-31T23:59:00Z'),
    })
    const lease = gw.grant(5_000)
    clock.now = Date.parse('2026-04-01T00:01:00Z')
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 0,
      reserved_micros: 0,
      leased_micros: 0,
      period_start: '2026-04-01T00:00:00.000Z',
      period_end: '2026-05-01T00:00:00.000Z',
    })
    gw.draw(lease, 4_000)
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
    const { cp, gw } = await budgeted(50_000_000, { period: 'monthly' })
    gw.draw(gw.grant(12_000_000), 12_000_000)
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
    const { cp, clock, gw } = await budgeted(100_000_000, {
      period: 'monthly',
      start: Date.parse('2026-03-01T00:00:00Z'),
    })
    clock.now = Date.parse('2026-03-11T00:00:00Z')
    gw.draw(gw.grant(24_000_000), 24_000_000)
    const check = await cp.budgets.check('bot')
    expect(check.burn_rate_micros_per_hour).toBe(100_000)
    expect(check.projected_period_spend_micros).toBe(24_000_000 + 100_000 * 21 * 24)
    expect(check.exhausted_at).toBe('2026-04-11T16:00:00.000Z')
    expect(check.over).toBe(false)
  })

  it('check --verify recomputes balances from the rows and names a mismatch', async () => {
    const { cp, ctx, gw } = await budgeted(10_000)
    const lease = gw.grant(1_000)
    gw.draw(lease, 900)
    expect((await cp.budgets.check('bot', { verify: true })).verify?.ok).toBe(true)
    ctx.db().prepare('UPDATE budgets SET spent_micros = 500').run()
    const tampered = (await cp.budgets.check('bot', { verify: true })).verify!
    expect(tampered.ok).toBe(false)
    expect(tampered.problems[0]).toContain('spent: balance $0.0005 but the rows sum to $0.0009')
    ctx.db().prepare('UPDATE budgets SET spent_micros = 900').run()
    gw.giveBack(lease)
    expect((await cp.budgets.check('bot', { verify: true })).verify?.ok).toBe(true)
    ctx.db().prepare("UPDATE ledger SET leased_delta = leased_delta + 5 WHERE kind = 'lease_return'").run()
    const rows = (await cp.budgets.check('bot', { verify: true })).verify!
    expect(rows.problems).toContain(
      `lease ${lease.lease_id}: granted $0.01, drew $0.0009, returned $0.009095`,
    )
  })

  it('reservations that gateways from before leases left open count in flight until they go back with their holder, and --verify checks them', async () => {
    const { cp, ctx, clock, agent } = await budgeted(1_000_000)
    const unregistered = legacyReservation(ctx, agent.id, 100_000, 'gw:old-host:42:7')
    expect(await cp.budgets.get('bot')).toMatchObject({
      reserved_micros: 100_000,
      in_flight_micros: 100_000,
      remaining_micros: 900_000,
    })
    // A gateway from before heartbeats never registered: its reservation goes back.
    expect(cp.budgets.reclaimUnregistered()).toBe(1)
    expect((await cp.budgets.history('bot'))[0]).toMatchObject({
      kind: 'release',
      reservation_id: unregistered,
      reserved_delta_micros: -100_000,
      spent_delta_micros: 0,
    })
    // A registered holder's go back when it stops, or when its heartbeat runs out.
    cp.holders.register({ holder: 'gw:stopped:1:1:bbbbbb', host: 'stopped', pid: 1, ttl_ms: 15_000 })
    legacyReservation(ctx, agent.id, 200_000, 'gw:stopped:1:1:bbbbbb')
    cp.holders.register({ holder: 'gw:stalled:1:1:cccccc', host: 'stalled', pid: 1, ttl_ms: 15_000 })
    legacyReservation(ctx, agent.id, 300_000, 'gw:stalled:1:1:cccccc')
    expect((await cp.budgets.get('bot')).reserved_micros).toBe(500_000)
    cp.holders.end('gw:stopped:1:1:bbbbbb')
    expect((await cp.budgets.get('bot')).reserved_micros).toBe(300_000)
    clock.now += 15_001
    expect(cp.budgets.reclaimExpired()).toBe(1)
    expect(await cp.budgets.get('bot')).toMatchObject({ reserved_micros: 0, remaining_micros: 1_000_000 })
    expect(cp.budgets.releaseOpen()).toBe(0)
    expect((await cp.budgets.check('bot', { verify: true })).verify).toMatchObject({ ok: true, rows: 6 })
    ctx
      .db()
      .prepare("UPDATE ledger SET reserved_delta = -10 WHERE reservation_id = ? AND kind = 'release'")
      .run(unregistered)
    const rows = (await cp.budgets.check('bot', { verify: true })).verify!
    expect(rows.problems.join('\n')).toContain(
      `reservation ${unregistered}: its settlement does not release what it reserved`,
    )
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

  it('property: two gateways admitting, settling and returning in any interleaving keep spent + in flight ≤ limit (beyond it only what was billed over a worst case, as overrun), lend no more than is free, and balances equal the rows', async () => {
    const gateway = fc.integer({ min: 0, max: 1 })
    const op = fc.oneof(
      fc.record({
        type: fc.constant('admit' as const),
        gw: gateway,
        worst: fc.integer({ min: 0, max: 4_000 }),
      }),
      fc.record({
        type: fc.constant('settle' as const),
        pick: fc.nat(),
        actual: fc.integer({ min: 0, max: 6_000 }),
      }),
      fc.record({ type: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ type: fc.constant('retire' as const), gw: gateway }),
    )
    interface Lease {
      lease_id: string
      counted_at: number
      granted: number
      drawn: number
      held: number
      retired: boolean
      returned: boolean
    }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30_000 }),
        fc.array(op, { maxLength: 40 }),
        async (limit, ops) => {
          const { cp, ctx, agent } = await budgeted(limit)
          // Each gateway as its LeaseBook runs it: one current lease, grown in place; retired ones go
          // back once nothing is in flight on them.
          const gateways = [0, 1].map((n) => ({
            ledger: gatewayLedger(cp, agent.id, { holder: `gw:test-host:${n}:1:aaaaaa` }),
            current: undefined as Lease | undefined,
            leases: [] as Lease[],
          }))
          type Gateway = (typeof gateways)[number]
          const inFlight: Array<{ gateway: Gateway; lease: Lease; worst: number }> = []
          const free = (lease: Lease) => lease.granted - lease.drawn - lease.held
          const closeIfDone = (gateway: Gateway, lease: Lease) => {
            if (!lease.retired || lease.held > 0 || lease.returned) return
            expect(gateway.ledger.giveBack(lease)).toBe(lease.granted - lease.drawn)
            lease.returned = true
          }
          let overrun = 0
          for (const o of ops) {
            if (o.type === 'admit') {
              const gateway = gateways[o.gw]!
              let lease = gateway.current
              if (!lease || free(lease) < o.worst) {
                const before = await cp.budgets.get('bot')
                const available = Math.max(
                  limit - before.spent_micros - before.reserved_micros - before.leased_micros,
                  0,
                )
                const own = lease ? free(lease) : 0
                const top_up = lease && {
                  lease_id: lease.lease_id,
                  counted_at: lease.counted_at,
                  free_micros: own,
                }
                const grant = gateway.ledger.ask(o.worst, { top_up })
                expect(grant.ok).toBe(available + own >= o.worst)
                if (!grant.ok) continue
                expect(grant.granted_micros).toBeLessThanOrEqual(available)
                if (lease && grant.lease_id === lease.lease_id) lease.granted += grant.granted_micros
                else {
                  if (lease) {
                    lease.retired = true
                    closeIfDone(gateway, lease)
                  }
                  lease = {
                    lease_id: grant.lease_id!,
                    counted_at: grant.counted_at,
                    granted: grant.granted_micros,
                    drawn: 0,
                    held: 0,
                    retired: false,
                    returned: false,
                  }
                  gateway.current = lease
                  gateway.leases.push(lease)
                }
              }
              expect(free(lease)).toBeGreaterThanOrEqual(o.worst)
              lease.held += o.worst
              inFlight.push({ gateway, lease, worst: o.worst })
            } else if (o.type === 'retire') {
              const gateway = gateways[o.gw]!
              if (gateway.current) {
                gateway.current.retired = true
                closeIfDone(gateway, gateway.current)
                gateway.current = undefined
              }
            } else if (inFlight.length > 0) {
              const { gateway, lease, worst } = inFlight.splice(o.pick % inFlight.length, 1)[0]!
              const room = lease.granted - lease.drawn - (lease.held - worst)
              lease.held -= worst
              if (o.type === 'settle') {
                lease.drawn += Math.min(o.actual, Math.max(room, 0))
                overrun += gateway.ledger.draw(lease, o.actual, { room_micros: room }).overrun_micros
              }
              closeIfDone(gateway, lease)
            }
            // Each gateway's heartbeat: what is in flight on each of its open leases.
            for (const gateway of gateways) {
              const holds = gateway.leases
                .filter((l) => !l.returned)
                .map((l) => ({ lease_id: l.lease_id, agent_id: agent.id, held_micros: l.held }))
              cp.budgets.recordHolds(gateway.ledger.holder, holds)
            }
            const b = await cp.budgets.get('bot')
            expect(b.in_flight_micros).toBe(inFlight.reduce((sum, r) => sum + r.worst, 0))
            expect(b.spent_micros + b.in_flight_micros).toBeLessThanOrEqual(limit + overrun)
            expect(b.spent_micros + b.reserved_micros + b.leased_micros).toBeLessThanOrEqual(limit + overrun)
          }
          const check = await cp.budgets.check('bot', { verify: true })
          expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
          // Both gateways stop: what was in flight is not charged, every lease goes back, nothing stays leased.
          for (const { lease } of inFlight.splice(0)) lease.held = 0
          for (const gateway of gateways) {
            if (gateway.current) gateway.current.retired = true
            for (const lease of gateway.leases) closeIfDone(gateway, lease)
          }
          const stopped = await cp.budgets.check('bot', { verify: true })
          expect(stopped.verify?.ok, stopped.verify?.problems.join('; ')).toBe(true)
          expect(stopped.budget).toMatchObject({ leased_micros: 0, reserved_micros: 0 })
          ctx.close()
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('lease holds: what gateways have in flight on their leases', () => {
  const TTL = 15_000

  async function withLease(limit = 50_000_000) {
    const t = await budgeted(limit, { period: 'monthly', ttlMs: TTL })
    const lease = () => t.gw.grant(1_000, { want_micros: 2_500_000 })
    const rows = () =>
      t.ctx
        .db()
        .prepare('SELECT lease_id, holder, held_micros FROM lease_holds ORDER BY lease_id')
        .all() as Array<{ lease_id: string; holder: string; held_micros: number }>
    return { ...t, lease, rows }
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

  /** An agent with a $50 monthly budget and a gateway holding a $2.50 lease on it. */
  async function leased() {
    const t = await budgeted(50_000_000, { period: 'monthly', ttlMs: TTL })
    const grant = t.gw.grant(1_000, { want_micros: 2_500_000 })
    expect(grant.granted_micros).toBe(2_500_000)
    const draw = (micros: number) => t.gw.draw(grant, micros)
    const hold = (held: number) => t.gw.hold(grant, held)
    return { ...t, grant, draw, hold }
  }

  it('after one $0.0004 request: nothing in flight, $49.9996 available, the lease only as its own field', async () => {
    const { cp, draw } = await leased()
    draw(400)
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
    draw(400)
    const set = await cp.budgets.set('bot', { limit_micros: 1_000 })
    expect(set).toMatchObject({ spent_micros: 400, in_flight_micros: 0, remaining_micros: 600, used_pct: 40 })
    const check = await cp.budgets.check('bot')
    expect(check.over).toBe(false)
    expect(check.budget.remaining_micros).toBe(600)
    expect((await cp.budgets.set('bot', { limit_micros: 2_000 })).used_pct).toBe(20)
  })

  it('in flight is open reservations (of gateways from before leases) plus what gateways hold on open leases, as of their last heartbeat', async () => {
    const { cp, ctx, agent, draw, hold, grant } = await leased()
    draw(400)
    legacyReservation(ctx, agent.id, 100_000, 'gw:old-host:42:7')
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
    draw(400)
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
  async function agentWith(limit: number) {
    const t = await budgeted(limit, { period: 'monthly' })
    return { ...t, ...t.gw }
  }

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
    // $0.80 spent in the last minute, $0.20 left: the lease is half of it, what other gateways may ask for
    // left to them; a second lease takes half of the rest, and a request that needs more still gets it.
    expect(grant(1_000).granted_micros).toBe(100_000)
    expect(grant(1_000).granted_micros).toBe(50_000)
    expect(grant(40_000).granted_micros).toBe(40_000)
    const { grant: fresh } = await agentWith(50_000_000)
    expect(fresh(4_000_000, { want_micros: 1_000 }).granted_micros).toBe(4_000_000)
  })
})
