// The mock LLM provider of the gateway tests and the benchmarks (src/testing/mock-provider.ts): route shapes of both
// APIs, JSON and streaming, usage consistency, n choices, tool calls, failure injection, auth, what it served
// (stats().served) and close().
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runLoad } from '../../src/testing/load.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { startPassthrough } from '../../src/testing/passthrough.js'

type Mock = Awaited<ReturnType<typeof startMockProvider>>
// biome-ignore lint/suspicious/noExplicitAny: parsed API payloads of many shapes
type Json = Record<string, any>
interface SseEvent {
  event: string | undefined
  data: string
}

const OPENAI = { authorization: 'Bearer sk-openai-test', 'content-type': 'application/json' }
const ANTHROPIC = {
  'x-api-key': 'sk-ant-test',
  'anthropic-version': '2023-06-01',
  'content-type': 'application/json',
}

const chatBody = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Tell me about benchmarks, please.' },
  ],
}
const anthropicBody = {
  model: 'claude-haiku-4-5',
  max_tokens: 64,
  system: 'Be brief.',
  messages: [{ role: 'user', content: 'Tell me about benchmarks, please.' }],
}
const weatherSchema = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    unit: { type: 'string', enum: ['c', 'f'] },
  },
  required: ['city'],
}

function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = []
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue
    let event: string | undefined
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') })
  }
  return events
}

async function post(url: string, body: unknown, headers: Record<string, string> = OPENAI) {
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = OPENAI) {
  const res = await post(url, body, headers)
  return { ...res, json: JSON.parse(res.text) as Json }
}

async function postSse(url: string, body: unknown, headers: Record<string, string> = OPENAI) {
  const res = await post(url, body, headers)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  return { ...res, events: parseSse(res.text) }
}

/** OpenAI chat chunks (the data lines before [DONE]), parsed. */
const chatChunks = (events: SseEvent[]) =>
  events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data))

