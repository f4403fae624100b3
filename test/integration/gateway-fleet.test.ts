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

const LIMIT = 5_000_000
/** Whole micros per token, so that every request's cost is exact and sums compare exactly. */
const PRICE = { input_micros_per_mtok: 100_000_000, output_micros_per_mtok: 1_000_000_000 }

interface Outcome {
  status: number
  id: string
  /** What the gateway told the client it cost (JSON answers; a stream's headers leave before it is known). */
  cost?: number
}

describe('three gateways on one budget', () => {
  it('with n > 1 and clients that leave mid-stream: spent ≤ limit, nothing stranded, the ledger is what the provider served', async () => {
    gw = await startTestGateway({ limitMicros: LIMIT })
    const g = gw
    await g.cp.pricing.set({ model: 'gpt-4o-mini', provider: 'openai', ...PRICE, max_output_tokens: 4_096 })
    await g.cp.pricing.set({
      model: 'claude-haiku-4-5',
      provider: 'anthropic',
      ...PRICE,
      max_output_tokens: 4_096,
    })
    const gateways = [g.running]
    for (let i = 0; i < 2; i++) {
      const sibling = await startSiblingGateway(g)
      extra.push(sibling)
      gateways.push(sibling.running)
    }

    /** OpenAI chat with several choices, as JSON or as a stream read to its end. */
    const choices = async (url: string, i: number): Promise<Outcome> => {
      const stream = i % 2 === 0
      const response = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          n: 2 + (i % 3),
          max_tokens: 30,
          stream,
          messages: [{ role: 'user', content: `request ${i}` }],
        }),
      })
      const text = await response.body.text()
      if (response.statusCode === 200) expect(text).toContain(stream ? 'data: [DONE]' : '"usage"')
      const cost = response.headers['x-iron-cost-micros']
      return {
        status: response.statusCode,
        id: String(response.headers['x-iron-request-id']),
        cost: cost === undefined ? undefined : Number(cost),
      }
    }
    /** An Anthropic stream the client leaves after a few events. */
    const leaving = async (url: string, i: number): Promise<Outcome> => {
      const response = await request(`${url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': g.token,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'x-mock-chunk-delay-ms': '30',
          'x-mock-output-tokens': '40',
        },
        body: JSON.stringify({
          model: 'claude-haiku-4-5',
          max_tokens: 60,
          stream: true,
          messages: [{ role: 'user', content: `story ${i}` }],
        }),
      })
      const id = String(response.headers['x-iron-request-id'])
      if (response.statusCode !== 200) {
        await response.body.text()
        return { status: response.statusCode, id }
      }
      let events = 0
      for await (const chunk of response.body) {
        events += String(chunk).split('event: content_block_delta').length - 1
        if (events >= 3 + (i % 5)) break
      }
      response.body.destroy()
      return { status: 499, id }
    }

    const outcomes: Outcome[] = []
    let next = 0
    const lane = async () => {
      while (next < 300) {
        const i = next++
        const url = gateways[i % 3]!.url
        outcomes.push(await (i % 4 === 3 ? leaving(url, i) : choices(url, i)))
      }
    }
    await Promise.all(Array.from({ length: 24 }, lane))
    const statuses = new Set(outcomes.map((o) => o.status))
    expect(
      [...statuses].every((s) => [200, 402, 499].includes(s)),
      [...statuses].join(','),
    ).toBe(true)
    expect(outcomes.filter((o) => o.status === 402).length).toBeGreaterThan(0)
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThan(20)

    for (const e of extra.splice(0)) await e.close()
    await g.running.close()

    const check = await g.cp.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.spent_micros).toBeLessThanOrEqual(LIMIT)
    expect(check.budget.leased_micros).toBe(0)
    expect(check.budget.reserved_micros).toBe(0)

    // The ledger against the provider's own account, model by model.
    const db = g.ctx.db()
    const ledger = db
      .prepare(
        "SELECT model, count(*) AS requests, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(spent_delta) AS spent FROM ledger WHERE kind = 'commit' GROUP BY model",
      )
      .all() as Array<{ model: string; requests: number; input: number; output: number; spent: number }>
    const served = g.mock.stats().served as Record<
      string,
      { requests: number; input_tokens: number; output_tokens: number }
    >
    expect(Object.keys(served).sort()).toEqual(ledger.map((row) => row.model).sort())
    for (const row of ledger) {
      const s = served[row.model]!
      expect(row.requests, row.model).toBe(s.requests)
      expect(row.input, row.model).toBe(s.input_tokens)
      expect(row.spent, row.model).toBe(row.input * 100 + row.output * 1_000)
      if (row.model === 'gpt-4o-mini') {
        // Every choice of every answer and stream that ran to its end: exactly what the provider billed.
        expect(row.output).toBe(s.output_tokens)
      } else {
        // Streams the clients left: charged what reached the gateway before it cut the upstream. What the
        // provider wrote while the cut crossed the connection never arrives, so it cannot be charged: at most
        // a piece or two per stream (one every 30 ms here), never more than was served.
        expect(row.output).toBeLessThanOrEqual(s.output_tokens)
        expect(s.output_tokens - row.output).toBeLessThanOrEqual(2 * row.requests)
      }
    }
    // And what each client was told it cost is what the ledger charged it.
    const charged = db
      .prepare("SELECT spent_delta FROM ledger WHERE kind = 'commit' AND reservation_id = ?")
      .pluck()
    const told = outcomes.filter((o) => o.cost !== undefined)
    expect(told.length).toBeGreaterThan(10)
    for (const o of told) expect(charged.get(o.id), o.id).toBe(o.cost)
  })
})
