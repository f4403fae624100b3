import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { costMicros } from '../../src/pricing/index.js'
import {
  requestRecord,
  requestRecords,
  startSiblingGateway,
  startTestGateway,
  UPSTREAM_KEY,
} from '../helpers/gateway.js'

/** Attacks on money and secrets through HTTP: every number a request carries, every byte an upstream sends. */

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

async function post(
  url: string,
  token: string,
  body: unknown,
  path = '/v1/chat/completions',
  headers: Record<string, string> = {},
) {
  const response = await request(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text }
}

const header = (h: Record<string, unknown>, name: string) => String(h[name] ?? '')

/** A model priced at $1000 per million output tokens (1,000 micros a token), no input cost. */
async function pricey(g: Gw, model = 'gpt-4o-mini') {
  await g.cp.pricing.set({
    model,
    provider: 'openai',
    input_micros_per_mtok: 0,
    output_micros_per_mtok: 1_000_000_000,
    max_output_tokens: 4_096,
  })
  await g.ctx.notifyChanges()
  return (await g.cp.pricing.get(model)) as Parameters<typeof costMicros>[0]
}

/** An upstream we write ourselves, for bytes the mock provider would never send. */
async function hostileUpstream(
  answer: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
) {
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => answer(req, res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('money and secrets under attack', () => {
  it('n > 1: the worst case covers every choice, and the ledger charges what the provider billed', async () => {
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    const price = await pricey(gw)
    const statuses: number[] = []
    let billed = 0
    for (let i = 0; i < 5; i++) {
      const r = await post(gw.url, gw.token, {
        model: 'gpt-4o-mini',
        n: 20,
        max_tokens: 40,
        messages: [{ role: 'user', content: `question ${i}` }],
      })
      statuses.push(r.status)
      if (r.status === 200) {
        const body = JSON.parse(r.text)
        expect(body.choices).toHaveLength(20)
        // What the provider says it served, priced by the test, not read back from iron.
        const usage = { input_tokens: body.usage.prompt_tokens, output_tokens: body.usage.completion_tokens }
        expect(usage.output_tokens).toBeGreaterThan(40)
        billed += costMicros(price, usage)
        expect(Number(header(r.headers, 'x-iron-cost-micros'))).toBe(costMicros(price, usage))
      } else {
        expect(r.status).toBe(402)
      }
      const check = await gw.cp.budgets.check('bot')
      expect(check.over || check.budget.spent_micros <= 1_000_000).toBe(true)
    }
    // 20 choices × 40 tokens = $0.80 worst case: the first fits $1.00, then $0.80 does not fit what is left.
    expect(statuses).toEqual([200, 402, 402, 402, 402])
    const budget = await gw.cp.budgets.get('bot')
    expect(budget.spent_micros).toBe(billed)
    expect(budget.spent_micros).toBeLessThanOrEqual(1_000_000)
    expect(gw.mock.stats().byStatus[200]).toBe(1)
  })

  it('a provider that bills more than the worst case is charged in full: from the budget while it has room, then refusing what follows', async () => {
    let completion = 0
    const url = await hostileUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 0, completion_tokens: completion },
        }),
      )
    })
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    await pricey(gw)
    await gw.cp.providers.update('openai', { base_url: `${url}/v1` })
    await gw.ctx.notifyChanges()
    const ask = () =>
      post(gw!.url, gw!.token, {
        model: 'gpt-4o-mini',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'x' }],
      })
    // Reserved 10 tokens ($0.01), billed 300 ($0.30): the excess fits what the budget has free.
    completion = 300
    const first = await ask()
    expect(first.status).toBe(200)
    expect(header(first.headers, 'x-iron-cost-micros')).toBe('300000')
    let check = await gw.cp.budgets.check('bot', { verify: true })
    expect(check.budget.spent_micros).toBe(300_000)
    expect(check.over).toBe(false)
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    // Billed $0.90 more: $0.20 beyond the limit. Charged all the same, noted, and the agent is refused after.
    completion = 900
    expect((await ask()).status).toBe(200)
    check = await gw.cp.budgets.check('bot', { verify: true })
    expect(check.budget.spent_micros).toBe(1_200_000)
    expect(check.over).toBe(true)
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect((await gw.cp.budgets.history('bot')).find((e) => e.kind === 'commit')).toMatchObject({
      spent_delta_micros: 900_000,
      overrun_micros: 200_000,
    })
    expect((await ask()).status).toBe(402)
  })

  it('a stream the client leaves is charged what was produced, counted with the tokenizer, never more', async () => {
    gw = await startTestGateway({ limitMicros: 10_000_000, mock: { chunkDelayMs: 40, outputTokens: 60 } })
    const response = await request(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': gw.token,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'tell me a long story' }],
      }),
    })
    const id = header(response.headers, 'x-iron-request-id')
    let deltas = 0
    for await (const chunk of response.body) {
      deltas += String(chunk).split('event: content_block_delta').length - 1
      if (deltas >= 10) break
    }
    response.body.destroy()
    const g = gw
    const end = Date.now() + 5_000
    while (!requestRecord(g.ctx.db(), id) && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    const record = requestRecord(g.ctx.db(), id)
    expect(record).toMatchObject({ status: 499, outcome: 'client_closed' })
    const served = g.mock.stats().served['claude-haiku-4-5']
    // What the provider would bill for this stream: what it wrote before the gateway cut it.
    expect(served.output_tokens).toBeLessThan(60)
    expect(record?.output_tokens).toBeGreaterThanOrEqual(deltas)
    expect(record?.output_tokens).toBeLessThanOrEqual(served.output_tokens)
    expect(record?.input_tokens).toBe(served.input_tokens)
  })

  it('refuses an n the API does not allow, before reserving anything', async () => {
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    for (const n of [0, 129, 2.5, '3', -1]) {
      const r = await post(gw.url, gw.token, {
        model: 'gpt-4o-mini',
        n,
        messages: [{ role: 'user', content: 'x' }],
      })
      expect(r.status, String(n)).toBe(400)
      expect(JSON.parse(r.text).error.message).toContain("'n' must be a whole number from 1 to 128")
    }
    expect(gw.mock.stats().requests).toBe(0)
    expect((await gw.cp.budgets.get('bot')).leased_micros).toBe(0)
  })

  it('concurrent requests share one lease, grown as needed: none that fits the budget is refused, none stranded', async () => {
    gw = await startTestGateway({ limitMicros: 1_500_000 })
    await pricey(gw)
    const g = gw
    // 40 requests of $0.036 worst case each: $1.44 in all fits $1.50, so every one must pass at once.
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post(g.url, g.token, {
          model: 'gpt-4o-mini',
          max_tokens: 36,
          messages: [{ role: 'user', content: `task ${i}` }],
        }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200))
    const db = g.ctx.db()
    const openings = db
      .prepare("SELECT count(*) FROM ledger WHERE kind = 'lease_grant' AND lease_id IS NULL")
      .pluck()
      .get()
    expect(openings).toBe(1)
    await g.running.gateway.flush()
    const check = await g.cp.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.leased_micros).toBe(0)
    expect(check.budget.spent_micros).toBe(
      results.reduce((n, r) => n + Number(header(r.headers, 'x-iron-cost-micros')), 0),
    )
  })

  it('the last requests at the edge of a budget: a request that fits what is left is admitted', async () => {
    gw = await startTestGateway({ limitMicros: 1_500_000 })
    await pricey(gw)
    const g = gw
    // Spend most of it first, so that what is left is less than a lease tranche.
    for (let i = 0; i < 3; i++)
      expect(
        (
          await post(g.url, g.token, {
            model: 'gpt-4o-mini',
            max_tokens: 400,
            messages: [{ role: 'user', content: `a${i}` }],
          })
        ).status,
      ).toBe(200)
    const budget = await g.cp.budgets.get('bot')
    const left = 1_500_000 - budget.spent_micros
    const worst = 1_000 * Math.floor(left / 1_000 / 4)
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post(g.url, g.token, {
          model: 'gpt-4o-mini',
          max_tokens: worst / 1_000,
          messages: [{ role: 'user', content: `b${i}` }],
        }),
      ),
    )
    // Four fit what is left at once; the others fit only after those settle, so they may pass or be refused.
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(4)
    expect(results.every((r) => r.status === 200 || r.status === 402)).toBe(true)
    await g.running.gateway.flush()
    const after = await g.cp.budgets.check('bot', { verify: true })
    expect(after.verify?.ok, after.verify?.problems.join('; ')).toBe(true)
    expect(after.budget.spent_micros).toBeLessThanOrEqual(1_500_000)
    expect(after.budget.leased_micros).toBe(0)
  })

  it('a body nested 10,000 levels deep is a clear 400 before anything is admitted, and is recorded', async () => {
    gw = await startTestGateway({ limitMicros: 50_000 })
    const deep = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"metadata":${'['.repeat(10_000)}${']'.repeat(10_000)}}`
    for (let i = 0; i < 3; i++) {
      const r = await post(gw.url, gw.token, deep)
      expect(r.status).toBe(400)
      expect(JSON.parse(r.text).error).toMatchObject({ code: 'too_deeply_nested' })
      expect(requestRecord(gw.ctx.db(), header(r.headers, 'x-iron-request-id'))).toMatchObject({
        status: 400,
        error_code: 'too_deeply_nested',
      })
    }
    // Nothing stranded: the whole budget is still there for a request that needs most of it.
    expect((await gw.cp.budgets.get('bot')).remaining_micros).toBe(50_000)
    expect(
      (
        await post(gw.url, gw.token, {
          model: 'gpt-4o-mini',
          max_tokens: 50,
          messages: [{ role: 'user', content: 'ok' }],
        })
      ).status,
    ).toBe(200)
  })

  it('usage an upstream reports out of all bounds is charged within bounds, never a 500 or a stranded admission', async () => {
    const url = await hostileUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: {
            prompt_tokens: 1e300,
            completion_tokens: -5,
            prompt_tokens_details: { cached_tokens: 7e20 },
          },
        }),
      )
    })
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    await gw.cp.providers.update('openai', { base_url: `${url}/v1` })
    await gw.ctx.notifyChanges()
    const r = await post(gw.url, gw.token, {
      model: 'gpt-4o-mini',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    })
    expect(r.status).toBe(200)
    const record = requestRecord(gw.ctx.db(), header(r.headers, 'x-iron-request-id'))
    expect(record).toMatchObject({ status: 200, output_tokens: 0 })
    await gw.running.gateway.flush()
    const check = await gw.cp.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.leased_micros).toBe(0)
  })

  it('an upstream error that echoes the provider key never reaches the agent', async () => {
    const aws = 'AKIAIOSFODNN7EXAMPLE'
    const url = await hostileUpstream((req, res) => {
      res.writeHead(401, {
        'content-type': 'application/json',
        'x-request-id': `${req.headers.authorization}`,
      })
      res.end(
        JSON.stringify({
          error: {
            message: `Invalid header: ${req.headers.authorization}; also ${aws}`,
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        }),
      )
    })
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    await gw.cp.providers.update('openai', { base_url: `${url}/v1` })
    await gw.ctx.notifyChanges()
    const r = await post(gw.url, gw.token, {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    })
    expect(r.status).toBe(401)
    const everything = r.text + JSON.stringify(r.headers)
    expect(everything).not.toContain(UPSTREAM_KEY)
    expect(everything).not.toContain(aws)
    expect(r.text).toContain('[REDACTED:PROVIDER_KEY]')
    expect(JSON.parse(r.text).error.code).toBe('invalid_api_key')
    const record = requestRecord(gw.ctx.db(), header(r.headers, 'x-iron-request-id'))
    expect(JSON.stringify(record)).not.toContain(UPSTREAM_KEY)
    expect((await gw.cp.budgets.get('bot')).spent_micros).toBe(0)
  })

  it('counting tokens is free: no reservation, cost 0, still recorded, even with no budget left', async () => {
    gw = await startTestGateway({ limitMicros: 0 })
    const r = await post(
      gw.url,
      gw.token,
      { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'how many tokens is this?' }] },
      '/v1/messages/count_tokens',
      { 'anthropic-version': '2023-06-01' },
    )
    expect(r.status).toBe(200)
    const counted = JSON.parse(r.text).input_tokens
    expect(counted).toBeGreaterThan(0)
    expect(requestRecord(gw.ctx.db(), header(r.headers, 'x-iron-request-id'))).toMatchObject({
      status: 200,
      outcome: 'ok',
      cost_micros: 0,
      input_tokens: counted,
      output_tokens: 0,
      reserved_micros: null,
    })
    const ledger = gw.ctx.db().prepare('SELECT count(*) FROM ledger').pluck().get()
    expect(ledger).toBe(0)
  })

  it('the audit records the status the client got: a blocked answer is 400, a blocked stream 200', async () => {
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    await gw.cp.safety.setDefault({ output: { openai_key: 'block' } })
    await gw.ctx.notifyChanges()
    const secret = 'sk-proj-Zq8vK2mX9pL4nR7tW1yB3cF6hJ0dG5sAaa11'
    const ask = (stream: boolean) =>
      post(
        gw!.url,
        gw!.token,
        { model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'key?' }] },
        undefined,
        {
          'x-mock-reply': `the key is ${secret}`,
        },
      )
    const json = await ask(false)
    expect(json.status).toBe(400)
    const stream = await ask(true)
    expect(stream.status).toBe(200)
    expect(stream.text).toContain('safety_violation')
    for (const r of [json, stream]) {
      expect(r.text).not.toContain(secret)
      const record = requestRecord(gw.ctx.db(), header(r.headers, 'x-iron-request-id'))
      expect(record).toMatchObject({ status: r.status, outcome: 'safety_blocked' })
    }
  })

  it('internal routes answer 405 with Allow for a method they do not take', async () => {
    gw = await startTestGateway()
    for (const [method, path, allow] of [
      ['TRACE', '/_iron/health', 'GET'],
      ['DELETE', '/_iron/stats', 'GET'],
      ['POST', '/_iron/metrics', 'GET'],
      ['GET', '/_iron/invalidate', 'POST'],
    ] as const) {
      const r = await request(`${gw.url}${path}`, { method, headers: gw.admin })
      await r.body.text()
      expect(r.statusCode, `${method} ${path}`).toBe(405)
      expect(r.headers.allow).toBe(allow)
    }
  })

  it('every request leaves exactly one record, refused or not', async () => {
    gw = await startTestGateway({ limitMicros: 1_000 })
    const g = gw
    const sent = [
      await post(g.url, g.token, '{"model":', undefined),
      await post(g.url, g.token, { model: 'gpt-4o-mini', n: 500, messages: [] }),
      await post(g.url, g.token, {
        model: 'gpt-4o-mini',
        max_tokens: 4000,
        messages: [{ role: 'user', content: 'x' }],
      }),
      await post(g.url, 'iron_ic_nope', { model: 'gpt-4o-mini', messages: [] }),
    ]
    expect(sent.map((r) => r.status)).toEqual([400, 400, 402, 401])
    const ids = sent.map((r) => header(r.headers, 'x-iron-request-id'))
    const records = requestRecords(g.ctx.db())
    expect(records.map((r) => r.id)).toEqual(ids)
    expect(records.map((r) => r.status)).toEqual([400, 400, 402, 401])
  })
})

describe('gateways on one store', () => {
  it('each keeps its own registration: stopping one leaves the others notified of a revocation', async () => {
    gw = await startTestGateway({ limitMicros: 1_000_000 })
    const g = gw
    const sibling = await startSiblingGateway(g)
    cleanups.push(() => sibling.close())
    const second = sibling.running
    const third = await startSiblingGateway(g)
    const { readdirSync } = await import('node:fs')
    const { join } = await import('node:path')
    expect(readdirSync(join(g.dirs.dataDir, 'gateways'))).toHaveLength(3)
    await third.close()
    expect(readdirSync(join(g.dirs.dataDir, 'gateways'))).toHaveLength(2)
    const ask = () =>
      post(second.url, g.token, {
        model: 'gpt-4o-mini',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      })
    expect((await ask()).status).toBe(200)
    await g.cp.tokens.revoke('bot')
    await g.ctx.notifyChanges()
    expect((await ask()).status).toBe(401)
  })
})
