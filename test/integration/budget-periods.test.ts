// A budget moving forward into a new calendar period: the new period starts at zero spend with the whole
// limit available, and the old period's rows stay in the history (SPEC §5).
import { describe, expect, it } from 'vitest'
import { tempControlPlane } from '../helpers/control-plane.js'
import { gatewayLedger } from '../helpers/ledger.js'

describe('budget periods', () => {
  it('a daily budget that spent in day 1 starts day 2 at zero, with the full limit and day 1 in the history', async () => {
    const { cp, clock } = await tempControlPlane(Date.parse('2026-03-10T15:00:00Z'))
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 10_000, period: 'daily', timezone: 'UTC' })
    const gw = gatewayLedger(cp, agent.id)
    const lease = gw.grant(6_000)
    gw.draw(lease, 4_000, { room_micros: 6_000 })
    await cp.budgets.adjust('bot', { amount_micros: 1_500, reason: 'invoice correction' })
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 5_500,
      reserved_micros: 0,
      leased_micros: 6_000,
      remaining_micros: 4_500,
      period_start: '2026-03-10T00:00:00.000Z',
    })

    clock.now = Date.parse('2026-03-11T09:30:00Z')
    expect(await cp.budgets.get('bot')).toMatchObject({
      spent_micros: 0,
      reserved_micros: 0,
      leased_micros: 0,
      remaining_micros: 10_000,
      period_start: '2026-03-11T00:00:00.000Z',
      period_end: '2026-03-12T00:00:00.000Z',
    })
    // The whole limit is there to lend, not only shown: yesterday's lease holds nothing of today's.
    const full = gw.grant(10_000)
    expect(full.granted_micros).toBe(10_000)
    // Both go back, as the gateway returns a lease out of its period and, when idle, today's.
    gw.giveBack(lease)
    gw.giveBack(full)
    expect((await cp.budgets.get('bot')).leased_micros).toBe(0)

    const dayOne = (await cp.budgets.history('bot')).filter((e) => e.counted_at.startsWith('2026-03-10'))
    expect(dayOne.map((e) => [e.kind, e.spent_delta_micros]).sort()).toEqual(
      [
        ['adjust', 1_500],
        ['commit', 4_000],
        ['lease_grant', 0],
        ['lease_return', 0],
      ].sort(),
    )
    const check = await cp.budgets.check('bot', { verify: true })
    expect(check.budget.spent_micros).toBe(0)
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
  })
})
