import { connect } from 'node:net'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { requestRecord, requestRecords, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

const chat = (model = 'gpt-4o-mini', extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'hello there, how are you today?' }],
    ...extra,
  })

async function post(
  g: Gw,
  body: string | Buffer,
  headers: Record<string, string> = {},
  path = '/v1/chat/completions',
) {
  const response = await request(`${g.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json', ...headers },
    body,
  })
  const text = await response.body.text()
  await g.settled()
  return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) }
}

const db = (g: Gw) => g.ctx.db()
const waitFor = async (check: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('gateway reliability', () => {
  it('200 concurrent requests at the edge of a budget: never overspent, every refusal a clear 402, nothing left reserved', async () => {
    // Each request's worst case (20 output tokens of gpt-4o-mini plus input) is about 20 µ$; the limit fits ~20.
    gw = await startTestGateway({ limitMicros: 400 })
    const g = gw
    const results = await Promise.all(
      Array.from({ length: 200 }, () => post(g, chat('gpt-4o-mini', { max_tokens: 20 }))),
    )
    const ok = results.filter((r) => r.status === 200)
    const refused = results.filter((r) => r.status !== 200)
    expect(ok.length).toBeGreaterThan(5)
    expect(refused.length).toBeGreaterThan(100)
    for (const r of refused) {
      expect(r.status).toBe(402)
      expect(r.json().error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' })
      expect(r.json().error.message).toMatch(/has \$\S+ left/)
    }
    const budget = await g.cp.budgets.check('bot', { verify: true })
    expect(budget.budget.spent_micros).toBeLessThanOrEqual(400)
    expect(
      budget.budget.spent_micros + budget.budget.reserved_micros + budget.budget.leased_micros,
    ).toBeLessThanOrEqual(400)
    expect(budget.verify?.ok).toBe(true)
    // Once the gateway stops, nothing stays set aside: its lease went back.
    await g.running.close()
    const after = await g.cp.budgets.check('bot', { verify: true })
    expect(after.budget).toMatchObject({ reserved_micros: 0, leased_micros: 0 })
    expect(after.verify?.ok).toBe(true)
    const records = requestRecords(db(g))
    expect(records.filter((r) => r.status === 200)).toHaveLength(ok.length)
    expect(records.filter((r) => r.status === 402 && r.audit_outcome === 'denied')).toHaveLength(
      refused.length,
    )
    expect((await g.cp.audit.verify()).ok).toBe(true)
  })

  it('clamp: a request that does not fit gets its max tokens lowered instead of a 402', async () => {
    gw = await startTestGateway({ limitMicros: 300, onInsufficient: 'clamp' })
    const r = await post(gw, chat('gpt-4o-mini', { max_tokens: 4000 }))
    expect(r.status).toBe(200)
    const sent = gw.mock.stats().lastRequest?.body as { max_tokens: number }
    expect(sent.max_tokens).toBeGreaterThan(0)
    expect(sent.max_tokens).toBeLessThan(4000)
    expect((await gw.cp.budgets.get('bot')).spent_micros).toBeLessThanOrEqual(300)
  })

  it('bounds the output of a request that sets no max tokens to what it reserved', async () => {
    gw = await startTestGateway()
    expect((await post(gw, chat('gpt-4o-mini'))).status).toBe(200)
    expect(gw.mock.stats().lastRequest?.body).toMatchObject({ max_completion_tokens: 16_384 })
  })

  it('rate limits per agent with Retry-After', async () => {
    gw = await startTestGateway({ rpm: 2 })
    expect((await post(gw, chat())).status).toBe(200)
    expect((await post(gw, chat())).status).toBe(200)
    const limited = await post(gw, chat())
    expect(limited.status).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(limited.json().error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' })
  })

  it('answers malformed input with a clear 4xx in the API shape, never a 500', async () => {
    gw = await startTestGateway({ gateway: { maxBodyBytes: 64 * 1024 } })
    const g = gw
    // A mock provider answers any model: without one, an unknown model is not found.
    await g.cp.agents.update('bot', { allowed_providers: ['openai', 'claude'] })
    await g.ctx.notifyChanges()
    const cases: Array<[string, Promise<{ status: number; text: string }>, number, string]> = [
      ['malformed JSON', post(g, '{"model": "gpt-4o-mini", "messages": ['), 400, 'invalid_json'],
      ['not an object', post(g, '[1,2,3]'), 400, 'invalid_json'],
      ['deep nesting', post(g, `${'['.repeat(100_000)}${']'.repeat(100_000)}`), 413, 'request_too_large'],
      ['no model', post(g, JSON.stringify({ messages: [] })), 400, 'invalid_request'],
      ['bad max_tokens', post(g, chat('gpt-4o-mini', { max_tokens: -3 })), 400, 'invalid_request'],
      ['huge body', post(g, Buffer.alloc(200 * 1024, 'a')), 413, 'request_too_large'],
      [
        'wrong content type',
        post(g, chat(), { 'content-type': 'text/plain' }),
        415,
        'unsupported_media_type',
      ],
      ['missing token', post(g, chat(), { authorization: '' }), 401, 'missing_token'],
      ['unknown model', post(g, chat('gpt-99')), 404, 'model_not_found'],
      ['unknown route', post(g, chat(), {}, '/v1/images/generations'), 404, 'not_found'],
      [
        'anthropic without max_tokens',
        post(g, chat('claude-sonnet-4-6'), {}, '/v1/messages'),
        400,
        'invalid_request',
      ],
    ]
    for (const [name, pending, status, code] of cases) {
      const r = await pending
      expect(r.status, name).toBe(status)
      const body = JSON.parse(r.text)
      expect(body.error?.code ?? body.error?.error?.code, name).toBe(code)
    }
    const nestedBody = (depth: number) =>
      `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`
    expect((await post(g, nestedBody(350))).status).toBe(200)
    const nested = await post(g, nestedBody(2_000))
    expect(nested.status).toBe(400)
    expect(JSON.parse(nested.text).error.code).toBe('too_deeply_nested')
    // A special-token marker in a prompt is text to the API, and counted as such.
    const marker = await post(
      g,
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'What does <|endoftext|> mean?' }],
      }),
    )
    expect(marker.status, marker.text).toBe(200)
    const get = await request(`${g.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${g.token}` },
    })
    expect(get.statusCode).toBe(405)
    await get.body.text()
    const anthropicShape = await post(g, '{', { 'x-api-key': g.token, authorization: '' }, '/v1/messages')
    expect(JSON.parse(anthropicShape.text)).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', code: 'invalid_json' },
    })
  })

  it('an upstream error releases the reservation; an unreachable upstream is a 502 after one retry', async () => {
    gw = await startTestGateway()
    const failed = await post(gw, chat(), { 'x-mock-fail': 'status:503' })
    expect(failed.status).toBe(503)
    const reset = await post(gw, chat(), { 'x-mock-fail': 'reset-before' })
    expect(reset.status).toBe(502)
    expect(reset.json().error.code).toBe('upstream_failed')
    await gw.cp.providers.update('openai', { base_url: 'http://127.0.0.1:9/v1' })
    await gw.ctx.notifyChanges()
    const unreachable = await post(gw, chat())
    expect(unreachable.status).toBe(502)
    expect(unreachable.json().error.code).toBe('upstream_unreachable')
    const budget = await gw.cp.budgets.get('bot')
    expect(budget).toMatchObject({ reserved_micros: 0, spent_micros: 0 })
  })

  it('an upstream reset mid-stream ends the stream with an error event and charges what was produced', async () => {
    gw = await startTestGateway({ mock: { outputTokens: 40 } })
    const r = await post(gw, chat('gpt-4o-mini', { stream: true }), { 'x-mock-fail': 'reset-mid' })
    expect(r.status).toBe(200)
    expect(r.text).toContain('"code":"upstream_failed"')
    const id = r.headers['x-iron-request-id'] as string
    const row = db(gw)
      .prepare("SELECT * FROM ledger WHERE reservation_id = ? AND kind = 'commit'")
      .get(id) as { spent_delta: number; output_tokens: number }
    expect(row.output_tokens).toBeGreaterThan(0)
    expect(row.spent_delta).toBeGreaterThan(0)
    expect((await gw.cp.budgets.get('bot')).reserved_micros).toBe(0)
  })

  it('a client that disconnects mid-stream is charged for what was produced', async () => {
    gw = await startTestGateway({ mock: { outputTokens: 200, chunkDelayMs: 10 } })
    const controller = new AbortController()
    const response = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' },
      body: chat('gpt-4o-mini', { stream: true }),
      signal: controller.signal,
    })
    const id = response.headers['x-iron-request-id'] as string
    let chunks = 0
    try {
      for await (const _ of response.body) if (++chunks === 5) controller.abort()
    } catch {}
    const g = gw
    await waitFor(() => Boolean(requestRecord(db(g), id)))
    const record = requestRecord(db(g), id) as { outcome: string; output_tokens: number; cost_micros: number }
    expect(record.outcome).toBe('client_closed')
    expect(record.output_tokens).toBeGreaterThan(0)
    expect(record.output_tokens).toBeLessThan(200)
    expect(record.cost_micros).toBeGreaterThan(0)
    expect((await g.cp.budgets.get('bot')).reserved_micros).toBe(0)
  })

  it('revocation and suspension by another process take effect at once', async () => {
    gw = await startTestGateway()
    expect((await post(gw, chat())).status).toBe(200)
    const other = new LocalContext({ config: await IronConfig.load(gw.dirs, {}), env: {}, vault: undefined })
    await createLocalControlPlane(other).tokens.revoke('bot')
    // What every command does when it ends: tell the running gateways the store changed.
    await other.notifyChanges()
    other.close()
    expect((await post(gw, chat())).status).toBe(401)
  })

  it('cuts off a client that sends its headers too slowly', async () => {
    gw = await startTestGateway({ gateway: { headersTimeoutMs: 300, requestTimeoutMs: 600 } })
    const { port } = new URL(gw.url)
    const closed = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'),
      )
      let got = ''
      socket.on('data', (d) => (got += d))
      socket.on('close', () => resolve(got))
      setTimeout(() => socket.write('x-slow: 1\r\n'), 100)
    })
    expect(closed === '' || /^HTTP\/1\.1 (400|408)/.test(closed)).toBe(true)
  })

  it('shuts down gracefully: a request in flight finishes, then writes are flushed', async () => {
    gw = await startTestGateway({ mock: { latencyMs: 300 } })
    const pending = post(gw, chat())
    const mock = gw.mock
    await waitFor(() => mock.stats().inFlight === 1)
    const closing = gw.running.close()
    const r = await pending
    await closing
    expect(r.status).toBe(200)
    expect(db(gw).prepare("SELECT count(*) AS n FROM ledger WHERE kind = 'commit'").get()).toEqual({ n: 1 })
    const after = await request(`${gw.url}/v1/models`).catch((e: unknown) => e)
    expect(after).toBeInstanceOf(Error)
  })

  it('internal routes need the admin token and report metrics, stats and events', async () => {
    gw = await startTestGateway()
    const g = gw
    expect((await request(`${g.url}/_iron/metrics`)).statusCode).toBe(401)
    const health = await request(`${g.url}/_iron/health`, { headers: g.admin })
    expect(await health.body.json()).toMatchObject({ status: 'ok' })
    const events = await request(`${g.url}/_iron/events`, { headers: g.admin })
    const seen: string[] = []
    const reading = (async () => {
      for await (const chunk of events.body) {
        seen.push(String(chunk))
        if (seen.join('').includes('event: request')) break
      }
    })()
    await post(g, chat())
    await reading
    expect(seen.join('')).toContain('"agent":"bot"')
    const metrics = await (await request(`${g.url}/_iron/metrics`, { headers: g.admin })).body.text()
    expect(metrics).toContain('iron_requests_total{agent="bot",model="gpt-4o-mini",status="200"} 1')
    expect(metrics).toMatch(/iron_budget_remaining_micros\{agent="bot"\} \d+/)
    expect(metrics).toContain('iron_overhead_ms_bucket')
    const stats = (await (await request(`${g.url}/_iron/stats`, { headers: g.admin })).body.json()) as {
      requests_total: number
    }
    expect(stats.requests_total).toBe(1)
  })
})

describe('request records', () => {
  it('hold the SHA-256 of prompt and response, never the text', async () => {
    gw = await startTestGateway()
    const body = chat('gpt-4o-mini', { stream: true })
    const r = await post(gw, body)
    const { createHash } = await import('node:crypto')
    const record = requestRecord(db(gw), r.headers['x-iron-request-id'] as string)!
    expect(record.prompt_sha256).toBe(createHash('sha256').update(body).digest('hex'))
    expect(record.response_sha256).toBe(createHash('sha256').update(r.text).digest('hex'))
    expect(JSON.stringify(record)).not.toContain('hello there')
    expect(r.text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })
})
