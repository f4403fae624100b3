import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ApiKind, inputTexts, type Json } from './apis.js'
import { countInputTokens } from './tokenizer.js'
import { localResponse, type UpstreamResponse } from './upstream.js'

const WORDS = (
  'the agent reviewed the request and found a clear answer based on the data provided so far it suggests ' +
  'checking the account settings then retrying the last step while keeping a record of each change for audit'
).split(' ')

export interface MockOptions {
  /** Pause between streamed chunks, to look like a real model in demos. */
  chunkDelayMs?: number
}

/**
 * The built-in `mock` provider: answers in-process, in each API's shape, with a deterministic reply and
 * realistic usage (input counted like the gateway counts it, one token per output word).
 */
export function mockRespond(
  api: ApiKind,
  body: Json,
  maxOutput: number,
  options: MockOptions = {},
): UpstreamResponse {
  const model = String(body.model)
  const input = countInputTokens(inputTexts(api, body), model, 'mock').tokens
  if (api === 'anthropic-count-tokens') return json({ input_tokens: input })
  if (api === 'openai-embeddings') {
    const inputs = Array.isArray(body.input) ? body.input : [body.input]
    return json({
      object: 'list',
      model,
      data: inputs.map((_, index) => ({
        object: 'embedding',
        index,
        embedding: vector(String(inputs[index])),
      })),
      usage: { prompt_tokens: input, total_tokens: input },
    })
  }
  const seed = createHash('sha256')
    .update(JSON.stringify(body.messages ?? body.input ?? ''))
    .digest()
  const length = Math.max(1, Math.min(maxOutput, 12 + (seed[0]! % 40)))
  const words = Array.from({ length }, (_, i) => WORDS[(seed[i % seed.length]! + i) % WORDS.length]!)
  const id = `mock-${seed.toString('hex').slice(0, 12)}`
  const created = Math.floor(Date.now() / 1000)
  const text = words.join(' ')
  const stream = body.stream === true
  const delay = options.chunkDelayMs ?? 0
  const chunks = (size: number) => {
    const out: string[] = []
    for (let i = 0; i < words.length; i += size) out.push((i ? ' ' : '') + words.slice(i, i + size).join(' '))
    return out
  }

  if (api === 'anthropic-messages') {
    const usage = { input_tokens: input, output_tokens: length }
    if (!stream) {
      return json({
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage,
      })
    }
    return sse(
      (async function* () {
        yield event('message_start', {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: input, output_tokens: 1 },
          },
        })
        yield event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        })
        for (const piece of chunks(3)) {
          if (delay) await sleep(delay)
          yield event('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: piece },
          })
        }
        yield event('content_block_stop', { type: 'content_block_stop', index: 0 })
        yield event('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: length },
        })
        yield event('message_stop', { type: 'message_stop' })
      })(),
    )
  }

  if (api === 'openai-responses') {
    const usage = {
      input_tokens: input,
      output_tokens: length,
      total_tokens: input + length,
      input_tokens_details: { cached_tokens: 0 },
    }
    const response = {
      id,
      object: 'response',
      created_at: created,
      model,
      status: 'completed',
      output: [
        {
          type: 'message',
          id: `msg_${id}`,
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text, annotations: [] }],
        },
      ],
      usage,
    }
    if (!stream) return json(response)
    return sse(
      (async function* () {
        yield event('response.created', {
          type: 'response.created',
          response: { ...response, status: 'in_progress', output: [], usage: null },
        })
        for (const piece of chunks(3)) {
          if (delay) await sleep(delay)
          yield event('response.output_text.delta', {
            type: 'response.output_text.delta',
            item_id: `msg_${id}`,
            output_index: 0,
            content_index: 0,
            delta: piece,
          })
        }
        yield event('response.completed', { type: 'response.completed', response })
      })(),
    )
  }

  // `n` choices, each the same reply (a mock needs no variety), each billed.
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1
  const indexes = Array.from({ length: n }, (_, index) => index)
  const usage = {
    prompt_tokens: input,
    completion_tokens: length * n,
    total_tokens: input + length * n,
    prompt_tokens_details: { cached_tokens: 0 },
  }
  if (!stream) {
    return json({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: indexes.map((index) => ({
        index,
        message: { role: 'assistant', content: text },
        finish_reason: 'stop',
      })),
      usage,
    })
  }
  const includeUsage = (body.stream_options as Json | undefined)?.include_usage === true
  return sse(
    (async function* () {
      const base = { id, object: 'chat.completion.chunk', created, model }
      const each = (delta: Json, finish: string | null) =>
        data({ ...base, choices: indexes.map((index) => ({ index, delta, finish_reason: finish })) })
      yield each({ role: 'assistant', content: '' }, null)
      for (const piece of chunks(3)) {
        if (delay) await sleep(delay)
        yield each({ content: piece }, null)
      }
      yield each({}, 'stop')
      if (includeUsage) yield data({ ...base, choices: [], usage })
      yield 'data: [DONE]\n\n'
    })(),
  )
}

const json = (body: Json) => localResponse(200, 'application/json', JSON.stringify(body))
const sse = (events: AsyncIterable<string>) => localResponse(200, 'text/event-stream', events)
const data = (payload: Json) => `data: ${JSON.stringify(payload)}\n\n`
const event = (name: string, payload: Json) => `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`

function vector(text: string): number[] {
  const hash = createHash('sha256').update(text).digest()
  return Array.from({ length: 8 }, (_, i) => (hash[i]! - 128) / 128)
}
