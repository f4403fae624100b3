import type { PathSegment } from '../../safety/index.js'
import {
  countedDefinitions,
  errorOf,
  isObject,
  jsonAnswer,
  num,
  openAiContent,
  openAiToolCalls,
  readMaxOutput,
  readModel,
  sseAnswer,
  sseData,
} from './shared.js'
import type { ApiAdapter, Json, SseEvent, StreamReader, Usage } from './types.js'

/** OpenAI's own bound on `n`; a larger number is refused before anything is reserved. */
export const MAX_CHOICES = 128

function usageOf(usage: Json): Usage {
  return {
    input_tokens: num(usage.prompt_tokens),
    output_tokens: num(usage.completion_tokens),
    cached_input_tokens: num((usage.prompt_tokens_details as Json | undefined)?.cached_tokens),
    cache_write_tokens: 0,
  }
}

/** `POST /v1/chat/completions`: OpenAI's chat API, which OpenAI-compatible servers speak too. */
export const openaiChat: ApiAdapter = {
  kind: 'openai-chat',
  family: 'openai',
  route: '/v1/chat/completions',
  upstreamPath: '/chat/completions',
  asksStreamUsage: true,

  read(body) {
    const bad = readModel(body)
    if (bad) return bad
    const maxOutput = readMaxOutput(body, ['max_completion_tokens', 'max_tokens'])
    if (typeof maxOutput === 'string') return maxOutput
    if (!Array.isArray(body.messages)) return "'messages' must be a list"
    // Every choice is billed: `n` completions, and `best_of`, which OpenAI-compatible servers such as vLLM
    // generate and bill before returning `n`.
    let choices = 1
    for (const field of ['n', 'best_of']) {
      const value = body[field]
      if (value === undefined || value === null) continue
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_CHOICES)
        return `'${field}' must be a whole number from 1 to ${MAX_CHOICES}`
      choices = Math.max(choices, value)
    }
    return {
      model: body.model as string,
      stream: body.stream === true,
      maxOutput,
      producesOutput: true,
      choices,
      billable: true,
    }
  },

  maxOutputField: (providerKind) => (providerKind === 'openai' ? 'max_completion_tokens' : 'max_tokens'),

  walkRequest(c, body) {
    if (Array.isArray(body.messages)) {
      body.messages.forEach((msg, i) => {
        if (!isObject(msg)) return
        const path: PathSegment[] = ['messages', i]
        openAiContent(c, [...path, 'content'], msg.content)
        c.text([...path, 'refusal'], msg.refusal)
        openAiToolCalls(c, path, msg)
      })
    }
    countedDefinitions(c, body, ['tools', 'functions', 'response_format'])
  },

  walkResponse(c, body) {
    if (!Array.isArray(body.choices)) return
    body.choices.forEach((choice, i) => {
      if (!isObject(choice) || !isObject(choice.message)) return
      const path: PathSegment[] = ['choices', i, 'message']
      openAiContent(c, [...path, 'content'], choice.message.content)
      c.text([...path, 'refusal'], choice.message.refusal)
      openAiToolCalls(c, path, choice.message)
    })
  },

  usageFromJson(body) {
    return isObject(body.usage) ? usageOf(body.usage) : undefined
  },

  streamReader(hideUsageChunk): StreamReader {
    let usage: Usage | undefined
    return {
      get usage() {
        return usage
      },
      partialInput: undefined,
      event(_type, json, produced) {
        const choices = json.choices as
          | Array<{
              delta?: { content?: unknown; tool_calls?: Array<{ function?: { arguments?: unknown } }> }
            }>
          | undefined
        if (Array.isArray(choices)) {
          for (const choice of choices) {
            const delta = choice?.delta
            if (typeof delta?.content === 'string') produced(delta.content)
            for (const call of Array.isArray(delta?.tool_calls) ? delta.tool_calls : [])
              if (typeof call?.function?.arguments === 'string') produced(call.function.arguments)
          }
        }
        if (isObject(json.usage)) {
          usage = usageOf(json.usage)
          if (hideUsageChunk && Array.isArray(choices) && choices.length === 0) return 'drop'
        }
        return 'keep'
      },
    }
  },

  redactStreamEvent(type, json, fw) {
    const choices = json.choices as Array<Json> | undefined
    if (!Array.isArray(choices)) return [{ type, json }]
    const before: SseEvent[] = []
    for (const choice of choices) {
      if (!isObject(choice)) continue
      const index = Number(choice.index ?? 0)
      const delta = choice.delta as Json | undefined
      const base = { id: json.id, object: json.object, created: json.created, model: json.model }
      if (typeof delta?.content === 'string') {
        delta.content = fw.push(`c${index}`, delta.content, (text) => ({
          type,
          json: { ...base, choices: [{ index, delta: { content: text }, finish_reason: null }] },
        }))
      }
      const calls = delta?.tool_calls as Array<Json> | undefined
      for (const call of Array.isArray(calls) ? calls : []) {
        const fn = call?.function as Json | undefined
        if (typeof fn?.arguments !== 'string') continue
        const callIndex = Number(call.index ?? 0)
        fn.arguments = fw.push(`t${index}.${callIndex}`, fn.arguments, (text) => ({
          type,
          json: {
            ...base,
            choices: [
              {
                index,
                delta: { tool_calls: [{ index: callIndex, function: { arguments: text } }] },
                finish_reason: null,
              },
            ],
          },
        }))
      }
      // Held text goes out before the chunk that finishes its choice.
      if (choice.finish_reason) {
        for (const key of [`c${index}`, ...fw.keysStarting(`t${index}.`)]) before.push(...fw.end(key))
      }
    }
    return fw.blocked ? [] : [...before, { type, json }]
  },

  error: (status, code, message) => errorOf('openai', status, code, message),

  mock(body, reply) {
    // `n` choices, each the same reply (a mock needs no variety), each billed.
    const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1
    const indexes = Array.from({ length: n }, (_, index) => index)
    const usage = {
      prompt_tokens: reply.input,
      completion_tokens: reply.length * n,
      total_tokens: reply.input + reply.length * n,
      prompt_tokens_details: { cached_tokens: 0 },
    }
    const { id, created, model } = reply
    if (!reply.stream) {
      return jsonAnswer({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: indexes.map((index) => ({
          index,
          message: { role: 'assistant', content: reply.text },
          finish_reason: 'stop',
        })),
        usage,
      })
    }
    return sseAnswer(
      (async function* () {
        const base = { id, object: 'chat.completion.chunk', created, model }
        const each = (delta: Json, finish: string | null) =>
          sseData({ ...base, choices: indexes.map((index) => ({ index, delta, finish_reason: finish })) })
        yield each({ role: 'assistant', content: '' }, null)
        for (const piece of reply.chunks(3)) {
          await reply.pause()
          yield each({ content: piece }, null)
        }
        yield each({}, 'stop')
        if (reply.includeUsage) yield sseData({ ...base, choices: [], usage })
        yield 'data: [DONE]\n\n'
      })(),
    )
  },
}