describe('mock provider', () => {
  let mock: Mock
  let url: string
  beforeAll(async () => {
    mock = await startMockProvider()
    url = mock.url
  })
  afterAll(() => mock.close())

  describe('OpenAI chat completions', () => {
    it('answers JSON in the API shape, with usage consistent with the text', async () => {
      const { status, json, headers } = await postJson(`${url}/v1/chat/completions`, chatBody)
      expect(status).toBe(200)
      expect(headers.get('content-type')).toBe('application/json')
      expect(json).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini' })
      expect(json.id).toMatch(/^chatcmpl-/)
      const choice = json.choices[0]
      expect(choice).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant' } })
      expect(choice.message.content).toMatch(/^mock reply( \w+)+$/)
      const words = choice.message.content.split(' ').length
      expect(json.usage).toEqual({
        prompt_tokens: expect.any(Number),
        completion_tokens: words,
        total_tokens: json.usage.prompt_tokens + words,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: expect.objectContaining({ reasoning_tokens: 0 }),
      })
      expect(words).toBe(16)
      const chars = 'Be brief.'.length + 'Tell me about benchmarks, please.'.length
      expect(json.usage.prompt_tokens).toBe(Math.ceil(chars / 4))
    })

    it('is deterministic, and honours max_tokens (finish_reason length)', async () => {
      const a = await postJson(`${url}/v1/chat/completions`, chatBody)
      const b = await postJson(`${url}/v1/chat/completions`, chatBody)
      expect(a.json.choices[0].message.content).toBe(b.json.choices[0].message.content)
      const short = await postJson(`${url}/v1/chat/completions`, { ...chatBody, max_tokens: 5 })
      expect(short.json.choices[0].finish_reason).toBe('length')
      expect(short.json.usage.completion_tokens).toBe(5)
      expect(short.json.choices[0].message.content.split(' ')).toHaveLength(5)
      const capped = await postJson(`${url}/v1/chat/completions`, { ...chatBody, max_completion_tokens: 500 })
      expect(capped.json.usage.completion_tokens).toBe(16)
      expect(capped.json.choices[0].finish_reason).toBe('stop')
    })

    it('streams chunks without a usage chunk unless stream_options.include_usage is set', async () => {
      const plain = await postJson(`${url}/v1/chat/completions`, chatBody)
      const { events } = await postSse(`${url}/v1/chat/completions`, { ...chatBody, stream: true })
      expect(events.at(-1)?.data).toBe('[DONE]')
      const chunks = chatChunks(events)
      for (const chunk of chunks) {
        expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-4o-mini' })
        expect(chunk).not.toHaveProperty('usage')
        expect(chunk.choices).toHaveLength(1)
      }
      expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant', content: '' })
      expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' })
      const text = chunks.map((c) => c.choices[0].delta.content ?? '').join('')
      expect(text).toBe(plain.json.choices[0].message.content)
      expect(chunks.filter((c) => c.choices[0].delta.content)).toHaveLength(16)
    })

    it('adds a final usage chunk (choices: []) with include_usage, equal to the JSON usage', async () => {
      const plain = await postJson(`${url}/v1/chat/completions`, chatBody)
      const { events } = await postSse(`${url}/v1/chat/completions`, {
        ...chatBody,
        stream: true,
        stream_options: { include_usage: true },
      })
      expect(events.at(-1)?.data).toBe('[DONE]')
      const chunks = chatChunks(events)
      const last = chunks.at(-1)
      expect(last.choices).toEqual([])
      expect(last.usage).toEqual(plain.json.usage)
      for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull()
    })

    it('splits content into the configured number of chunks, with the same text and usage', async () => {
      const plain = await postJson(`${url}/v1/chat/completions`, chatBody)
      const { events } = await postSse(
        `${url}/v1/chat/completions`,
        { ...chatBody, stream: true, stream_options: { include_usage: true } },
        { ...OPENAI, 'x-mock-chunks': '4' },
      )
      const chunks = chatChunks(events)
      const content = chunks.filter((c) => c.choices[0]?.delta.content)
      expect(content).toHaveLength(4)
      expect(content.map((c) => c.choices[0].delta.content).join('')).toBe(
        plain.json.choices[0].message.content,
      )
      expect(chunks.at(-1).usage.completion_tokens).toBe(16)
    })

    it('answers with a tool call, whose streamed arguments reassemble into the same valid JSON', async () => {
      const body = {
        ...chatBody,
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherSchema } }],
      }
      const plain = await postJson(`${url}/v1/chat/completions`, body)
      const choice = plain.json.choices[0]
      expect(choice.finish_reason).toBe('tool_calls')
      expect(choice.message.content).toBeNull()
      const call = choice.message.tool_calls[0]
      expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } })
      expect(call.id).toMatch(/^call_/)
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'mock city', days: 42, unit: 'c' })

      const { events } = await postSse(`${url}/v1/chat/completions`, {
        ...body,
        stream: true,
        stream_options: { include_usage: true },
      })
      const chunks = chatChunks(events)
      const first = chunks[0].choices[0].delta.tool_calls[0]
      expect(first).toMatchObject({
        index: 0,
        type: 'function',
        function: { name: 'get_weather', arguments: '' },
      })
      const pieces = chunks
        .slice(1)
        .flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
        .map((t: Json) => t.function.arguments)
      expect(pieces.length).toBeGreaterThan(3)
      expect(() => JSON.parse(pieces[0])).toThrow()
      expect(pieces.join('')).toBe(call.function.arguments)
      expect(chunks.at(-2).choices[0].finish_reason).toBe('tool_calls')
      expect(chunks.at(-1).usage).toEqual(plain.json.usage)
      expect(plain.json.usage.completion_tokens).toBe(pieces.length)
    })

    it('does not call a tool when tool_choice is none, and picks the named tool', async () => {
      const tools = [
        { type: 'function', function: { name: 'a', parameters: { type: 'object', properties: {} } } },
        { type: 'function', function: { name: 'b', parameters: weatherSchema } },
      ]
      const none = await postJson(`${url}/v1/chat/completions`, { ...chatBody, tools, tool_choice: 'none' })
      expect(none.json.choices[0].message.content).toMatch(/^mock reply/)
      const named = await postJson(`${url}/v1/chat/completions`, {
        ...chatBody,
        tools,
        tool_choice: { type: 'function', function: { name: 'b' } },
      })
      expect(named.json.choices[0].message.tool_calls[0].function.name).toBe('b')
    })

    it('replies with a JSON object string in JSON mode', async () => {
      const body = { ...chatBody, response_format: { type: 'json_object' } }
      const plain = await postJson(`${url}/v1/chat/completions`, body)
      const content = plain.json.choices[0].message.content
      expect(JSON.parse(content)).toEqual({ reply: expect.stringMatching(/^mock reply/) })
      const { events } = await postSse(`${url}/v1/chat/completions`, { ...body, stream: true })
      const text = chatChunks(events)
        .map((c) => c.choices[0].delta.content ?? '')
        .join('')
      expect(text).toBe(content)
    })
  })

  describe('OpenAI chat completions with n choices', () => {
    it('answers n choices, each its own reply, prompt counted once and completions summed', async () => {
      const one = await postJson(`${url}/v1/chat/completions`, chatBody)
      const { status, json } = await postJson(`${url}/v1/chat/completions`, { ...chatBody, n: 3 })
      expect(status).toBe(200)
      expect(json.choices.map((c: Json) => c.index)).toEqual([0, 1, 2])
      const texts: string[] = json.choices.map((c: Json) => c.message.content)
      for (const choice of json.choices) {
        expect(choice).toMatchObject({ finish_reason: 'stop', message: { role: 'assistant' } })
        expect(choice.message.content).toMatch(/^mock reply( \w+)+$/)
      }
      expect(new Set(texts).size).toBe(3)
      expect(texts[0]).toBe(one.json.choices[0].message.content)
      const words = texts.reduce((sum, t) => sum + t.split(' ').length, 0)
      expect(words).toBe(3 * 16)
      expect(json.usage).toMatchObject({
        prompt_tokens: one.json.usage.prompt_tokens,
        completion_tokens: words,
        total_tokens: one.json.usage.prompt_tokens + words,
      })
      // n = 1 said out loud is the same answer as no n at all.
      const explicit = await postJson(`${url}/v1/chat/completions`, { ...chatBody, n: 1 })
      expect({ ...explicit.json, id: '', created: 0 }).toEqual({ ...one.json, id: '', created: 0 })
    })

    it('streams the choices interleaved, a finish_reason each, and the summed usage', async () => {
      const plain = await postJson(`${url}/v1/chat/completions`, { ...chatBody, n: 3 })
      const { events } = await postSse(`${url}/v1/chat/completions`, {
        ...chatBody,
        n: 3,
        stream: true,
        stream_options: { include_usage: true },
      })
      expect(events.at(-1)?.data).toBe('[DONE]')
      const chunks = chatChunks(events)
      const usage = chunks.at(-1)
      expect(usage.choices).toEqual([])
      expect(usage.usage).toEqual(plain.json.usage)
      const choiceChunks = chunks.slice(0, -1)
      for (const chunk of choiceChunks) {
        expect(chunk.choices).toHaveLength(1)
        expect(chunk.usage).toBeNull()
      }
      const contentIndexes = choiceChunks
        .filter((c) => c.choices[0].delta.content)
        .map((c) => c.choices[0].index)
      expect(contentIndexes).toHaveLength(3 * 16)
      expect(contentIndexes.slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2])
      for (const index of [0, 1, 2]) {
        const mine = choiceChunks.map((c) => c.choices[0]).filter((c) => c.index === index)
        expect(mine[0].delta).toMatchObject({ role: 'assistant', content: '' })
        expect(mine.map((c) => c.delta.content ?? '').join('')).toBe(
          plain.json.choices[index].message.content,
        )
        expect(mine.filter((c) => c.finish_reason !== null).map((c) => c.finish_reason)).toEqual(['stop'])
        expect(mine.at(-1).finish_reason).toBe('stop')
      }
    })

    it('rejects an n that is not an integer in 1..128 with a 400 naming n, as OpenAI does', async () => {
      const cases: Array<[unknown, string]> = [
        [0, 'integer_below_min_value'],
        [-2, 'integer_below_min_value'],
        [129, 'integer_above_max_value'],
        [2.5, 'invalid_type'],
        ['2', 'invalid_type'],
        [true, 'invalid_type'],
        [[2], 'invalid_type'],
      ]
      for (const [n, code] of cases) {
        for (const stream of [false, true]) {
          const { status, json, headers } = await postJson(`${url}/v1/chat/completions`, {
            ...chatBody,
            n,
            stream,
          })
          expect(status, JSON.stringify(n)).toBe(400)
          expect(headers.get('content-type')).toBe('application/json')
          expect(json).toEqual({
            error: {
              message: expect.stringContaining("'n'"),
              type: 'invalid_request_error',
              param: 'n',
              code,
            },
          })
        }
      }
      const most = await postJson(`${url}/v1/chat/completions`, { ...chatBody, n: 128, max_tokens: 2 })
      expect(most.status).toBe(200)
      expect(most.json.choices).toHaveLength(128)
      expect(most.json.usage.completion_tokens).toBe(256)
    })
  })

  describe('OpenAI responses, embeddings, models', () => {
    const body = { model: 'gpt-4.1', instructions: 'Be brief.', input: 'Tell me about benchmarks, please.' }

    it('answers /v1/responses in JSON', async () => {
      const { status, json } = await postJson(`${url}/v1/responses`, body)
      expect(status).toBe(200)
      expect(json).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4.1' })
      const message = json.output[0]
      expect(message).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' })
      expect(message.content[0]).toMatchObject({ type: 'output_text' })
      expect(json.usage).toEqual({
        input_tokens: Math.ceil(('Be brief.'.length + 'Tell me about benchmarks, please.'.length) / 4),
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 16,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: json.usage.input_tokens + 16,
      })
    })

    it('streams /v1/responses events, ending with response.completed carrying the same usage', async () => {
      const plain = await postJson(`${url}/v1/responses`, body)
      const { events } = await postSse(`${url}/v1/responses`, { ...body, stream: true })
      const types = events.map((e) => e.event)
      expect(types[0]).toBe('response.created')
      expect(types.at(-1)).toBe('response.completed')
      const data = events.map((e) => JSON.parse(e.data))
      data.forEach((d, i) => {
        expect(d.type).toBe(types[i])
        expect(d.sequence_number).toBe(i)
      })
      expect(data[0].response.usage).toBeNull()
      const deltas = data.filter((d) => d.type === 'response.output_text.delta').map((d) => d.delta)
      expect(deltas).toHaveLength(16)
      expect(deltas.join('')).toBe(plain.json.output[0].content[0].text)
      expect(data.at(-1).response.usage).toEqual(plain.json.usage)
      const { id: _, ...item } = plain.json.output[0]
      expect(data.at(-1).response.output).toEqual([{ id: expect.stringMatching(/^msg_/), ...item }])
    })

    it('reports a truncated response as incomplete (max_output_tokens)', async () => {
      const plain = await postJson(`${url}/v1/responses`, { ...body, max_output_tokens: 4 })
      expect(plain.json).toMatchObject({
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
      })
      expect(plain.json.usage.output_tokens).toBe(4)
      const { events } = await postSse(`${url}/v1/responses`, { ...body, max_output_tokens: 4, stream: true })
      const last = JSON.parse(events.at(-1)?.data ?? '{}')
      expect(last.type).toBe('response.incomplete')
      expect(last.response.usage).toEqual(plain.json.usage)
    })

    it('streams a function call through /v1/responses', async () => {
      const tools = [{ type: 'function', name: 'get_weather', parameters: weatherSchema }]
      const plain = await postJson(`${url}/v1/responses`, { ...body, tools })
      const call = plain.json.output[0]
      expect(call).toMatchObject({ type: 'function_call', name: 'get_weather' })
      const { events } = await postSse(`${url}/v1/responses`, { ...body, tools, stream: true })
      const data = events.map((e) => JSON.parse(e.data))
      const args = data.filter((d) => d.type === 'response.function_call_arguments.delta').map((d) => d.delta)
      expect(JSON.parse(args.join(''))).toEqual(JSON.parse(call.arguments))
      expect(data.at(-1).response.usage.output_tokens).toBe(args.length)
    })

    it('answers /v1/embeddings with floats or base64', async () => {
      const input = ['first text', 'second text']
      const { json } = await postJson(`${url}/v1/embeddings`, {
        model: 'text-embedding-3-small',
        input,
        dimensions: 8,
      })
      expect(json).toMatchObject({ object: 'list', model: 'text-embedding-3-small' })
      expect(json.data).toHaveLength(2)
      expect(json.data[1]).toMatchObject({ object: 'embedding', index: 1 })
      expect(json.data[0].embedding).toHaveLength(8)
      expect(json.usage).toEqual({ prompt_tokens: 3 + 3, total_tokens: 6 })
      const b64 = await postJson(`${url}/v1/embeddings`, {
        model: 'text-embedding-3-small',
        input,
        dimensions: 8,
        encoding_format: 'base64',
      })
      const floats = new Float32Array(
        new Uint8Array(Buffer.from(b64.json.data[0].embedding, 'base64')).buffer,
      )
      expect(Array.from(floats).map((v) => v.toFixed(5))).toEqual(
        json.data[0].embedding.map((v: number) => v.toFixed(5)),
      )
      const single = await postJson(`${url}/v1/embeddings`, { model: 'text-embedding-3-small', input: 'one' })
      expect(single.json.data[0].embedding).toHaveLength(1536)
    })

    it('lists models in the shape of the API asked', async () => {
      const openai = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k' } })
      expect(await openai.json()).toMatchObject({
        object: 'list',
        data: expect.arrayContaining([expect.any(Object)]),
      })
      const anthropic = await fetch(`${url}/v1/models`, {
        headers: { 'x-api-key': 'k', 'anthropic-version': '1' },
      })
      const list = (await anthropic.json()) as Json
      expect(list).toMatchObject({ has_more: false })
      expect(list.data[0]).toMatchObject({ type: 'model' })
    })
  })

  describe('Anthropic messages', () => {
    it('answers JSON in the API shape', async () => {
      const { status, json, headers } = await postJson(`${url}/v1/messages`, anthropicBody, ANTHROPIC)
      expect(status).toBe(200)
      expect(headers.get('request-id')).toMatch(/^req_/)
      expect(json).toMatchObject({
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        stop_reason: 'end_turn',
        stop_sequence: null,
      })
      expect(json.id).toMatch(/^msg_/)
      expect(json.content).toEqual([{ type: 'text', text: expect.stringMatching(/^mock reply/) }])
      expect(json.usage).toMatchObject({
        input_tokens: Math.ceil(('Be brief.'.length + 'Tell me about benchmarks, please.'.length) / 4),
        output_tokens: 16,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      })
    })

    it('streams the event sequence, with usage matching the JSON answer', async () => {
      const plain = await postJson(`${url}/v1/messages`, anthropicBody, ANTHROPIC)
      const { events } = await postSse(`${url}/v1/messages`, { ...anthropicBody, stream: true }, ANTHROPIC)
      const types = events.map((e) => e.event)
      expect(types.slice(0, 2)).toEqual(['message_start', 'content_block_start'])
      expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop'])
      const data = events.map((e) => JSON.parse(e.data))
      data.forEach((d, i) => {
        expect(d.type).toBe(types[i])
      })
      expect(data[0].message.usage.input_tokens).toBe(plain.json.usage.input_tokens)
      const deltas = data.filter((d) => d.type === 'content_block_delta')
      expect(deltas).toHaveLength(16)
      for (const d of deltas) expect(d.delta.type).toBe('text_delta')
      expect(deltas.map((d) => d.delta.text).join('')).toBe(plain.json.content[0].text)
      const messageDelta = data.find((d) => d.type === 'message_delta')
      expect(messageDelta.delta.stop_reason).toBe('end_turn')
      expect(messageDelta.usage.output_tokens).toBe(plain.json.usage.output_tokens)
    })

    it('stops with max_tokens when max_tokens is below the reply length', async () => {
      const { json } = await postJson(`${url}/v1/messages`, { ...anthropicBody, max_tokens: 3 }, ANTHROPIC)
      expect(json.stop_reason).toBe('max_tokens')
      expect(json.usage.output_tokens).toBe(3)
    })

    it('answers with tool_use, whose input_json_delta pieces reassemble into the same input', async () => {
      const body = { ...anthropicBody, tools: [{ name: 'get_weather', input_schema: weatherSchema }] }
      const plain = await postJson(`${url}/v1/messages`, body, ANTHROPIC)
      expect(plain.json.stop_reason).toBe('tool_use')
      const block = plain.json.content[0]
      expect(block).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'mock city' } })
      expect(block.id).toMatch(/^toolu_/)
      const { events } = await postSse(`${url}/v1/messages`, { ...body, stream: true }, ANTHROPIC)
      const data = events.map((e) => JSON.parse(e.data))
      expect(data[1].content_block).toMatchObject({ type: 'tool_use', name: 'get_weather', input: {} })
      const pieces = data
        .filter((d) => d.type === 'content_block_delta')
        .map((d) => {
          expect(d.delta.type).toBe('input_json_delta')
          return d.delta.partial_json
        })
      expect(pieces.length).toBeGreaterThan(3)
      expect(JSON.parse(pieces.join(''))).toEqual(block.input)
      const messageDelta = data.find((d) => d.type === 'message_delta')
      expect(messageDelta.delta.stop_reason).toBe('tool_use')
      expect(messageDelta.usage.output_tokens).toBe(plain.json.usage.output_tokens)
    })

    it('counts tokens like the messages usage', async () => {
      const plain = await postJson(`${url}/v1/messages`, anthropicBody, ANTHROPIC)
      const { status, json } = await postJson(`${url}/v1/messages/count_tokens`, anthropicBody, ANTHROPIC)
      expect(status).toBe(200)
      expect(json).toEqual({ input_tokens: plain.json.usage.input_tokens })
    })

    it('rejects a request without max_tokens, in the API shape', async () => {
      const { max_tokens: _, ...body } = anthropicBody
      const { status, json } = await postJson(`${url}/v1/messages`, body, ANTHROPIC)
      expect(status).toBe(400)
      expect(json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    })

    it('reports cached prompt tokens in both APIs (cachedTokens option or x-mock-cached-tokens)', async () => {
      const h = { 'x-mock-cached-tokens': '3' }
      const a = await postJson(`${url}/v1/messages`, anthropicBody, { ...ANTHROPIC, ...h })
      const total = Math.ceil(('Be brief.'.length + 'Tell me about benchmarks, please.'.length) / 4)
      expect(a.json.usage).toMatchObject({ input_tokens: total - 3, cache_read_input_tokens: 3 })
      const o = await postJson(`${url}/v1/chat/completions`, chatBody, { ...OPENAI, ...h })
      expect(o.json.usage).toMatchObject({
        prompt_tokens: total,
        prompt_tokens_details: { cached_tokens: 3 },
      })
    })
  })

  describe('auth', () => {
    it('answers 401 in each API shape without a key', async () => {
      const openai = await postJson(`${url}/v1/chat/completions`, chatBody, {
        'content-type': 'application/json',
      })
      expect(openai.status).toBe(401)
      expect(openai.json).toEqual({
        error: {
          message: expect.stringContaining('API key'),
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      })
      const anthropic = await postJson(`${url}/v1/messages`, anthropicBody, {
        'content-type': 'application/json',
      })
      expect(anthropic.status).toBe(401)
      expect(anthropic.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
    })

    it('accepts any key and records the last one and where it came from', async () => {
      await post(`${url}/v1/chat/completions`, chatBody, {
        ...OPENAI,
        authorization: 'Bearer sk-real-openai',
      })
      expect(mock.stats()).toMatchObject({ lastApiKey: 'sk-real-openai', lastAuthHeader: 'authorization' })
      await post(`${url}/v1/messages`, anthropicBody, { ...ANTHROPIC, 'x-api-key': 'sk-ant-real' })
      const stats = mock.stats()
      expect(stats).toMatchObject({ lastApiKey: 'sk-ant-real', lastAuthHeader: 'x-api-key' })
      expect(stats.lastRequest).toMatchObject({ method: 'POST', path: '/v1/messages', body: anthropicBody })
    })
  })

  describe('failure injection (x-mock-fail)', () => {
    it('replies status:<code> as an error in each API shape', async () => {
      const openai = await postJson(
        `${url}/v1/chat/completions`,
        { ...chatBody, stream: true },
        {
          ...OPENAI,
          'x-mock-fail': 'status:429',
        },
      )
      expect(openai.status).toBe(429)
      expect(openai.headers.get('retry-after')).toBe('1')
      expect(openai.json.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' })
      const anthropic = await postJson(`${url}/v1/messages`, anthropicBody, {
        ...ANTHROPIC,
        'x-mock-fail': 'status:529',
      })
      expect(anthropic.status).toBe(529)
      expect(anthropic.json).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } })
      const server = await postJson(
        `${url}/v1/responses`,
        { model: 'm', input: 'x' },
        {
          ...OPENAI,
          'x-mock-fail': 'status:500',
        },
      )
      expect(server.status).toBe(500)
      expect(server.json.error.type).toBe('server_error')
    })

    it('reset-before: destroys the socket before any byte', async () => {
      await expect(
        post(`${url}/v1/chat/completions`, chatBody, { ...OPENAI, 'x-mock-fail': 'reset-before' }),
      ).rejects.toThrow()
    })

    it('reset-mid: sends headers and some SSE chunks, then destroys the socket', async () => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...OPENAI, 'x-mock-fail': 'reset-mid' },
        body: JSON.stringify({ ...chatBody, stream: true }),
      })
      expect(res.status).toBe(200)
      const reader = (res.body as ReadableStream<Uint8Array>).getReader()
      let received = ''
      const decoder = new TextDecoder()
      await expect(
        (async () => {
          for (let i = 0; i < 1000; i++) {
            const { done, value } = await reader.read()
            if (done) return
            received += decoder.decode(value)
          }
        })(),
      ).rejects.toThrow()
      const chunks = chatChunks(parseSse(received))
      expect(chunks.length).toBeGreaterThan(1)
      expect(received).not.toContain('[DONE]')
      // A JSON answer is cut short too.
      await expect(
        post(`${url}/v1/chat/completions`, chatBody, { ...OPENAI, 'x-mock-fail': 'reset-mid' }),
      ).rejects.toThrow()
    })

    it('error-mid: sends an error event in the middle of a stream', async () => {
      const anthropic = await postSse(
        `${url}/v1/messages`,
        { ...anthropicBody, stream: true },
        {
          ...ANTHROPIC,
          'x-mock-fail': 'error-mid',
        },
      )
      const last = anthropic.events.at(-1)
      expect(last?.event).toBe('error')
      expect(JSON.parse(last?.data ?? '{}')).toMatchObject({
        type: 'error',
        error: { type: 'overloaded_error' },
      })
      expect(anthropic.events.some((e) => e.event === 'message_stop')).toBe(false)
      const openai = await postSse(
        `${url}/v1/chat/completions`,
        { ...chatBody, stream: true },
        {
          ...OPENAI,
          'x-mock-fail': 'error-mid',
        },
      )
      expect(JSON.parse(openai.events.at(-1)?.data ?? '{}')).toMatchObject({
        error: { type: 'server_error' },
      })
    })
  })

  it('counts requests and connections', async () => {
    mock.resetStats()
    await post(`${url}/v1/chat/completions`, chatBody)
    await post(`${url}/v1/messages`, anthropicBody, ANTHROPIC)
    const stats = mock.stats()
    expect(stats.requests).toBe(2)
    expect(stats.byRoute).toEqual({ 'POST /v1/chat/completions': 1, 'POST /v1/messages': 1 })
    expect(stats.byStatus).toEqual({ 200: 2 })
    expect(stats.openConnections).toBeGreaterThanOrEqual(1)
  })

  it('answers unknown routes 404 in the OpenAI shape', async () => {
    const { status, json } = await postJson(`${url}/v1/nope`, {})
    expect(status).toBe(404)
    expect(json.error.message).toContain('/v1/nope')
  })
})

