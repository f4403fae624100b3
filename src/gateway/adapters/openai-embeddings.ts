import { createHash } from 'node:crypto'
import { errorOf, isObject, jsonAnswer, num, readModel } from './shared.js'
import type { ApiAdapter, StreamReader } from './types.js'

function vector(text: string): number[] {
  const hash = createHash('sha256').update(text).digest()
  return Array.from({ length: 8 }, (_, i) => (hash[i]! - 128) / 128)
}

const NO_STREAM: StreamReader = { usage: undefined, partialInput: undefined, event: () => 'keep' }

/** `POST /v1/embeddings`: input only (text, or token ids), no output to bound. */
export const openaiEmbeddings: ApiAdapter = {
  kind: 'openai-embeddings',
  family: 'openai',
  route: '/v1/embeddings',
  upstreamPath: '/embeddings',
  asksStreamUsage: false,

  read(body) {
    const bad = readModel(body)
    if (bad) return bad
    if (body.input === undefined) return "the request has no 'input'"
    return {
      model: body.model as string,
      stream: false,
      maxOutput: undefined,
      producesOutput: false,
      choices: 1,
      billable: true,
    }
  },

  maxOutputField: () => undefined,

  walkRequest(c, body) {
    // Several inputs are each billed; token ids (an array of numbers, or of such arrays) are one token each.
    if (typeof body.input === 'string') c.text(['input'], body.input)
    else if (Array.isArray(body.input)) {
      body.input.forEach((value, i) => {
        if (typeof value === 'string') c.text(['input', i], value)
        else if (typeof value === 'number') c.tokenIds(1)
        else if (Array.isArray(value)) c.tokenIds(value.filter((id) => typeof id === 'number').length)
      })
    }
  },

  walkResponse() {},

  usageFromJson(body) {
    if (!isObject(body.usage)) return undefined
    return {
      input_tokens: num(body.usage.prompt_tokens),
      output_tokens: 0,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
    }
  },

  streamReader: () => NO_STREAM,
  redactStreamEvent: (type, json) => [{ type, json }],
  error: (status, code, message) => errorOf('openai', status, code, message),

  mock(body, reply) {
    const inputs = Array.isArray(body.input) ? body.input : [body.input]
    return jsonAnswer({
      object: 'list',
      model: reply.model,
      data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: vector(String(input)) })),
      usage: { prompt_tokens: reply.input, total_tokens: reply.input },
    })
  },
}
