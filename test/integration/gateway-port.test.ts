import OpenAI from 'openai'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import type { ChangeDomain } from '../../src/services/gateway-control.js'
import { requestRecord, startSiblingGateway, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
  await gw?.close()
  gw = undefined
})

const ask = async (url: string, token: string, body: Record<string, unknown>) => {
  const response = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text }
}

describe('the gateway on its control-plane port', () => {
  it('two gateways on one store: requests settled by one invalidate nothing the other cached; a revocation does', async () => {
    gw = await startTestGateway({ limitMicros: 100_000_000 })
    const g = gw
    const sibling = await startSiblingGateway(g)
    cleanups.push(() => sibling.close())
    const seen: Array<Set<ChangeDomain>> = []
    g.running.gateway.control.onChange((changed) => seen.push(new Set(changed)))
    const body = { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }
    expect((await ask(g.url, g.token, body)).status).toBe(200)
    for (let i = 0; i < 30; i++) expect((await ask(sibling.running.url, g.token, body)).status).toBe(200)
    g.running.gateway.control.refresh(true)
    expect(seen).toEqual([])
    await g.cp.tokens.revoke('bot')
    g.running.gateway.control.refresh(true)
    expect(seen.map((s) => [...s].sort())).toEqual([['tokens']])
    expect((await ask(g.url, g.token, body)).status).toBe(401)
  })

  it('the built-in mock charges a stream the same as the same answer whole (it reports usage when asked)', async () => {
    gw = await startTestGateway({ limitMicros: 100_000_000 })
    const body = {
      model: 'mock-small',
      max_tokens: 40,
      messages: [{ role: 'user', content: 'the same question' }],
    }
    const whole = await ask(gw.url, gw.token, body)
    const streamed = await ask(gw.url, gw.token, { ...body, stream: true })
    expect(whole.status).toBe(200)
    expect(streamed.status).toBe(200)
    // The client did not ask for usage in the stream: the chunk the gateway asked for is not passed on.
    expect(streamed.text).not.toContain('"usage"')
    const cost = (r: typeof whole) =>
      requestRecord(gw!.ctx.db(), String(r.headers['x-iron-request-id']))?.cost_micros
    expect(cost(whole)).toBeGreaterThan(0)
    expect(cost(streamed)).toBe(cost(whole))
  })

  it("the built-in mock's Responses stream is whole: the OpenAI SDK's stream helper rebuilds the answer from it", async () => {
    gw = await startTestGateway({ limitMicros: 100_000_000 })
    const client = new OpenAI({ apiKey: gw.token, baseURL: `${gw.url}/v1`, maxRetries: 0 })
    const stream = client.responses.stream({
      model: 'mock-small',
      input: 'describe the weather',
      max_output_tokens: 30,
    })
    const deltas: string[] = []
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta))
    const final = await stream.finalResponse()
    expect(final.status).toBe('completed')
    expect(final.output_text.length).toBeGreaterThan(0)
    expect(deltas.join('')).toBe(final.output_text)
    expect(final.usage?.output_tokens).toBeGreaterThan(0)
  })

  it('a 402 says how to get the request in', async () => {
    gw = await startTestGateway({ limitMicros: 1_000 })
    const r = await ask(gw.url, gw.token, {
      model: 'gpt-4o-mini',
      max_tokens: 4_000,
      messages: [{ role: 'user', content: 'x' }],
    })
    expect(r.status).toBe(402)
    const message = JSON.parse(r.text).error.message as string
    expect(message).toContain("Lower 'max_tokens'")
    expect(message).toContain('iron budget set bot --on-insufficient clamp')
  })
})