describe('mock provider served totals (what a provider would bill)', () => {
  let mock: Mock
  beforeAll(async () => {
    mock = await startMockProvider()
  })
  beforeEach(() => mock.resetStats())
  afterAll(() => mock.close())

  const promptTokens = Math.ceil(('Be brief.'.length + 'Tell me about benchmarks, please.'.length) / 4)
  /** Waits until the mock has seen every response end (a cut stream is counted when its socket closes). */
  const settled = async () => {
    for (let i = 0; i < 500 && mock.stats().inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(mock.stats().inFlight).toBe(0)
  }

  it('counts complete JSON answers in full, by model; count_tokens is a request but not served', async () => {
    const chat = await postJson(`${mock.url}/v1/chat/completions`, chatBody)
    const chosen = await postJson(`${mock.url}/v1/chat/completions`, { ...chatBody, n: 2 })
    const claude = await postJson(`${mock.url}/v1/messages`, anthropicBody, ANTHROPIC)
    await postJson(`${mock.url}/v1/messages/count_tokens`, anthropicBody, ANTHROPIC)
    await postJson(`${mock.url}/v1/chat/completions`, chatBody, { ...OPENAI, 'x-mock-fail': 'status:500' })
    await postJson(`${mock.url}/v1/chat/completions`, { ...chatBody, n: 0 })
    const stats = mock.stats()
    expect(stats.served).toEqual({
      'gpt-4o-mini': {
        requests: 2,
        input_tokens: chat.json.usage.prompt_tokens + chosen.json.usage.prompt_tokens,
        output_tokens: chat.json.usage.completion_tokens + chosen.json.usage.completion_tokens,
      },
      'claude-haiku-4-5': {
        requests: 1,
        input_tokens: claude.json.usage.input_tokens,
        output_tokens: claude.json.usage.output_tokens,
      },
    })
    expect(stats.served['gpt-4o-mini']?.output_tokens).toBe(16 + 32)
    expect(stats.requests).toBe(6)
    expect(stats.byRoute['POST /v1/messages/count_tokens']).toBe(1)
    mock.resetStats()
    expect(mock.stats().served).toEqual({})
  })

  it('counts a complete stream as its usage, and a stream ended by an error as the pieces it wrote', async () => {
    const { events } = await postSse(`${mock.url}/v1/chat/completions`, {
      ...chatBody,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    })
    const usage = chatChunks(events).at(-1).usage
    await settled()
    expect(mock.stats().served).toEqual({
      'gpt-4o-mini': {
        requests: 1,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
      },
    })
    expect(usage.completion_tokens).toBe(32)
    mock.resetStats()
    const failed = await postSse(
      `${mock.url}/v1/messages`,
      { ...anthropicBody, stream: true },
      { ...ANTHROPIC, 'x-mock-fail': 'error-mid' },
    )
    const written = failed.events.filter((e) => e.event === 'content_block_delta').length
    expect(written).toBe(8)
    expect(mock.stats().served).toEqual({
      'claude-haiku-4-5': { requests: 1, input_tokens: promptTokens, output_tokens: written },
    })
  })

  it('counts a stream the client leaves after its first content chunk as the pieces written, prompt in full', async () => {
    // The next chunk is due long after the client has gone, so exactly one content piece is ever written.
    const controller = new AbortController()
    const res = await fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...OPENAI, 'x-mock-chunk-delay-ms': '60000', 'x-mock-output-tokens': '40' },
      body: JSON.stringify({ ...chatBody, stream: true, stream_options: { include_usage: true } }),
      signal: controller.signal,
    })
    expect(res.status).toBe(200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let received = ''
    const content = () =>
      chatChunks(parseSse(received.slice(0, received.lastIndexOf('\n\n') + 2))).filter(
        (c) => c.choices[0]?.delta.content,
      )
    while (content().length === 0) {
      const { done, value } = await reader.read()
      expect(done).toBe(false)
      received += decoder.decode(value, { stream: true })
    }
    controller.abort()
    await reader.cancel().catch(() => {})
    await settled()
    const served = mock.stats().served['gpt-4o-mini']
    expect(served).toEqual({ requests: 1, input_tokens: promptTokens, output_tokens: content().length })
    expect(served?.output_tokens).toBe(1)
    expect(served?.output_tokens).toBeLessThan(40)
  })
})

