import {
  type Category,
  type EvaluatedFinding,
  redactParts,
  type SafetyPolicy,
  StreamRedactor,
  walkBody,
} from '../safety/index.js'
import { adapterFor } from './adapters/index.js'
import type { ApiAdapter, ApiKind, Json, SseEvent, StreamRedaction } from './adapters/types.js'

export type { SseEvent } from './adapters/types.js'

/**
 * The output firewall on a stream: each piece of generated text (content deltas, tool-call argument
 * deltas, per choice or content block) goes through its own streaming redactor, and the event carrying it
 * is rewritten with what may be sent now. Text held back to catch a secret split across chunks is sent
 * before the event that closes its block or choice, so the SSE framing and the order of events are kept.
 * Which events carry text, and how to rewrite them, is the API adapter's knowledge.
 */
export class StreamFirewall {
  readonly findings: EvaluatedFinding[] = []
  blocked: Category[] | undefined
  readonly #adapter: ApiAdapter
  readonly #redactors = new Map<string, { redactor: StreamRedactor; template: (text: string) => SseEvent }>()
  readonly #ops: StreamRedaction

  constructor(
    api: ApiAdapter | ApiKind,
    private readonly policy: Readonly<SafetyPolicy>,
  ) {
    this.#adapter = typeof api === 'string' ? adapterFor(api) : api
    const self = this
    this.#ops = {
      push: (key, text, template) => this.#push(key, text, template),
      end: (key) => this.#end(key),
      flush: () => this.flush(),
      keysStarting: (prefix) => [...this.#redactors.keys()].filter((k) => k.startsWith(prefix)),
      whole: (text) => this.#whole(text),
      response: (body) => this.#response(body),
      get blocked() {
        return self.blocked !== undefined
      },
    }
  }

  /** The events to send in place of one upstream event (none while text is held back, several when flushing). */
  transform(type: string, json: Json): SseEvent[] {
    if (this.blocked) return []
    return this.#adapter.redactStreamEvent(type, json, this.#ops)
  }

  /** Everything still held back, as events, before the stream's closing event. */
  flush(): SseEvent[] {
    const out: SseEvent[] = []
    for (const key of [...this.#redactors.keys()]) out.push(...this.#end(key))
    return out
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

  /** A whole answer repeated in the stream, redacted as a JSON answer is; undefined once blocked. */
  #response(body: Json): Json | undefined {
    const result = redactParts(
      () => walkBody(this.#adapter.walkResponse, body).parts,
      body,
      'output',
      this.policy,
    )
    if (result.blocked.length) {
      this.blocked = result.blocked
      return undefined
    }
    return result.body as Json
  }
}
