import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requestRecord, startTestGateway, UPSTREAM_KEY } from '../helpers/gateway.js'

let gw: Awaited<ReturnType<typeof startTestGateway>>
let openai: OpenAI
let anthropic: Anthropic

beforeAll(async () => {
  gw = await startTestGateway()
  openai = new OpenAI({ apiKey: gw.token, baseURL: `${gw.url}/v1`, maxRetries: 0 })
  anthropic = new Anthropic({ apiKey: gw.token, baseURL: gw.url, maxRetries: 0 })
})
afterAll(async () => gw?.close())

const messages = [
  { role: 'user' as const, content: 'Summarise the ticket: the customer cannot log in since the update.' },
]
const ledgerFor = (id: string) =>
  gw.ctx.db().prepare("SELECT * FROM ledger WHERE reservation_id = ? AND kind = 'commit'").get(id) as
    | { spent_delta: number; input_tokens: number; output_tokens: number }
    | undefined
const recordFor = (id: string) => requestRecord(gw.ctx.db(), id)
/** A header that must be there and hold a whole number of micro-dollars. */
const micros = (headers: Headers, name: string) => {
  const value = headers.get(name)
  expect(value, name).toMatch(/^\d+$/)
  return Number(value)
}

describe('gateway with the official OpenAI SDK', () => {
  it('chat completions: swaps in the provider key, meters usage, and says what it cost', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 20 })
      .withResponse()
    expect(data.choices[0]?.message.content).toBeTruthy()
    expect(gw.mock.stats().lastApiKey).toBe(UPSTREAM_KEY)
    const id = response.headers.get('x-iron-request-id')!
    expect(id).toMatch(/^req_/)
    expect(response.headers.get('x-iron-overhead-ms')).toMatch(/^\d+(\.\d+)?$/)
    const cost = micros(response.headers, 'x-iron-cost-micros')
    expect(cost).toBeGreaterThan(0)
    micros(response.headers, 'x-iron-budget-remaining-micros')
    expect(ledgerFor(id)).toMatchObject({
      spent_delta: cost,
      input_tokens: data.usage!.prompt_tokens,
      output_tokens: data.usage!.completion_tokens,
    })
    expect(recordFor(id)).toMatchObject({
      status: 200,
      outcome: 'ok',
      model: 'gpt-4o-mini',
      provider: 'openai',
      cost_micros: cost,
    })
  })

  it('streaming is metered from the stream, hides the usage chunk it added, and costs what the same call costs unstreamed', async () => {
    const plain = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 12 })
      .withResponse()
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 12, stream: true })
      .withResponse()
    let text = ''
    let sawUsage = false
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ''
      if (chunk.usage) sawUsage = true
    }
    expect(sawUsage).toBe(false)
    expect(text).toBe(plain.data.choices[0]?.message.content)
    expect(gw.mock.stats().lastRequest?.body.stream_options).toEqual({ include_usage: true })
    const streamed = ledgerFor(response.headers.get('x-iron-request-id')!)
    expect(streamed?.spent_delta).toBe(micros(plain.response.headers, 'x-iron-cost-micros'))
  })

  it('streaming with include_usage passes the usage chunk through', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })
    let usage: unknown
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) })
  })

  it('a stream whose bytes arrive cut inside UTF-8 characters reaches the client intact, in both APIs', async () => {
    const reply = 'Grüße aus Zürich: 日本語のテキスト, émoji 🎉 — ça marche, ünd wëiter?'
    const headers = { 'x-mock-reply-uri': encodeURIComponent(reply), 'x-mock-split-frames': '1' }
    const stream = await openai.chat.completions.create(
      { model: 'gpt-4o-mini', messages, stream: true },
      { headers },
    )
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toBe(reply)
    const final = await anthropic.messages
      .stream({ model: 'claude-haiku-4-5', max_tokens: 200, messages }, { headers })
      .finalMessage()
    expect(final.content[0]?.type === 'text' && final.content[0].text).toBe(reply)
  })

  it('tool calls and JSON mode, plain and streamed', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'lookup_order',
          parameters: { type: 'object', properties: { id: { type: 'string' } } },
        },
      },
    ]
    const plain = await openai.chat.completions.create({ model: 'gpt-4.1', messages, tools })
    const call = plain.choices[0]?.message.tool_calls?.[0]
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toBeTruthy()
    const stream = openai.chat.completions.stream({ model: 'gpt-4.1', messages, tools })
    const final = await stream.finalChatCompletion()
    const streamedCall = final.choices[0]?.message.tool_calls?.[0]
    expect(streamedCall?.type === 'function' && JSON.parse(streamedCall.function.arguments)).toBeTruthy()
    const json = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      response_format: { type: 'json_object' },
    })
    expect(() => JSON.parse(json.choices[0]!.message.content!)).not.toThrow()
  })

  it('responses and embeddings', async () => {
    const response = await openai.responses.create({
      model: 'gpt-4.1',
      input: 'Say hello',
      max_output_tokens: 20,
    })
    expect(response.output_text).toBeTruthy()
    const events: string[] = []
    for await (const event of await openai.responses.create({
      model: 'gpt-4.1',
      input: 'Say hello',
      stream: true,
    }))
      events.push(event.type)
    expect(events.at(-1)).toMatch(/response\.(completed|incomplete)/)
    const embedding = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['one', 'two'],
    })
    expect(embedding.data).toHaveLength(2)
  })

  it('lists the models this agent may use', async () => {
    const ids = []
    for await (const model of openai.models.list()) ids.push(model.id)
    expect(ids).toEqual(expect.arrayContaining(['gpt-4o-mini', 'claude-sonnet-4-6', 'mock-small']))
  })

  it("surfaces iron's refusals as the SDK's error classes with iron's codes", async () => {
    const bad = new OpenAI({ apiKey: 'iron_ic_not-a-real-token', baseURL: `${gw.url}/v1`, maxRetries: 0 })
    const unauthorized = await bad.chat.completions
      .create({ model: 'gpt-4o-mini', messages })
      .catch((e: unknown) => e)
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError)
    expect((unauthorized as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_token')

    // A mock provider answers any model: only without one is an unknown model not found.
    await gw.cp.agents.update('bot', { allowed_providers: ['openai', 'claude'] })
    await gw.ctx.notifyChanges()
    const unknown = await openai.chat.completions
      .create({ model: 'gpt-99-turbo', messages })
      .catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
    await gw.cp.agents.update('bot', { allowed_providers: [] })
    await gw.ctx.notifyChanges()

    await gw.cp.agents.update('bot', { status: 'suspended' })
    await gw.ctx.notifyChanges()
    const suspended = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages })
      .catch((e: unknown) => e)
    expect(suspended).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect((suspended as InstanceType<typeof OpenAI.APIError>).code).toBe('agent_suspended')
    await gw.cp.agents.update('bot', { status: 'active' })
    await gw.ctx.notifyChanges()

    const upstream = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages }, { headers: { 'x-mock-fail': 'status:500' } })
      .catch((e: unknown) => e)
    expect(upstream).toBeInstanceOf(OpenAI.InternalServerError)
    expect((await gw.cp.budgets.get('bot')).reserved_micros).toBe(0)
  })
})