// Delays are checked by order, not by the clock: a delay of an hour never ends within a test, so whatever
// arrives did not wait for it, and whatever waits for it has not arrived.
const HOUR = 3_600_000
/** 'pending' while `promise` has not settled (checked once the microtasks before this call have run). */
const settledYet = <T>(promise: Promise<T>) => Promise.race([promise, Promise.resolve('pending' as const)])

describe('mock provider timing and close()', () => {
  it('waits latencyMs before the headers, unless x-mock-latency-ms says otherwise', async () => {
    const mock = await startMockProvider({ latencyMs: HOUR })
    const outcome = post(`${mock.url}/v1/chat/completions`, chatBody).then(
      (r) => r.status,
      () => 'failed',
    )
    const prompt = await post(`${mock.url}/v1/chat/completions`, chatBody, {
      ...OPENAI,
      'x-mock-latency-ms': '0',
    })
    expect(prompt.status).toBe(200)
    expect(await settledYet(outcome)).toBe('pending')
    expect(mock.stats().byStatus).toEqual({ 200: 1 })
    await mock.close()
    expect(await outcome).toBe('failed')
  })

  it('waits chunkDelayMs between content chunks, unless x-mock-chunk-delay-ms says otherwise', async () => {
    const mock = await startMockProvider({ chunkDelayMs: HOUR, outputTokens: 4 })
    const res = await fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST',
      headers: OPENAI,
      body: JSON.stringify({ ...chatBody, stream: true }),
    })
    expect(res.status).toBe(200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let received = ''
    while (!received.includes('"content":"mock"')) {
      const { done, value } = await reader.read()
      if (done) break
      received += decoder.decode(value, { stream: true })
    }
    // The first content chunk goes out at once; the next one waits an hour.
    expect(chatChunks(parseSse(received)).map((c) => c.choices[0].delta.content)).toEqual(['', 'mock'])
    const prompt = await postSse(
      `${mock.url}/v1/chat/completions`,
      { ...chatBody, stream: true },
      { ...OPENAI, 'x-mock-chunk-delay-ms': '0' },
    )
    expect(prompt.events.at(-1)?.data).toBe('[DONE]')
    const contents = chatChunks(prompt.events).map((c) => c.choices[0].delta.content)
    expect(contents).toHaveLength(6) // the role chunk, 4 content chunks, the finish chunk
    expect(contents.slice(0, 3)).toEqual(['', 'mock', ' reply'])
    await reader.cancel().catch(() => undefined)
    await mock.close()
  })

  it('hang: never answers, and close() ends the hanging request', async () => {
    const mock = await startMockProvider()
    const outcome = post(`${mock.url}/v1/chat/completions`, chatBody, {
      ...OPENAI,
      'x-mock-fail': 'hang',
    }).then(
      () => 'answered',
      () => 'failed',
    )
    for (let i = 0; i < 500 && mock.stats().inFlight === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(mock.stats().inFlight).toBe(1)
    // A request sent after the hanging one is answered; the hanging one is not.
    expect((await post(`${mock.url}/v1/chat/completions`, chatBody)).status).toBe(200)
    expect(await settledYet(outcome)).toBe('pending')
    expect(mock.stats()).toMatchObject({ requests: 2, byStatus: { 200: 1 }, inFlight: 1 })
    await mock.close()
    expect(await outcome).toBe('failed')
  })
})

