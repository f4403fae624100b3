import { type ApiKind, anthropicUsage, type Json, type Usage, usageFromJson } from './apis.js'
import type { SseEvent, StreamFirewall } from './stream-firewall.js'

/** Most output text kept per stream to estimate a cut stream's tokens; beyond it, only its length counts. */
const MAX_KEPT_TEXT = 1024 * 1024

/**
 * Reads an SSE response as it passes through: forwards each complete event at once, learns usage from the
 * stream itself (OpenAI's usage chunk, Responses' response.completed, Anthropic's message_start and
 * message_delta), keeps the produced text to estimate a stream that is cut short, and hides the usage
 * chunk the gateway asked for when the client did not.
 */
export class StreamMeter {
  usage: Usage | undefined
  /** Text the model produced so far (content and tool-call arguments). */
  text = ''
  extraChars = 0
  sawDone = false
  /** The stream's closing event ([DONE], message_stop, response.completed): sent only after settlement. */
  held = ''
  #pending = ''
  readonly #anthropic: { input?: Usage; output?: number } = {}

  /** Set when the output firewall blocked the stream: send nothing more from upstream. */
  blocked = false

  constructor(
    private readonly api: ApiKind,
    /** Drop the usage-only chunk: the gateway added include_usage, the client did not ask for it. */
    private readonly hideUsageChunk: boolean,
    /** The output firewall, when the agent's policy has anything to do on output. */
    private readonly firewall?: StreamFirewall,
  ) {}

  /** Feed upstream bytes; returns what to send to the client now (whole events only). */
  push(chunk: string): string {
    const data = this.#pending + chunk
    let out = ''
    let start = 0
    for (;;) {
      const end = boundary(data, start)
      if (end === -1) break
      const next = end + (data[end] === '\r' ? 4 : 2)
      out += this.#take(data.slice(start, end), data.slice(start, next))
      start = next
    }
    this.#pending = data.slice(start)
    return out
  }

  /** The rest, when the upstream ends (an unterminated last event is still metered and forwarded). */
  end(): string {
    const rest = this.#pending
    this.#pending = ''
    if (rest.trim() === '') return rest
    return this.#take(rest, rest)
  }

  /** What goes out once the usage is committed: text the firewall still held back, then the closing event. */
  closing(): string {
    return (this.firewall && !this.blocked ? this.firewall.flush().map(serialize).join('') : '') + this.held
  }

  #take(event: string, raw: string): string {
    if (this.blocked) return ''
    const decision = this.#handle(event)
    const text = typeof decision === 'object' ? decision.text : decision === 'drop' ? '' : raw
    if (decision === 'hold' || (typeof decision === 'object' && decision.hold)) {
      this.held += text
      return ''
    }
    return text
  }

  /** Keep the event as it came, drop it, hold it back (it closes the stream), or replace it (firewall). */
  #handle(event: string): 'keep' | 'drop' | 'hold' | { text: string; hold: boolean } {
    let data = ''
    let type = ''
    for (const line of event.split('\n')) {
      if (line.startsWith('data:')) data += line.slice(line.charCodeAt(5) === 32 ? 6 : 5).replace(/\r$/, '')
      else if (line.startsWith('event:')) type = line.slice(6).trim()
    }
    if (data === '') return 'keep'
    if (data === '[DONE]') {
      this.sawDone = true
      return 'hold'
    }
    let json: Json
    try {
      json = JSON.parse(data) as Json
    } catch {
      return 'keep'
    }
    const verdict = this.#meter(type, json)
    if (!this.firewall || verdict === 'drop') return verdict
    const events = this.firewall.transform(type || String(json.type ?? ''), json)
    if (this.firewall.blocked) {
      this.blocked = true
      return 'drop'
    }
    return {
      text: events.map((e) => serialize({ ...e, type: type ? e.type : '' })).join(''),
      hold: verdict === 'hold',
    }
  }

  #meter(type: string, json: Json): 'keep' | 'drop' | 'hold' {
    switch (this.api) {
      case 'openai-chat':
        return this.#openaiChat(json) ? 'keep' : 'drop'
      case 'openai-responses': {
        const name = type || String(json.type ?? '')
        this.#responses(name, json)
        return name === 'response.completed' || name === 'response.incomplete' ? 'hold' : 'keep'
      }
      case 'anthropic-messages': {
        const name = type || String(json.type ?? '')
        this.#anthropicEvent(name, json)
        return name === 'message_stop' ? 'hold' : 'keep'
      }
      default:
        return 'keep'
    }
  }

  #openaiChat(json: Json): boolean {
    const choices = json.choices as
      | Array<{ delta?: { content?: unknown; tool_calls?: Array<{ function?: { arguments?: unknown } }> } }>
      | undefined
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        const delta = choice.delta
        if (typeof delta?.content === 'string') this.#keep(delta.content)
        for (const call of delta?.tool_calls ?? [])
          if (typeof call.function?.arguments === 'string') this.#keep(call.function.arguments)
      }
    }
    if (json.usage && typeof json.usage === 'object') {
      this.usage = usageFromJson('openai-chat', json)
      if (this.hideUsageChunk && Array.isArray(choices) && choices.length === 0) return false
    }
    return true
  }

  #responses(type: string, json: Json): void {
    if (
      (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta') &&
      typeof json.delta === 'string'
    ) {
      this.#keep(json.delta)
    } else if (
      type === 'response.completed' ||
      type === 'response.incomplete' ||
      type === 'response.failed'
    ) {
      const response = json.response as Json | undefined
      if (response) this.usage = usageFromJson('openai-responses', response) ?? this.usage
    }
  }

  #anthropicEvent(type: string, json: Json): void {
    if (type === 'message_start') {
      const usage = (json.message as Json | undefined)?.usage as Json | undefined
      if (usage) this.#anthropic.input = anthropicUsage(usage)
    } else if (type === 'content_block_delta') {
      const delta = json.delta as Json | undefined
      if (typeof delta?.text === 'string') this.#keep(delta.text)
      else if (typeof delta?.partial_json === 'string') this.#keep(delta.partial_json)
      else if (typeof delta?.thinking === 'string') this.#keep(delta.thinking)
    } else if (type === 'message_delta') {
      const usage = json.usage as Json | undefined
      if (typeof usage?.output_tokens === 'number') this.#anthropic.output = usage.output_tokens
    }
    const input = this.#anthropic.input
    if (input && this.#anthropic.output !== undefined)
      this.usage = { ...input, output_tokens: this.#anthropic.output }
  }

  /** Anthropic's input usage arrives first; a stream cut before message_delta still knows its input. */
  get partialInput(): Usage | undefined {
    return this.#anthropic.input
  }

  #keep(text: string): void {
    if (this.text.length < MAX_KEPT_TEXT) this.text += text
    else this.extraChars += text.length
  }
}

const serialize = (e: SseEvent) => `${e.type ? `event: ${e.type}\n` : ''}data: ${JSON.stringify(e.json)}\n\n`

/** Index of the next blank line (event boundary) at or after `from`, or -1. */
function boundary(data: string, from: number): number {
  const lf = data.indexOf('\n\n', from)
  const crlf = data.indexOf('\r\n\r\n', from)
  if (lf === -1) return crlf
  if (crlf === -1) return lf
  return Math.min(lf, crlf)
}
