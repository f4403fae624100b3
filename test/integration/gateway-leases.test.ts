import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startSiblingGateway, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
const extra: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const e of extra.splice(0)) await e.close()
  await gw?.close()
  gw = undefined
})

const body = JSON.stringify({
  model: 'gpt-4o-mini',
  max_tokens: 20,
  messages: [{ role: 'user', content: 'hello there' }],
})
const call = async (url: string, token: string) => {
  const r = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  })
  await r.body.text()
  return r.statusCode
}

describe('gateway leases', () => {
  it('two gateways on one store, at the edge of one budget: spent stays within the limit', async () => {
    gw = await startTestGateway({ limitMicros: 600 })
    const sibling = await startSiblingGateway(gw)
    extra.push(sibling)
    const second = sibling.running
    const g = gw
    const statuses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => call(i % 2 ? second.url : g.url, g.token)),
    )
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(5)
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true)
    const during = await g.cp.budgets.check('bot', { verify: true })
    expect(during.budget.spent_micros + during.budget.leased_micros).toBeLessThanOrEqual(600)
    expect(during.verify?.ok, during.verify?.problems.join('; ')).toBe(true)
    await second.close()
    await g.running.close()
    const after = await g.cp.budgets.check('bot', { verify: true })
    expect(after.budget.spent_micros).toBeLessThanOrEqual(600)
    expect(after.budget.leased_micros).toBe(0)
    expect(after.verify?.ok).toBe(true)
  })

  it('a limit lowered by another process takes effect: the gateway gives its lease back', async () => {
    gw = await startTestGateway({ limitMicros: 50_000_000 })
    expect(await call(gw.url, gw.token)).toBe(200)
    expect((await gw.cp.budgets.get('bot')).leased_micros).toBeGreaterThan(0)
    const spent = (await gw.cp.budgets.get('bot')).spent_micros
    await gw.cp.budgets.set('bot', { limit_micros: spent, allow_below_spend: true })
    await gw.ctx.notifyChanges()
    expect(await call(gw.url, gw.token)).toBe(402)
    await gw.running.gateway.flush()
    expect((await gw.cp.budgets.get('bot')).leased_micros).toBe(0)
  })

  it('an agent without a limit is metered without leases', async () => {
    gw = await startTestGateway({ limitMicros: null })
    expect(await call(gw.url, gw.token)).toBe(200)
    const budget = await gw.cp.budgets.get('bot')
    expect(budget).toMatchObject({ leased_micros: 0, limit_micros: null })
    expect(budget.spent_micros).toBeGreaterThan(0)
    const rows = gw.ctx.db().prepare('SELECT kind FROM ledger').pluck().all()
    expect(rows).toEqual(['commit'])
  })
})
