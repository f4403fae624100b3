import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { requestRecord, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

async function chat(g: Gw, content = 'hello there') {
  const response = await request(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content }] }),
  })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text }
}

describe('the gateway’s 429 says when a request will fit', () => {
  it('after a burst of its requests per minute, Retry-After is the time one request takes to refill', async () => {
    gw = await startTestGateway({ rpm: 6 })
    for (let i = 0; i < 6; i++) expect((await chat(gw)).status).toBe(200)
    const limited = await chat(gw)
    expect(limited.status).toBe(429)
    // 6 a minute refill one every 10 s; a fixed or sliding minute would answer 58–60 s.
    const seconds = Number(limited.headers['retry-after'])
    expect(seconds).toBeGreaterThanOrEqual(9)
    expect(seconds).toBeLessThanOrEqual(10)
    const ms = Number(limited.headers['retry-after-ms'])
    expect(ms).toBeGreaterThan(8_000)
    expect(ms).toBeLessThanOrEqual(10_000)
    expect(JSON.parse(limited.text).error.message).toContain(`retry in ${seconds}s`)
    expect(requestRecord(gw.ctx.db(), limited.headers['x-iron-request-id'] as string)).toMatchObject({
      status: 429,
      error_code: 'rate_limited',
    })
  })

  it('over its tokens per minute, Retry-After is the time until enough tokens have drained', async () => {
    gw = await startTestGateway({ tpm: 6_000 })
    // The mock answers 16 output tokens at most (max_tokens); the prompt is a few hundred tokens.
    const long = 'Please summarise this paragraph for the customer. '.repeat(60)
    let limited: Awaited<ReturnType<typeof chat>> | undefined
    for (let i = 0; i < 30 && !limited; i++) {
      const answer = await chat(gw, long)
      if (answer.status === 429) limited = answer
      else expect(answer.status).toBe(200)
    }
    expect(limited, 'the limit was never reached').toBeDefined()
    // 6,000 a minute drain 100 a second: a request of a few hundred tokens waits seconds, not a minute.
    const seconds = Number(limited!.headers['retry-after'])
    expect(seconds).toBeGreaterThanOrEqual(1)
    expect(seconds).toBeLessThanOrEqual(10)
  })
})
