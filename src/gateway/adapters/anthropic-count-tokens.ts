import { walkAnthropicRequest } from './anthropic-messages.js'
import { errorOf, jsonAnswer, num, readModel } from './shared.js'
import type { ApiAdapter, StreamReader } from './types.js'

const NO_STREAM: StreamReader = { usage: undefined, partialInput: undefined, event: () => 'keep' }

/** `POST /v1/messages/count_tokens`: the messages body, answered with a count; providers do not bill it. */
export const anthropicCountTokens: ApiAdapter = {
  kind: 'anthropic-count-tokens',
  family: 'anthropic',
  route: '/v1/messages/count_tokens',
  upstreamPath: '/v1/messages/count_tokens',
  asksStreamUsage: false,

  read(body) {
    const bad = readModel(body)
    if (bad) return bad
    if (!Array.isArray(body.messages)) return "'messages' must be a list"
    return {
      model: body.model as string,
      stream: false,
      maxOutput: undefined,
      producesOutput: false,
      choices: 1,
      billable: false,
    }
  },

  maxOutputField: () => undefined,
  // The input firewall checks what is counted as it checks what is sent: the same body.
  walkRequest: walkAnthropicRequest,
  walkResponse() {},

  usageFromJson(body) {
    if (typeof body.input_tokens !== 'number') return undefined
    return {
      input_tokens: num(body.input_tokens),
      output_tokens: 0,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
    }
  },

  streamReader: () => NO_STREAM,
  redactStreamEvent: (type, json) => [{ type, json }],
  error: (status, code, message) => errorOf('anthropic', status, code, message),
  mock: (_body, reply) => jsonAnswer({ input_tokens: reply.input }),
}
