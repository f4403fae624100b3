import type { PathSegment, TextSink } from '../../safety/index.js'
import {
  anthropicUsage,
  countedDefinitions,
  errorOf,
  isObject,
  jsonAnswer,
  readMaxOutput,
  readModel,
  sseAnswer,
  sseEvent,
} from './shared.js'
import type { ApiAdapter, Json, StreamReader, Usage } from './types.js'

/** Anthropic text-ish blocks (text, tool inputs and results, the text inside documents and search results). */
function blocks(c: TextSink, path: PathSegment[], value: unknown): void {
  if (typeof value === 'string') {
    c.text(path, value)
    return
  }
  if (!Array.isArray(value)) return
  value.forEach((block, j) => {
    if (!isObject(block)) return
    const p = [...path, j]
    switch (block.type) {
      case 'text':
        c.text([...p, 'text'], block.text)
        break
      case 'tool_use':
      case 'server_tool_use':
        c.object([...p, 'input'], block.input)
        break
      case 'tool_result':
        blocks(c, [...p, 'content'], block.content)
        break
      case 'document':
        if (isObject(block.source)) {
          if (block.source.type === 'text') c.text([...p, 'source', 'data'], block.source.data)
          else if (block.source.type === 'content' && p.length < 8)
            blocks(c, [...p, 'source', 'content'], block.source.content)
        }
        break
      case 'search_result':
        if (p.length < 8) blocks(c, [...p, 'content'], block.content)
        break
      default:
        // image, thinking / redacted_thinking (signed: editing them would make the API reject the request), ...
        break
    }
  })
}

/** The request side of Anthropic's messages API, shared with token counting (the same body). */
export function walkAnthropicRequest(c: TextSink, body: Json): void {
  blocks(c, ['system'], body.system)
  if (Array.isArray(body.messages)) {
    body.messages.forEach((msg, i) => {
      if (isObject(msg)) blocks(c, ['messages', i, 'content'], msg.content)
    })
  }
  countedDefinitions(c, body, ['tools'])
}

/** `POST /v1/messages`: Anthropic's messages API. */
export const anthropicMessages: ApiAdapter = {
  kind: 'anthropic-messages',
  family: 'anthropic',
  route: '/v1/messages',
  upstreamPath: '/v1/messages',
  asksStreamUsage: false,

  read(body) {
    const bad = readModel(body)
    if (bad) return bad
    const maxOutput = readMaxOutput(body, ['max_tokens'])
    if (typeof maxOutput === 'string') return maxOutput
    if (!maxOutput) return "'max_tokens' is required"
    if (!Array.isArray(body.messages)) return "'messages' must be a list"
    return {
      model: body.model as string,
      stream: body.stream === true,
      maxOutput,
      producesOutput: true,
      choices: 1,
      billable: true,
    }
  },

  maxOutputField: () => 'max_tokens',
  walkRequest: walkAnthropicRequest,

  walkResponse(c, body) {
    blocks(c, ['content'], body.content)
  },

  usageFromJson(body) {
    return isObject(body.usage) ? anthropicUsage(body.usage) : undefined
  },

  streamReader(): StreamReader {
    let input: Usage | undefined
    let output: number | undefined
    return {
      get usage() {
        return input && output !== undefined ? { ...input, output_tokens: output } : undefined
      },
      get partialInput() {
        return input
      },
      event(type, json, produced) {
        const name = type || String(json.type ?? '')
        if (name === 'message_start') {
          const usage = (json.message as Json | undefined)?.usage
          if (isObject(usage)) input = anthropicUsage(usage)
        } else if (name === 'content_block_delta') {
          const delta = json.delta as Json | undefined
          if (typeof delta?.text === 'string') produced(delta.text)
          else if (typeof delta?.partial_json === 'string') produced(delta.partial_json)
          else if (typeof delta?.thinking === 'string') produced(delta.thinking)
        } else if (name === 'message_delta') {
          const usage = json.usage as Json | undefined
          if (typeof usage?.output_tokens === 'number') output = anthropicUsage(usage).output_tokens
        }
        return name === 'message_stop' ? 'hold' : 'keep'
      },
    }
  },

  redactStreamEvent(type, json, fw) {
    const index = Number(json.index ?? 0)
    if (type === 'content_block_delta') {
      const delta = json.delta as Json
      const field =
        typeof delta?.text === 'string'
          ? 'text'
          : typeof delta?.partial_json === 'string'
            ? 'partial_json'
            : undefined
      if (!field) return [{ type, json }]
      delta[field] = fw.push(`b${index}`, delta[field] as string, (text) => ({
        type,
        json: { type: 'content_block_delta', index, delta: { type: delta.type, [field]: text } },
      }))
      return fw.blocked ? [] : [{ type, json }]
    }
    if (type === 'content_block_stop') {
      const flushed = fw.end(`b${index}`)
      return fw.blocked ? [] : [...flushed, { type, json }]
    }
    return [{ type, json }]
  },

  error: (status, code, message) => errorOf('anthropic', status, code, message),

  mock(_body, reply) {
    const usage = { input_tokens: reply.input, output_tokens: reply.length }
    const message = {
      id: reply.id,
      type: 'message',
      role: 'assistant',
      model: reply.model,
      content: [{ type: 'text', text: reply.text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage,
    }
    if (!reply.stream) return jsonAnswer(message)
    return sseAnswer(
      (async function* () {
        yield sseEvent('message_start', {
          type: 'message_start',
          message: {
            ...message,
            content: [],
            stop_reason: null,
            usage: { input_tokens: reply.input, output_tokens: 1 },
          },
        })
        yield sseEvent('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        })
        for (const piece of reply.chunks(3)) {
          await reply.pause()
          yield sseEvent('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: piece },
          })
        }
        yield sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 })
        yield sseEvent('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: reply.length },
        })
        yield sseEvent('message_stop', { type: 'message_stop' })
      })(),
    )
  },
}