describe('gateway with the official Anthropic SDK', () => {
  it('messages, plain and streamed, tool use, and token counting', async () => {
    const message = await anthropic.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 30, messages })
    expect(message.content[0]?.type).toBe('text')
    expect(gw.mock.stats().lastAuthHeader).toBe('x-api-key')
    expect(gw.mock.stats().lastApiKey).toBe(UPSTREAM_KEY)

    const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 30, messages })
    const final = await stream.finalMessage()
    expect(final.usage.output_tokens).toBeGreaterThan(0)

    const tool = await anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      messages,
      tools: [
        { name: 'lookup_order', input_schema: { type: 'object', properties: { id: { type: 'string' } } } },
      ],
    })
    expect(tool.content.some((block) => block.type === 'tool_use')).toBe(true)

    const count = await anthropic.messages.countTokens({ model: 'claude-sonnet-4-6', messages })
    expect(count.input_tokens).toBeGreaterThan(0)
  })

  it('refusals surface as Anthropic error classes', async () => {
    const bad = new Anthropic({ apiKey: 'nope', baseURL: gw.url, maxRetries: 0 })
    const error = await bad.messages
      .create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError)
    const missing = await anthropic.messages
      .create({ model: 'claude-sonnet-4-6', messages } as never)
      .catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError)
  })
})