describe('pass-through proxy and load driver', () => {
  let mock: Mock
  let proxy: Awaited<ReturnType<typeof startPassthrough>>
  beforeAll(async () => {
    mock = await startMockProvider()
    proxy = await startPassthrough({ upstream: mock.url })
  })
  afterAll(async () => {
    await proxy.close()
    await mock.close()
  })

  it('forwards requests and streams unchanged', async () => {
    const direct = await post(`${mock.url}/v1/messages`, { ...anthropicBody, stream: true }, ANTHROPIC)
    const proxied = await post(
      `${proxy.url}/v1/messages`,
      { ...anthropicBody, stream: true },
      {
        ...ANTHROPIC,
        'x-api-key': 'sk-through-proxy',
      },
    )
    const strip = (s: string) => s.replace(/msg_mock\d+/g, 'msg')
    expect(strip(proxied.text)).toBe(strip(direct.text))
    expect(mock.stats().lastApiKey).toBe('sk-through-proxy')
    const failed = await postJson(`${proxy.url}/v1/chat/completions`, chatBody, {
      ...OPENAI,
      'x-mock-fail': 'status:503',
    })
    expect(failed.status).toBe(503)
    expect(failed.json.error.type).toBe('server_error')
  })

  it('runLoad counts requests, errors and statuses, and times them', async () => {
    const result = await runLoad({
      url: proxy.url,
      path: '/v1/chat/completions',
      body: (i: number) => ({ ...chatBody, max_tokens: 1 + (i % 4) }),
      headers: { authorization: 'Bearer k' },
      concurrency: 4,
      requests: 200,
      warmup: 20,
      stream: true,
      check: (_status: number, body: Buffer) => body.toString().endsWith('data: [DONE]\n\n'),
    })
    expect(result).toMatchObject({ count: 200, ok: 200, errors: 0, statusCounts: { 200: 200 } })
    expect(result.latency.n).toBe(200)
    expect(result.latency.p50).toBeGreaterThan(0)
    expect(result.ttfb.p50).toBeLessThanOrEqual(result.latency.p50)
    expect(result.rps).toBeGreaterThan(0)
    const failing = await runLoad({
      url: mock.url,
      path: '/v1/chat/completions',
      body: chatBody,
      headers: { authorization: 'Bearer k', 'x-mock-fail': 'status:500' },
      requests: 10,
    })
    expect(failing).toMatchObject({ count: 10, ok: 0, errors: 10, statusCounts: { 500: 10 } })
    const reset = await runLoad({
      url: mock.url,
      path: '/v1/chat/completions',
      body: chatBody,
      headers: { authorization: 'Bearer k', 'x-mock-fail': 'reset-before' },
      requests: 3,
    })
    expect(reset).toMatchObject({ count: 3, errors: 3 })
  })
})
