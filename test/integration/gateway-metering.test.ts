// What the gateway charges and counts, checked against sources it does not write: the mock provider's own
// account of what it served (stats().served) and the price table. Never against x-iron-cost-micros, which
// comes from the same value as the ledger row.
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { requestRecord, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

const messages = [
  { role: 'user', content: 'Summarise the ticket: the customer cannot log in since the update.' },
]

async function post(g: Gw, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await request(`${g.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  const text = await response.body.text()
  await g.settled()
  return { status: response.statusCode, headers: response.headers, text }
}

/**
 * Price × usage in integer micro-USD, written out here rather than taken from src/pricing/cost.ts: the
 * exact sum of tokens × micros-per-million-tokens, rounded up once to a whole micro.
 */
function priced(
  price: { input_micros_per_mtok: number; output_micros_per_mtok: number },
  input: number,
  output: number,
) {
  const exact =
    BigInt(input) * BigInt(price.input_micros_per_mtok) +
    BigInt(output) * BigInt(price.output_micros_per_mtok)
  return Number((exact + 999_999n) / 1_000_000n)
}

const commitRow = (g: Gw, id: string) =>
  g.ctx.db().prepare("SELECT * FROM ledger WHERE reservation_id = ? AND kind = 'commit'").get(id) as
    | { spent_delta: number; input_tokens: number; output_tokens: number; model: string }
    | undefined

describe('gateway metering', () => {
  it('charges a limited agent price × the usage the provider served, not the worst case it reserved', async () => {
    gw = await startTestGateway({ limitMicros: 10_000_000 })
    const g = gw
    const short = { 'x-mock-output-tokens': '7' }
    const cases: Array<[string, string, string, Record<string, unknown>]> = [
      ['openai chat JSON', '/v1/chat/completions', 'gpt-4o-mini', { max_tokens: 200 }],
      ['openai chat stream', '/v1/chat/completions', 'gpt-4o-mini', { max_tokens: 200, stream: true }],
      ['anthropic messages', '/v1/messages', 'claude-haiku-4-5', { max_tokens: 200 }],
      ['anthropic stream', '/v1/messages', 'claude-haiku-4-5', { max_tokens: 200, stream: true }],
    ]
    for (const [name, path, model, extra] of cases) {
      g.mock.resetStats()
      const before = await g.cp.budgets.get('bot')
      const r = await post(g, path, { model, messages, ...extra }, short)
      expect(r.status, name).toBe(200)
      const id = r.headers['x-iron-request-id'] as string

      const served = g.mock.stats().served[model]
      expect(served, name).toMatchObject({ requests: 1, output_tokens: 7 })
      if (!served) continue
      expect(served.input_tokens, name).toBeGreaterThan(0)
      if (!extra.stream) {
        // The served totals are what the provider reported to the gateway.
        const usage = JSON.parse(r.text).usage
        expect(usage.prompt_tokens ?? usage.input_tokens, name).toBe(served.input_tokens)
        expect(usage.completion_tokens ?? usage.output_tokens, name).toBe(served.output_tokens)
      }
      const price = await g.cp.pricing.get(model)
      const expected = priced(price, served.input_tokens, served.output_tokens)
      expect(expected, name).toBeGreaterThan(0)
      // The worst case is far above the usage, so charging it would show.
      const reserved = requestRecord(g.ctx.db(), id)?.reserved_micros as number
      expect(reserved, name).toBeGreaterThan(expected)

      expect(commitRow(g, id), name).toMatchObject({
        spent_delta: expected,
        input_tokens: served.input_tokens,
        output_tokens: served.output_tokens,
      })
      const after = await g.cp.budgets.get('bot')
      expect(after.spent_micros - before.spent_micros, name).toBe(expected)
      expect(after.reserved_micros, name).toBe(0)
    }
    expect((await g.cp.budgets.check('bot', { verify: true })).verify?.ok).toBe(true)
  })

  it('a tokens-per-minute limit counts input and output, refuses with 429 and Retry-After, and records it', async () => {
    // Tokens count the input at admission and the output at settlement (src/gateway/rate-limit.ts).
    gw = await startTestGateway({ tpm: 1_000 })
    const g = gw
    const chat = (outputTokens: number, content = messages[0]!.content) =>
      post(
        g,
        '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_tokens: 1_000, messages: [{ role: 'user', content }] },
        { 'x-mock-output-tokens': String(outputTokens) },
      )
    const tokensOf = (id: string) => {
      const record = requestRecord(g.ctx.db(), id) as { input_tokens: number; output_tokens: number }
      return record.input_tokens + record.output_tokens
    }

    const first = await chat(500)
    expect(first.status).toBe(200)
    const afterFirst = tokensOf(first.headers['x-iron-request-id'] as string)
    // Within the limit with what the minute already holds: admitted.
    const second = await chat(400)
    expect(second.status).toBe(200)
    const used = afterFirst + tokensOf(second.headers['x-iron-request-id'] as string)
    expect(used).toBeGreaterThan(900)
    expect(used).toBeLessThanOrEqual(1_000)

    // A prompt of about 200 tokens takes the minute past 1,000.
    const served = g.mock.stats().requests
    const refused = await chat(10, 'Please read this ticket again. '.repeat(35))
    expect(refused.status).toBe(429)
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(JSON.parse(refused.text).error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' })
    expect(JSON.parse(refused.text).error.message).toContain('tokens per minute')
    expect(g.mock.stats().requests).toBe(served)
    expect(requestRecord(g.ctx.db(), refused.headers['x-iron-request-id'] as string)).toMatchObject({
      status: 429,
      outcome: 'rate_limited',
      error_code: 'rate_limited',
      audit_outcome: 'denied',
    })
  })
})
