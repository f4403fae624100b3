import type { BodyWalker } from '../../safety/index.js'
import type { UpstreamResponse } from '../upstream.js'

export type ApiKind =
  | 'openai-chat'
  | 'openai-responses'
  | 'openai-embeddings'
  | 'anthropic-messages'
  | 'anthropic-count-tokens'
export type Family = 'openai' | 'anthropic'
export type Json = Record<string, unknown>

/** Token usage as the pricing module counts it: input_tokens includes cached and cache-written tokens. */
export interface Usage {
  input_tokens: number
  output_tokens: number
  cached_input_tokens: number
  cache_write_tokens: number
}

/** What the gateway needs from a request body. */
export interface RequestInfo {
  model: string
  stream: boolean
  /** The max-output field the client set, and its value. */
  maxOutput: { field: string; value: number } | undefined
  /** Whether this API produces output tokens at all (embeddings and token counting do not). */
  producesOutput: boolean
  /** How many completions the request asks for (`n`, `best_of`): the worst case covers every one. */
  choices: number
  /** Whether the provider bills the call (token counting is free). */
  billable: boolean
}

/** One SSE event as the gateway writes it: an optional `event:` name and its JSON data. */
export interface SseEvent {
  type: string
  json: Json
}

/** Reads one stream's events for what they say about usage; one per stream. */
export interface StreamReader {
  /**
   * What an event means: `keep` it, `drop` it (the usage chunk the gateway asked for and the client did
   * not), or `hold` it (it closes the stream: sent only once the usage is committed). `produced` gets the
   * text the model generated (content, tool-call arguments, thinking).
   */
  event(type: string, json: Json, produced: (text: string) => void): 'keep' | 'drop' | 'hold'
  /** The usage the stream reported, once complete. */
  readonly usage: Usage | undefined
  /** Input usage known before the end (Anthropic's message_start): a cut stream still knows its input. */
  readonly partialInput: Usage | undefined
}

/** The output firewall's operations an adapter uses to rewrite one stream event. */
export interface StreamRedaction {
  /** Feed a piece of generated text under a key (one per choice or block); returns what may be sent now. */
  push(key: string, text: string, template: (text: string) => SseEvent): string
  /** The events that flush what a key still holds back. */
  end(key: string): SseEvent[]
  /** Every key's held-back text, as events. */
  flush(): SseEvent[]
  keysStarting(prefix: string): string[]
  /** A whole text seen at once (a `.done` event), redacted alike. */
  whole(text: string): string
  /** A whole answer repeated at the end of a stream, redacted as a JSON answer is; undefined when blocked. */
  response(body: Json): Json | undefined
  readonly blocked: boolean
}

/** What the built-in mock provider answers with, prepared the same way for every API. */
export interface MockReply {
  model: string
  input: number
  /** Output tokens of one choice (one per word). */
  length: number
  words: string[]
  text: string
  id: string
  created: number
  stream: boolean
  includeUsage: boolean
  /** The reply in pieces of `size` words, for streaming. */
  chunks(size: number): string[]
  /** Waits between streamed pieces (demos). */
  pause(): Promise<void>
}

/**
 * Everything the gateway knows of one API, in one place: where it is served, how its request and answer
 * bodies look (the texts, in ONE walk for the firewall and the tokenizer), its worst-case output, where
 * usage is reported (JSON and stream events), its error shape, and the built-in mock's answer.
 */
export interface ApiAdapter {
  readonly kind: ApiKind
  readonly family: Family
  /** The gateway's route for it. */
  readonly route: string
  /** Its path on the upstream, relative to the provider's base URL (OpenAI's include /v1). */
  readonly upstreamPath: string
  /** Model, stream, max tokens and choices; a reason string when the body is not usable. */
  read(body: Json): RequestInfo | string
  /** The field to set when the gateway bounds the output itself (the client set none). */
  maxOutputField(providerKind: string): string | undefined
  /** Whether the gateway adds `stream_options.include_usage` to a stream for this API. */
  readonly asksStreamUsage: boolean
  readonly walkRequest: BodyWalker
  readonly walkResponse: BodyWalker
  usageFromJson(body: Json): Usage | undefined
  streamReader(hideUsageChunk: boolean): StreamReader
  /** The output firewall on one stream event: the events to send in its place. */
  redactStreamEvent(type: string, json: Json, redaction: StreamRedaction): SseEvent[]
  /** An error in this API's shape, so SDKs surface it as their own error class. */
  error(status: number, code: string, message: string): Json
  /** The built-in mock provider's answer. */
  mock(body: Json, reply: MockReply): UpstreamResponse
}
