import type { PathSegment, TextSink } from '../../safety/index.js'
import {
  countedDefinitions,
  errorOf,
  isObject,
  jsonAnswer,
  num,
  openAiContent,
  readMaxOutput,
  readModel,
  sseAnswer,
  sseEvent,
} from './shared.js'
import type { ApiAdapter, Json, StreamReader, Usage } from './types.js'

function usageOf(usage: Json): Usage {
  return {
    input_tokens: num(usage.input_tokens),
    output_tokens: num(usage.output_tokens),
    cached_input_tokens: num((usage.input_tokens_details as Json | undefined)?.cached_tokens),
    cache_write_tokens: 0,
  }
}

/** One item of a Responses API `input` or `output` list. */
function item(c: TextSink, path: PathSegment[], value: unknown): void {
  if (typeof value === 'string') {
    c.text(path, value)
    return
  }
  if (!isObject(value)) return
  const type = value.type
  if ('content' in value && (type === undefined || type === 'message'))
    openAiContent(c, [...path, 'content'], value.content)
  if (type === 'function_call' || type === 'mcp_call') c.text([...path, 'arguments'], value.arguments, 'json')
  if (type === 'custom_tool_call') c.text([...path, 'input'], value.input)
  if (
    type === 'function_call_output' ||
    type === 'custom_tool_call_output' ||
    type === 'local_shell_call_output' ||
    type === 'mcp_call'
  ) {
    openAiContent(c, [...path, 'output'], value.output)
  }
}

const STREAM_DELTAS = new Set(['response.output_text.delta', 'response.function_call_arguments.delta'])

/** `POST /v1/responses`: OpenAI's Responses API. */
export const openaiResponses: ApiAdapter = {
  kind: 'openai-responses',
  family: 'openai',
  route: '/v1/responses',
  upstreamPath: '/responses',
  asksStreamUsage: false,

  read(body) {
    const bad = readModel(body)
    if (bad) return bad
    const maxOutput = readMaxOutput(body, ['max_output_tokens'])
    if (typeof maxOutput === 'string') return maxOutput
    if (body.input === undefined) return "the request has no 'input'"
    return {
      model: body.model as string,
      stream: body.stream === true,
      maxOutput,
      producesOutput: true,
      choices: 1,
      billable: true,
    }
  },

  maxOutputField: () => 'max_output_tokens',

  walkRequest(c, body) {
    c.text(['instructions'], body.instructions)
    if (typeof body.input === 'string') c.text(['input'], body.input)
    else if (Array.isArray(body.input))
      for (const [i, value] of body.input.entries()) item(c, ['input', i], value)
    countedDefinitions(c, body, ['tools', 'text'])
  },

  walkResponse(c, body) {
    if (Array.isArray(body.output))
      for (const [i, value] of body.output.entries()) item(c, ['output', i], value)
  },

  usageFromJson(body) {
    return isObject(body.usage) ? usageOf(body.usage) : undefined
  },

  streamReader(): StreamReader {
    let usage: Usage | undefined
    return {
      get usage() {
        return usage
      },
      partialInput: undefined,
      event(type, json, produced) {
        const name = type || String(json.type ?? '')
        if (STREAM_DELTAS.has(name) && typeof json.delta === 'string') produced(json.delta)
        else if (
          name === 'response.completed' ||
          name === 'response.incomplete' ||
          name === 'response.failed'
        ) {
          const response = json.response
          if (isObject(response) && isObject(response.usage)) usage = usageOf(response.usage)
        }
        return name === 'response.completed' || name === 'response.incomplete' ? 'hold' : 'keep'
      },
    }
  },

  redactStreamEvent(type, json, fw) {
    const name = type || String(json.type ?? '')
    const delta = typeof json.delta === 'string' ? json.delta : undefined
    const key = `${json.item_id ?? json.output_index}:${json.content_index ?? 0}`
    if (delta !== undefined && STREAM_DELTAS.has(name)) {
      json.delta = fw.push(key, delta, (text) => ({ type, json: { ...json, delta: text } }))
      return fw.blocked ? [] : [{ type, json }]
    }
    if (name === 'response.output_text.done' || name === 'response.function_call_arguments.done') {
      const flushed = fw.end(key)
      const field = name === 'response.output_text.done' ? 'text' : 'arguments'
      if (typeof json[field] === 'string') json[field] = fw.whole(json[field] as string)
      return fw.blocked ? [] : [...flushed, { type, json }]
    }
    if (name === 'response.content_part.done' && isObject(json.part) && typeof json.part.text === 'string') {
      json.part = { ...json.part, text: fw.whole(json.part.text) }
      return fw.blocked ? [] : [{ type, json }]
    }
    if (name === 'response.output_item.done' && isObject(json.item)) {
      const redacted = fw.response({ output: [json.item] })
      if (!redacted) return []
      return [{ type, json: { ...json, item: (redacted.output as unknown[])[0] } }]
    }
    if (name === 'response.completed' || name === 'response.incomplete') {
      // The final event repeats the whole output: redacted the same way as a non-streamed response.
      const flushed = fw.flush()
      if (!isObject(json.response)) return fw.blocked ? [] : [...flushed, { type, json }]
      const response = fw.response(json.response)
      if (!response) return []
      return [...flushed, { type, json: { ...json, response } }]
    }
    return [{ type, json }]
  },

  error: (status, code, message) => errorOf('openai', status, code, message),

  mock(_body, reply) {
    const itemId = `msg_${reply.id}`
    const part = { type: 'output_text', text: reply.text, annotations: [] }
    const message = { type: 'message', id: itemId, status: 'completed', role: 'assistant', content: [part] }
    const response = {
      id: reply.id,
      object: 'response',
      created_at: reply.created,
      model: reply.model,
      status: 'completed',
      output: [message],
      usage: {
        input_tokens: reply.input,
        output_tokens: reply.length,
        total_tokens: reply.input + reply.length,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
    }
    if (!reply.stream) return jsonAnswer(response)
    // The whole event sequence OpenAI sends, so that SDK stream helpers can rebuild the output from it.
    return sseAnswer(
      (async function* () {
        let sequence = 0
        const emit = (type: string, data: Json) =>
          sseEvent(type, { type, sequence_number: sequence++, ...data })
        const at = { item_id: itemId, output_index: 0, content_index: 0 }
        const pending = { ...response, status: 'in_progress', output: [], usage: null }
        yield emit('response.created', { response: pending })
        yield emit('response.in_progress', { response: pending })
        yield emit('response.output_item.added', {
          output_index: 0,
          item: { ...message, status: 'in_progress', content: [] },
        })
        yield emit('response.content_part.added', { ...at, part: { ...part, text: '' } })
        for (const piece of reply.chunks(3)) {
          await reply.pause()
          yield emit('response.output_text.delta', { ...at, delta: piece, logprobs: [] })
        }
        yield emit('response.output_text.done', { ...at, text: reply.text, logprobs: [] })
        yield emit('response.content_part.done', { ...at, part })
        yield emit('response.output_item.done', { output_index: 0, item: message })
        yield emit('response.completed', { response })
      })(),
    )
  },
}
