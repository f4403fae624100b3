import { adapterFor } from './adapters/index.js'
import type { ApiAdapter, ApiKind, Json, SseEvent, StreamReader, Usage } from './adapters/types.js'
import type { StreamFirewall } from './stream-firewall.js'

/** Most output text kept per stream to estimate a cut stream's tokens; beyond it, only its length counts. */
const MAX_KEPT_TEXT = 1024 * 1024

/**
 * Reads an SSE response as it passes through: forwards each complete event at once, learns usage from the
 * stream itself (OpenAI's usage chunk, Responses' response.completed, Anthropic's message_start and
 * message_delta), keeps the produced text to estimate a stream that is cut short, and hides the usage
 * chunk the gateway asked for when the client did not.
 */
export class StreamMeter {
  /** Text the model produced so far (content and tool-call arguments). */
  text = ''
  extraChars = 0
  sawDone = false
  /** The stream's closing event ([DONE], message_stop, response.completed): sent only after settlement. */
  held = ''
  #pending = ''
  readonly #reader: StreamReader
  readonly #produced = (text: string) => this.#keep(text)

  /** Set when the output firewall blocked the stream: send nothing more from upstream. */
  blocked = false

  constructor(
    api: ApiAdapter | ApiKind,
    /** Drop the usage-only chunk: the gateway added include_usage, the client did not ask for it. */
    hideUsageChunk: boolean,
    /** The output firewall, when the agent's policy has anything to do on output. */
    private readonly firewall?: StreamFirewall,
  ) {
    this.#reader = (typeof api === 'string' ? adapterFor(api) : api).streamReader(hideUsageChunk)
  }

  /** The usage the stream reported, once complete. */
  get usage(): Usage | undefined {
    return this.#reader.usage
  }

  /** Anthropic's input usage arrives first; a stream cut before its end still knows its input. */
  get partialInput(): Usage | undefined {
    return this.#reader.partialInput
  }

  /** Feed upstream bytes; returns what to send to the client now (whole events only). */
  push(chunk: string): string {
    const data = this.#pending + chunk
    let out = ''
    let start = 0
    // Where the next CRLF boundary is (-1: none in the rest of `data`), found once for the chunk, not once
    // per event: most streams have none, and searching the rest of a chunk for each event read it again
    // and again.
    let crlf = data.indexOf('\r\n\r\n')
    for (;;) {
      if (crlf !== -1 && crlf < start) crlf = data.indexOf('\r\n\r\n', start)
      const lf = data.indexOf('\n\n', start)
      const end = lf === -1 ? crlf : crlf === -1 ? lf : Math.min(lf, crlf)
      if (end === -1) break
      const next = end + (data[end] === '\r' ? 4 : 2)
      const raw = data.slice(start, next)
      out += this.#take(raw.slice(0, end - start), raw)
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
    // Most events are one `data:` line: read without splitting.
    const lines = event.includes('\n') ? event.split('\n') : [event]
    for (const line of lines) {
      if (line.startsWith('data:')) {
        const from = line.charCodeAt(5) === 32 ? 6 : 5
        data += line.endsWith('\r') ? line.slice(from, -1) : line.slice(from)
      } else if (line.startsWith('event:')) type = line.slice(6).trim()
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
    const verdict = this.#reader.event(type, json, this.#produced)
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

  #keep(text: string): void {
    if (this.text.length < MAX_KEPT_TEXT) this.text += text
    else this.extraChars += text.length
  }
}

const serialize = (e: SseEvent) => `${e.type ? `event: ${e.type}\n` : ''}data: ${JSON.stringify(e.json)}\n\n`
