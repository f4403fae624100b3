import {
  type Category,
  type EvaluatedFinding,
  redactResponse,
  type SafetyPolicy,
  StreamRedactor,
} from '../safety/index.js'
import type { ApiKind, Json } from './apis.js'

/** One SSE event as the gateway writes it: an optional `event:` name and its JSON data. */
export interface SseEvent {
  type: string
  json: Json
}

/**
 * The output firewall on a stream: each piece of generated text (content deltas, tool-call argument
 * deltas, per choice or content block) goes through its own streaming redactor, and the event carrying it
 * is rewritten with what may be sent now. Text held back to catch a secret split across chunks is sent
 * before the event that closes its block or choice, so the SSE framing and the order of events are kept.
 */
export class StreamFirewall {
  readonly findings: EvaluatedFinding[] = []
  blocked: Category[] | undefined
  readonly #redactors = new Map<string, { redactor: StreamRedactor; template: (text: string) => SseEvent }>()

  constructor(
    private readonly api: ApiKind,
    private readonly policy: Readonly<SafetyPolicy>,
  ) {}

  /** The events to send in place of one upstream event (none while text is held back, several when flushing). */
  transform(type: string, json: Json): SseEvent[] {
    if (this.blocked) return []
    switch (this.api) {
      case 'openai-chat':
        return this.#openaiChat(type, json)
      case 'openai-responses':
        return this.#responses(type, json)
      case 'anthropic-messages':
        return this.#anthropic(type, json)
      default:
        return [{ type, json }]
    }
  }

  /** Everything still held back, as events, before the stream's closing event. */
  flush(): SseEvent[] {
    const out: SseEvent[] = []
    for (const key of [...this.#redactors.keys()]) out.push(...this.#end(key))
    return out
  }

  #openaiChat(type: string, json: Json): SseEvent[] {
    const choices = json.choices as Array<Json> | undefined
    if (!Array.isArray(choices)) return [{ type, json }]
    const before: SseEvent[] = []
    for (const choice of choices) {
      const index = Number(choice.index ?? 0)
      const delta = choice.delta as Json | undefined
      const base = { id: json.id, object: json.object, created: json.created, model: json.model }
      if (typeof delta?.content === 'string') {
        delta.content = this.#push(`c${index}`, delta.content, (text) => ({
          type,
          json: { ...base, choices: [{ index, delta: { content: text }, finish_reason: null }] },
        }))
      }
      const calls = delta?.tool_calls as Array<Json> | undefined
      for (const call of calls ?? []) {
        const fn = call.function as Json | undefined
        if (typeof fn?.arguments !== 'string') continue
        const callIndex = Number(call.index ?? 0)
        fn.arguments = this.#push(`t${index}.${callIndex}`, fn.arguments, (text) => ({
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
        for (const key of [`c${index}`, ...this.#keysStarting(`t${index}.`)]) before.push(...this.#end(key))
      }
    }
    return this.blocked ? [] : [...before, { type, json }]
  }

  #responses(type: string, json: Json): SseEvent[] {
    const delta = typeof json.delta === 'string' ? json.delta : undefined
    const key = `${json.item_id ?? json.output_index}:${json.content_index ?? 0}`
    if (
      delta !== undefined &&
      (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta')
    ) {
      json.delta = this.#push(key, delta, (text) => ({ type, json: { ...json, delta: text } }))
      return this.blocked ? [] : [{ type, json }]
    }
    if (type === 'response.output_text.done' || type === 'response.function_call_arguments.done') {
      const flushed = this.#end(key)
      const field = type === 'response.output_text.done' ? 'text' : 'arguments'
      if (typeof json[field] === 'string') json[field] = this.#whole(json[field] as string)
      return this.blocked ? [] : [...flushed, { type, json }]
    }
    if (type === 'response.completed' || type === 'response.incomplete') {
      // The final event repeats the whole output: redacted the same way as a non-streamed response.
      const flushed = this.flush()
      const result = redactResponse('openai-responses', json.response, this.policy)
      if (result.blocked.length) {
        this.blocked = result.blocked
        return []
      }
      return [...flushed, { type, json: { ...json, response: result.body as Json } }]
    }
    return [{ type, json }]
  }

  #anthropic(type: string, json: Json): SseEvent[] {
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
      delta[field] = this.#push(`b${index}`, delta[field] as string, (text) => ({
        type,
        json: { type: 'content_block_delta', index, delta: { type: delta.type, [field]: text } },
      }))
      return this.blocked ? [] : [{ type, json }]
    }
    if (type === 'content_block_stop') {
      const flushed = this.#end(`b${index}`)
      return this.blocked ? [] : [...flushed, { type, json }]
    }
    return [{ type, json }]
  }

  /** Feed text to the redactor of `key`; returns what may be sent now. */
  #push(key: string, text: string, template: (text: string) => SseEvent): string {
    let entry = this.#redactors.get(key)
    if (!entry) {
      entry = { redactor: new StreamRedactor(this.policy, { direction: 'output' }), template }
      this.#redactors.set(key, entry)
    }
    const chunk = entry.redactor.push(text)
    this.findings.push(...chunk.findings)
    if (chunk.blocked) this.blocked = chunk.blocked
    return chunk.emit
  }

  #end(key: string): SseEvent[] {
    const entry = this.#redactors.get(key)
    if (!entry) return []
    this.#redactors.delete(key)
    const chunk = entry.redactor.end()
    this.findings.push(...chunk.findings)
    if (chunk.blocked) this.blocked = chunk.blocked
    return chunk.emit && !this.blocked ? [entry.template(chunk.emit)] : []
  }

  /** A whole text seen at once (a `.done` event), redacted alike. */
  #whole(text: string): string {
    const redactor = new StreamRedactor(this.policy, { direction: 'output' })
    const first = redactor.push(text)
    const last = redactor.end()
    if (first.blocked || last.blocked) this.blocked = first.blocked ?? last.blocked
    return first.emit + last.emit
  }

  #keysStarting(prefix: string): string[] {
    return [...this.#redactors.keys()].filter((k) => k.startsWith(prefix))
  }
}
