// A mock LLM provider on 127.0.0.1 that answers like the OpenAI and Anthropic HTTP APIs: the upstream of the
// gateway's tests and the "direct" baseline of its benchmarks. Replies are a deterministic function of the
// request, usage counts match the emitted text, and failures can be injected per request. Tests import it from
// here; benchmarks from the build (dist/src/testing/mock-provider.js), or run it alone with bench/mock-provider.js.
//
//   const mock = await startMockProvider({ latencyMs: 0, outputTokens: 16 })
//   ... POST `${mock.url}/v1/chat/completions` ...
//   mock.stats()  // { requests, connections, lastApiKey, lastRequest, ... }
//   await mock.close()
//
// Routes: POST /v1/chat/completions, POST /v1/responses, POST /v1/embeddings, GET /v1/models (OpenAI);
// POST /v1/messages, POST /v1/messages/count_tokens (Anthropic). GET /v1/models answers in Anthropic's shape
// when the request carries `anthropic-version` or `x-api-key` and no `Authorization`.
//
// Per-request controls (request headers):
//   x-mock-fail: status:<code> | reset-before | reset-mid | error-mid | hang
//   x-mock-latency-ms, x-mock-chunk-delay-ms, x-mock-output-tokens, x-mock-chunks, x-mock-cached-tokens
//   x-mock-reply: the text to answer with (one token per 4 characters, streamed in those pieces), for tests
//     of what the gateway does with what a model says
//   x-mock-reply-uri: the same, percent-encoded (for text beyond Latin-1, which headers cannot carry)
//   x-mock-split-frames: 1 writes each streamed content frame in two writes a millisecond apart, cut inside
//     its first multi-byte UTF-8 character (or in the middle), for tests of clients that must reassemble
//
// Chat completions honour `n` (1..128, as OpenAI does; anything else is a 400 naming `n`): n choices, each
// replying from its own seed (the prompt's, plus the choice's index), prompt tokens counted once and
// completion tokens summed over the choices. A stream interleaves the choices' chunks (each carries its
// index), ends each choice with its own finish_reason, and its usage chunk carries the sum. Without `n`, or
// with n = 1, answers are exactly what they were before `n` was honoured.
//
// stats().served is what a provider would bill, by the model id of the request: { requests, input_tokens,
// output_tokens } over the requests answered 200 with a generation or embeddings. input_tokens is every
// prompt token (cached ones included) and counts in full even for a stream cut short; output_tokens is the
// usage of a complete answer, and for a stream that ended early (client gone, or x-mock-fail reset-mid or
// error-mid) the content pieces written before the end, each piece being one token by the mock's own
// usage. A stream is counted when it ends. Not counted: errors, hangs, a JSON answer cut by reset-mid (it
// carries no reply), GET /v1/models, and POST /v1/messages/count_tokens (providers do not bill it; it is
// still in `requests` and `byRoute`). resetStats() empties it.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { listenOnLoopback } from './loopback.js'

export interface MockProviderOptions {
  /** TCP port on 127.0.0.1 (default 0: any free port). */
  port?: number
  /** Delay before the response headers (default 0). */
  latencyMs?: number
  /** Delay between SSE content chunks (default 0: all written at once). */
  chunkDelayMs?: number
  /** Reply length in tokens (word-pieces) when max_tokens allows (default 16). */
  outputTokens?: number
  /** Content chunks per stream (default: one per token). */
  chunks?: number
  /** Prompt tokens reported as served from cache (default 0). */
  cachedTokens?: number
  /** Embedding size when the request has no `dimensions` (default 1536). */
  embeddingDimensions?: number
  /** Ids listed by GET /v1/models. */
  models?: string[]
}

export interface MockProviderStats {
  /** Requests received (all routes, including failures). */
  requests: number
  /** TCP connections accepted since start (or the last resetStats()). */
  connections: number
  /** TCP connections open now. */
  openConnections: number
  /** Requests not yet answered (including hanging ones). */
  inFlight: number
  /** Requests per 'METHOD /path'. */
  byRoute: Record<string, number>
  /** Responses per status code (resets and hangs are not counted). */
  byStatus: Record<string, number>
  /** The key of the last request that carried one. */
  lastApiKey: string | null
  /** Where that key was found. */
  lastAuthHeader: 'authorization' | 'x-api-key' | null
  lastRequest: { method: string; path: string; headers: IncomingHttpHeaders; body: Json } | null
  /** What a provider would bill, by model (see the header comment). */
  served: Record<string, MockServed>
}

export interface MockServed {
  /** Requests answered 200 with a generation or embeddings. */
  requests: number
  /** Prompt tokens, cached ones included; in full for a stream cut short. */
  input_tokens: number
  /** Output tokens: the usage of complete answers, the pieces written of cut streams. */
  output_tokens: number
}

export interface MockProvider {
  url: string
  port: number
  close: () => Promise<void>
  stats: () => MockProviderStats
  resetStats: () => void
  options: Required<Omit<MockProviderOptions, 'port'>>
}

// biome-ignore lint/suspicious/noExplicitAny: request bodies are any JSON, read field by field as each API defines it
type Json = any

const DEFAULT_MODELS = [
  'gpt-4o-mini',
  'gpt-4.1',
  'text-embedding-3-small',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
]
// Each word, after a space, is one token in OpenAI's o200k encoding, so a reply's pieces are its tokens
// by any count (the gateway estimates cut streams with that tokenizer).
const VOCAB = (
  'alpha bravo delta echo golf hotel india kilo lima mike november papa tango uniform victor whiskey ' +
  'amber cobalt jade teal apple river stone cloud green house light water paper metal north south'
).split(' ')
const CREATED = 1_700_000_000
/** The most choices (`n`) OpenAI's chat completions accept. */
const MAX_CHOICES = 128
const SSE_HEADERS_OPENAI = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }
const SSE_HEADERS_ANTHROPIC = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
}

type Api = 'chat' | 'responses' | 'messages'
/** A function tool the reply calls: its name and the JSON schema of its arguments. */
interface Tool {
  name: string
  schema: Json
}
interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null }
}

type Family = 'openai' | 'anthropic'
/** The options in force for one request: the provider's, overridden by its x-mock-* headers. */
interface Settings {
  latencyMs: number
  chunkDelayMs: number
  outputTokens: number
  chunks: number
  cachedTokens: number
  embeddingDimensions: number
  models: string[]
  reply?: string
  splitFrames?: boolean
}
interface Context extends Settings {
  /** The request's number since start. */
  n: number
  requestId: string
  fail: string
  authHeader: 'authorization' | 'x-api-key' | null
}
/** What to say: text pieces or a tool call's argument pieces, with token counts. */
interface Plan {
  input: number
  output: number
  tool: Tool | null
  args: string | null
  pieces: string[]
  text: string | null
  truncated: boolean
}
/** How a stream counts in stats.served when it ends. */
interface Bill {
  model: unknown
  input: number
  output: number
  written: (frames: number) => number
}
interface Route {
  family: Family
  handle: (res: ServerResponse, body: Json, ctx: Context, req: IncomingMessage) => void
  body: boolean
}

/** FNV-1a over at most the first 256 characters, plus the length: cheap, and stable for a given prompt. */
function hashText(text: string): number {
  let h = 0x811c9dc5
  const n = Math.min(text.length, 256)
  for (let i = 0; i < n; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h ^ text.length) >>> 0
}

/** Total length of the text a model would read in a message list (strings under content/text-like keys). */
function textLength(node: Json, depth = 0): number {
  if (typeof node === 'string') return node.length
  if (node === null || typeof node !== 'object' || depth > 6) return 0
  let total = 0
  if (Array.isArray(node)) {
    for (const item of node) total += textLength(item, depth + 1)
    return total
  }
  for (const key of [
    'content',
    'text',
    'arguments',
    'input',
    'output',
    'thinking',
    'tool_calls',
    'function',
  ]) {
    const value = node[key]
    if (value === undefined) continue
    if (key === 'input' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      total += JSON.stringify(value).length // an Anthropic tool_use block's input
    } else total += textLength(value, depth + 1)
  }
  return total
}

/** The last user-visible text of a prompt, which seeds the reply. */
function lastText(messages: Json): string {
  if (typeof messages === 'string') return messages
  if (!Array.isArray(messages) || messages.length === 0) return ''
  const last = messages[messages.length - 1]
  if (typeof last === 'string') return last
  const content = last?.content
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    for (const part of content) if (typeof part?.text === 'string') return part.text
  }
  return ''
}

const tokensOf = (chars: number) => Math.max(1, Math.ceil(chars / 4))

/** Splits a string into pieces of `size` characters (the "tokens" of JSON output). */
function splitEvery(text: string, size: number): string[] {
  const pieces: string[] = []
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size))
  return pieces
}

/** Groups `pieces` into `chunks` consecutive strings (as evenly as possible). */
function groupPieces(pieces: string[], chunks: number): string[] {
  const k = pieces.length
  const c = Math.max(1, Math.min(chunks || k, k))
  if (c === k) return pieces
  const out: string[] = []
  for (let j = 0; j < c; j++)
    out.push(pieces.slice(Math.floor((j * k) / c), Math.floor(((j + 1) * k) / c)).join(''))
  return out
}

/** Tokens in the first `written` of the `frames` frames that groupPieces made of `pieces` one-token pieces. */
const piecesIn = (pieces: number, frames: number) => (written: number) =>
  frames === 0 ? 0 : Math.floor((written * pieces) / frames)

/** A deterministic example value for a JSON schema (tool arguments, json_schema output). */
function exampleFor(schema: Json, name: string, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > 4) return `mock ${name}`
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  if (schema.const !== undefined) return schema.const
  const type = Array.isArray(schema.type) ? schema.type.find((t: unknown) => t !== 'null') : schema.type
  switch (type) {
    case 'integer':
      return 42
    case 'number':
      return 1.5
    case 'boolean':
      return true
    case 'array':
      return [exampleFor(schema.items, name, depth + 1)]
    case 'object':
      return exampleObject(schema, depth + 1)
    case 'string':
      return `mock ${name}`
    default:
      return schema.properties ? exampleObject(schema, depth + 1) : `mock ${name}`
  }
}

function exampleObject(schema: Json, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const properties = schema?.properties
  if (properties && typeof properties === 'object') {
    let count = 0
    for (const [key, sub] of Object.entries(properties)) {
      if (count++ >= 32) break
      out[key] = exampleFor(sub, key, depth)
    }
  }
  return out
}

const num = (value: unknown): number | undefined => {
  if (value === undefined || value === null || value === '') return undefined
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/** The first callable function tool of a request, honouring tool_choice; null when no tool call is due. */
function pickTool(api: Api, body: Json): Tool | null {
  const tools = body.tools
  if (!Array.isArray(tools) || tools.length === 0) return null
  const choice = body.tool_choice
  if (choice === 'none' || choice?.type === 'none') return null
  const fns: Tool[] = []
  for (const tool of tools) {
    if (api === 'chat' && tool?.type === 'function' && tool.function?.name) {
      fns.push({ name: tool.function.name, schema: tool.function.parameters })
    } else if (api === 'responses' && tool?.type === 'function' && tool.name) {
      fns.push({ name: tool.name, schema: tool.parameters })
    } else if (api === 'messages' && tool?.name && (tool.type === undefined || tool.type === 'custom')) {
      fns.push({ name: tool.name, schema: tool.input_schema })
    }
  }
  if (fns.length === 0) return null
  const wanted = choice?.function?.name ?? choice?.name
  return (wanted && fns.find((f) => f.name === wanted)) || fns[0]!
}

/** Error bodies in each API's shape. */
const OPENAI_ERRORS: Record<number, [string, string | null, string]> = {
  400: ['invalid_request_error', null, 'Invalid request (mock).'],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided (mock).'],
  403: ['invalid_request_error', 'unsupported_country_region_territory', 'Forbidden (mock).'],
  404: ['invalid_request_error', 'model_not_found', 'The model does not exist (mock).'],
  408: ['timeout', null, 'Request timed out (mock).'],
  409: ['invalid_request_error', null, 'Conflict (mock).'],
  413: ['invalid_request_error', null, 'Request too large (mock).'],
  422: ['invalid_request_error', null, 'Unprocessable (mock).'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached (mock).'],
  500: ['server_error', null, 'The server had an error while processing your request (mock).'],
  502: ['server_error', null, 'Bad gateway (mock).'],
  503: ['server_error', null, 'The engine is currently overloaded (mock).'],
}
const ANTHROPIC_ERRORS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
}

function openaiError(status: number, message?: string, code?: string | null): OpenAIError {
  const [type, defaultCode, defaultMessage] = OPENAI_ERRORS[status] ?? [
    'server_error',
    null,
    `HTTP ${status} (mock).`,
  ]
  return {
    error: {
      message: message ?? defaultMessage,
      type,
      param: null,
      code: code === undefined ? defaultCode : code,
    },
  }
}

function anthropicError(status: number, message: string | undefined, requestId: string) {
  const type = ANTHROPIC_ERRORS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error')
  return { type: 'error', error: { type, message: message ?? `${type} (mock)` }, request_id: requestId }
}

/** Starts the mock provider. */
export async function startMockProvider(options: MockProviderOptions = {}): Promise<MockProvider> {
  const config: Settings = {
    latencyMs: num(options.latencyMs) ?? 0,
    chunkDelayMs: num(options.chunkDelayMs) ?? 0,
    outputTokens: Math.max(1, Math.floor(num(options.outputTokens) ?? 16)),
    chunks: Math.floor(num(options.chunks) ?? 0),
    cachedTokens: Math.floor(num(options.cachedTokens) ?? 0),
    embeddingDimensions: Math.max(1, Math.floor(num(options.embeddingDimensions) ?? 1536)),
    models: options.models ?? DEFAULT_MODELS,
  }
  const modelsOpenAI = JSON.stringify({
    object: 'list',
    data: config.models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'mock' })),
  })
  const modelsAnthropic = JSON.stringify({
    data: config.models.map((id) => ({
      type: 'model',
      id,
      display_name: id,
      created_at: '2025-01-01T00:00:00Z',
    })),
    has_more: false,
    first_id: config.models[0] ?? null,
    last_id: config.models.at(-1) ?? null,
  })

  let counter = 0
  let stats: MockProviderStats
  const resetStats = () => {
    stats = {
      requests: 0,
      connections: 0,
      openConnections: stats?.openConnections ?? 0,
      inFlight: stats?.inFlight ?? 0,
      byRoute: {},
      byStatus: {},
      lastApiKey: null,
      lastAuthHeader: null,
      lastRequest: null,
      served: {},
    }
  }
  resetStats()

  /** Counts one answer a provider would bill (stats.served). */
  function serve(model: unknown, input: number, output: number) {
    const key = typeof model === 'string' ? model : ''
    let served = stats.served[key]
    if (served === undefined) {
      served = { requests: 0, input_tokens: 0, output_tokens: 0 }
      stats.served[key] = served
    }
    served.requests++
    served.input_tokens += input
    served.output_tokens += output
  }
  /** Timers of delayed responses and stream chunks, cleared by close(). */
  const timers = new Set<NodeJS.Timeout>()
  let closing = false
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      fn()
    }, ms)
    timers.add(timer)
  }

  /** Reply texts by seed class and length; bounded. */
  const textCache = new Map<string, string[]>()
  function wordPieces(seed: number, n: number): string[] {
    const key = `${seed % VOCAB.length}:${n}`
    let pieces = textCache.get(key)
    if (pieces === undefined) {
      pieces = []
      for (let i = 0; i < n; i++) {
        if (i === 0) pieces.push('mock')
        else if (i === 1) pieces.push(' reply')
        else pieces.push(` ${VOCAB[(seed + i * 7) % VOCAB.length]}`)
      }
      if (textCache.size > 4096) textCache.clear()
      textCache.set(key, pieces)
    }
    return pieces
  }

  /** Embedding vectors (as JSON text and base64) by dimensions and seed class; bounded. */
  const vectorCache = new Map<string, string>()
  function vector(dims: number, seed: number, base64: boolean): string {
    const key = `${dims}:${seed % 16}:${base64 ? 'b' : 'f'}`
    let text = vectorCache.get(key)
    if (text === undefined) {
      const values = new Float32Array(dims)
      let state = (seed % 16) + 1
      let norm = 0
      for (let i = 0; i < dims; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0
        values[i] = state / 2 ** 32 - 0.5
        norm += values[i]! * values[i]!
      }
      norm = Math.sqrt(norm)
      for (let i = 0; i < dims; i++) values[i]! /= norm
      text = base64
        ? JSON.stringify(Buffer.from(values.buffer).toString('base64'))
        : `[${Array.from(values, (v) => Number(v.toPrecision(8))).join(',')}]`
      if (vectorCache.size > 256) vectorCache.clear()
      vectorCache.set(key, text)
    }
    return text
  }

  /** Per-request settings: options, overridden by x-mock-* headers. */
  function settings(headers: IncomingHttpHeaders): Settings {
    if (
      headers['x-mock-latency-ms'] === undefined &&
      headers['x-mock-chunk-delay-ms'] === undefined &&
      headers['x-mock-output-tokens'] === undefined &&
      headers['x-mock-chunks'] === undefined &&
      headers['x-mock-cached-tokens'] === undefined &&
      headers['x-mock-reply'] === undefined &&
      headers['x-mock-reply-uri'] === undefined &&
      headers['x-mock-split-frames'] === undefined
    ) {
      return config
    }
    return {
      ...config,
      latencyMs: num(headers['x-mock-latency-ms']) ?? config.latencyMs,
      chunkDelayMs: num(headers['x-mock-chunk-delay-ms']) ?? config.chunkDelayMs,
      outputTokens: Math.max(1, Math.floor(num(headers['x-mock-output-tokens']) ?? config.outputTokens)),
      chunks: Math.floor(num(headers['x-mock-chunks']) ?? config.chunks),
      cachedTokens: Math.floor(num(headers['x-mock-cached-tokens']) ?? config.cachedTokens),
      reply:
        typeof headers['x-mock-reply-uri'] === 'string'
          ? decodeURIComponent(headers['x-mock-reply-uri'])
          : typeof headers['x-mock-reply'] === 'string'
            ? headers['x-mock-reply']
            : undefined,
      splitFrames: headers['x-mock-split-frames'] === '1',
    }
  }

  // ---- response writing ------------------------------------------------------------------------------------

  function send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string) {
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1
    headers['content-type'] = 'application/json'
    headers['content-length'] = Buffer.byteLength(body)
    res.writeHead(status, headers)
    res.end(body)
  }

  /**
   * Writes an SSE stream: `head` frames, then `content` frames (spaced by chunkDelayMs), then `tail` frames.
   * With fail 'reset-mid' the socket is destroyed after about half the content; with 'error-mid' an error
   * frame replaces the second half. When it ends, the stream counts in stats.served as `bill` says: its
   * `output` when complete, else `written(frames)`, the tokens in the content frames written.
   */
  function stream(
    res: ServerResponse,
    ctx: Context,
    headers: OutgoingHttpHeaders,
    head: string[],
    content: string[],
    tail: string[],
    errorFrame: string,
    bill: Bill,
  ) {
    stats.byStatus[200] = (stats.byStatus[200] ?? 0) + 1
    res.writeHead(200, headers)
    const cut = ctx.fail === 'reset-mid' || ctx.fail === 'error-mid' ? Math.ceil(content.length / 2) : -1
    let sent = 0 // content frames written whole
    let billed = false
    const settle = (complete: boolean) => {
      if (billed) return
      billed = true
      serve(bill.model, bill.input, complete ? bill.output : bill.written(sent))
    }
    for (const frame of head) res.write(frame)
    const finish = () => {
      if (ctx.fail === 'reset-mid') {
        settle(false)
        // An SSE comment (ignored by parsers) whose write callback fires once everything before it is flushed.
        res.write(': mock reset\n\n', () => res.socket?.destroy())
        return
      }
      if (ctx.fail === 'error-mid') {
        settle(false)
        res.end(errorFrame)
        return
      }
      settle(true)
      for (const frame of tail) res.write(frame)
      res.end()
    }
    const limit = cut >= 0 ? cut : content.length
    const delay = ctx.chunkDelayMs
    if (ctx.splitFrames) {
      // A client that leaves mid-stream: bill the frames written so far.
      res.once('close', () => settle(false))
      let i = 0
      const halves = () => {
        if (res.destroyed || closing) return
        if (i >= limit) return finish()
        const bytes = Buffer.from(content[i++]!)
        const wide = bytes.findIndex((b) => b >= 0x80)
        const at = wide >= 0 ? wide + 1 : bytes.length >> 1
        res.write(bytes.subarray(0, at))
        later(1, () => {
          if (res.destroyed || closing) return
          res.write(bytes.subarray(at))
          sent++
          later(Math.max(delay, 1), halves)
        })
      }
      halves()
      return
    }
    if (delay <= 0) {
      for (let i = 0; i < limit; i++) res.write(content[i]!)
      sent = limit
      finish()
      return
    }
    res.once('close', () => settle(false))
    let i = 0
    const step = () => {
      if (res.destroyed || closing) return
      res.write(content[i++]!)
      sent = i
      if (i < limit) later(delay, step)
      else finish()
    }
    if (limit > 0) step()
    else finish()
  }

  // ---- OpenAI ----------------------------------------------------------------------------------------------

  function openaiUsage(input: number, output: number, cached: number) {
    return {
      prompt_tokens: input,
      completion_tokens: output,
      total_tokens: input + output,
      prompt_tokens_details: { cached_tokens: Math.min(cached, input), audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    }
  }

  /**
   * What to say for a chat-like request: text pieces, or a tool call, with token counts. `choice` (the
   * index of one of n choices) moves the seed, so that choices say different things.
   */
  function plan(
    api: Api,
    body: Json,
    ctx: Context,
    maxTokens: Json,
    messages: Json,
    extraText?: Json,
    choice = 0,
  ): Plan {
    const chars = textLength(messages) + (typeof extraText === 'string' ? extraText.length : 0)
    const toolsChars = Array.isArray(body.tools) ? JSON.stringify(body.tools).length : 0
    const input = tokensOf(chars + toolsChars)
    const limit = maxTokens === undefined ? ctx.outputTokens : Math.max(1, Math.floor(maxTokens))
    const n = Math.min(limit, ctx.outputTokens)
    const truncated = limit < ctx.outputTokens
    const seed = hashText(lastText(messages)) + choice
    const tool = pickTool(api, body)
    if (tool) {
      const args = JSON.stringify(exampleObject(tool.schema))
      const pieces = splitEvery(args, 4)
      return { input, output: pieces.length, tool, args, pieces, text: null, truncated: false }
    }
    const format = api === 'responses' ? body.text?.format : body.response_format
    if (format?.type === 'json_object' || format?.type === 'json_schema') {
      let pieces: string[]
      if (format.type === 'json_schema') {
        const schema = format.json_schema?.schema ?? format.schema
        pieces = splitEvery(JSON.stringify(exampleObject(schema)), 4)
      } else {
        pieces = ['{"reply":"', ...wordPieces(seed, Math.max(1, n - 2)), '"}']
      }
      return {
        input,
        output: pieces.length,
        tool: null,
        args: null,
        pieces,
        text: pieces.join(''),
        truncated: false,
      }
    }
    if (ctx.reply !== undefined) {
      const pieces = splitEvery(ctx.reply, 4)
      return {
        input,
        output: pieces.length,
        tool: null,
        args: null,
        pieces,
        text: ctx.reply,
        truncated: false,
      }
    }
    const pieces = wordPieces(seed, n)
    return { input, output: n, tool: null, args: null, pieces, text: pieces.join(''), truncated }
  }

  function chatCompletions(res: ServerResponse, body: Json, ctx: Context) {
    if (!Array.isArray(body.messages) || typeof body.model !== 'string') {
      return send(
        res,
        400,
        { 'x-request-id': ctx.requestId },
        JSON.stringify(openaiError(400, "Missing required parameter: 'messages' or 'model'.")),
      )
    }
    if (body.n !== undefined && body.n !== null && body.n !== 1) return chatChoices(res, body, ctx)
    const p = plan('chat', body, ctx, body.max_completion_tokens ?? body.max_tokens, body.messages)
    const id = `chatcmpl-mock${ctx.n}`
    const created = Math.floor(Date.now() / 1000)
    const finish = chatFinish(p)
    const usage = openaiUsage(p.input, p.output, ctx.cachedTokens)
    if (body.stream !== true) {
      const message = chatMessage(p, `call_mock${ctx.n}`)
      serve(body.model, p.input, p.output)
      return send(
        res,
        200,
        { 'x-request-id': ctx.requestId },
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
          usage,
          service_tier: 'default',
          system_fingerprint: 'fp_mock',
        }),
      )
    }
    const includeUsage = body.stream_options?.include_usage === true
    const prefix =
      `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},` +
      `"service_tier":"default","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":`
    const usageNull = includeUsage ? ',"usage":null' : ''
    const mid = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
    const head: string[] = []
    const content: string[] = []
    if (p.tool) {
      head.push(
        prefix +
          `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_mock${ctx.n}","type":"function",` +
          `"function":{"name":${JSON.stringify(p.tool.name)},"arguments":""}}],"refusal":null}` +
          mid,
      )
      for (const piece of groupPieces(p.pieces, ctx.chunks)) {
        content.push(
          `${prefix}{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(piece)}}}]}${mid}`,
        )
      }
    } else {
      head.push(`${prefix}{"role":"assistant","content":"","refusal":null}${mid}`)
      for (const piece of groupPieces(p.pieces, ctx.chunks)) {
        content.push(`${prefix}{"content":${JSON.stringify(piece)}}${mid}`)
      }
    }
    const tail = [`${prefix}{},"logprobs":null,"finish_reason":"${finish}"}]${usageNull}}\n\n`]
    if (includeUsage) {
      tail.push(
        `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},` +
          `"service_tier":"default","system_fingerprint":"fp_mock","choices":[],"usage":${JSON.stringify(usage)}}\n\n`,
      )
    }
    tail.push('data: [DONE]\n\n')
    const errorFrame = `data: ${JSON.stringify(openaiError(500))}\n\n`
    stream(
      res,
      ctx,
      { ...SSE_HEADERS_OPENAI, 'x-request-id': ctx.requestId },
      head,
      content,
      tail,
      errorFrame,
      {
        model: body.model,
        input: p.input,
        output: p.output,
        written: piecesIn(p.output, content.length),
      },
    )
  }

  const chatFinish = (p: Plan) => (p.tool ? 'tool_calls' : p.truncated ? 'length' : 'stop')

  /** The assistant message of one chat choice (JSON answers). */
  function chatMessage(p: Plan, callId: string) {
    return p.tool
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: callId,
              type: 'function',
              function: { name: p.tool.name, arguments: p.args },
            },
          ],
          refusal: null,
          annotations: [],
        }
      : { role: 'assistant', content: p.text, refusal: null, annotations: [] }
  }

  /** Why OpenAI refuses an `n`, as [code, message]; null when it is an integer in 1..128. */
  function invalidChoiceCount(n: unknown): [string, string] | null {
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      const got =
        typeof n === 'number'
          ? 'a decimal number'
          : typeof n === 'string'
            ? 'a string'
            : typeof n === 'boolean'
              ? 'a boolean'
              : Array.isArray(n)
                ? 'an array'
                : 'an object'
      return ['invalid_type', `Invalid type for 'n': expected an integer, but got ${got} instead.`]
    }
    if (n < 1) {
      return [
        'integer_below_min_value',
        `Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${n} instead.`,
      ]
    }
    if (n > MAX_CHOICES) {
      return [
        'integer_above_max_value',
        `Invalid 'n': integer above maximum value. Expected a value <= ${MAX_CHOICES}, but got ${n} instead.`,
      ]
    }
    return null
  }

  /**
   * A chat completion with n > 1 choices: each its own reply, the prompt counted once, the completions
   * summed; streamed, the choices' chunks interleave (one content chunk of each choice in turn).
   */
  function chatChoices(res: ServerResponse, body: Json, ctx: Context) {
    const invalid = invalidChoiceCount(body.n)
    if (invalid) {
      const error = openaiError(400, invalid[1], invalid[0])
      error.error.param = 'n'
      return send(res, 400, { 'x-request-id': ctx.requestId }, JSON.stringify(error))
    }
    const count: number = body.n
    const plans: Plan[] = []
    for (let i = 0; i < count; i++) {
      plans.push(
        plan('chat', body, ctx, body.max_completion_tokens ?? body.max_tokens, body.messages, undefined, i),
      )
    }
    const input = plans[0]!.input
    let output = 0
    for (const p of plans) output += p.output
    const id = `chatcmpl-mock${ctx.n}`
    const created = Math.floor(Date.now() / 1000)
    const usage = openaiUsage(input, output, ctx.cachedTokens)
    const callId = (i: number) => `call_mock${ctx.n}_${i}`
    if (body.stream !== true) {
      serve(body.model, input, output)
      return send(
        res,
        200,
        { 'x-request-id': ctx.requestId },
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: plans.map((p, i) => ({
            index: i,
            message: chatMessage(p, callId(i)),
            logprobs: null,
            finish_reason: chatFinish(p),
          })),
          usage,
          service_tier: 'default',
          system_fingerprint: 'fp_mock',
        }),
      )
    }
    const includeUsage = body.stream_options?.include_usage === true
    const start =
      `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},` +
      `"service_tier":"default","system_fingerprint":"fp_mock","choices":[`
    const usageNull = includeUsage ? ',"usage":null' : ''
    const chunk = (i: number, delta: string, finish: string) =>
      `${start}{"index":${i},"delta":${delta},"logprobs":null,"finish_reason":${finish}}]${usageNull}}\n\n`
    const head: string[] = []
    /** Each choice's content chunks, and the tokens in each. */
    const frames: string[][] = []
    const tokens: number[][] = []
    plans.forEach((p, i) => {
      head.push(
        chunk(
          i,
          p.tool
            ? `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"${callId(i)}","type":"function",` +
                `"function":{"name":${JSON.stringify(p.tool.name)},"arguments":""}}],"refusal":null}`
            : '{"role":"assistant","content":"","refusal":null}',
          'null',
        ),
      )
      const groups = groupPieces(p.pieces, ctx.chunks)
      const inGroup = piecesIn(p.output, groups.length)
      frames.push(
        groups.map((piece) =>
          chunk(
            i,
            p.tool
              ? `{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(piece)}}}]}`
              : `{"content":${JSON.stringify(piece)}}`,
            'null',
          ),
        ),
      )
      tokens.push(groups.map((_, j) => inGroup(j + 1) - inGroup(j)))
    })
    const content: string[] = []
    /** Tokens in the first k content chunks, at [k]. */
    const writtenBy = [0]
    const longest = Math.max(...frames.map((f) => f.length))
    for (let j = 0; j < longest; j++) {
      for (let i = 0; i < count; i++) {
        if (j >= frames[i]!.length) continue
        content.push(frames[i]![j]!)
        writtenBy.push(writtenBy[writtenBy.length - 1]! + tokens[i]![j]!)
      }
    }
    const tail = plans.map((p, i) => chunk(i, '{}', `"${chatFinish(p)}"`))
    if (includeUsage) tail.push(`${start}],"usage":${JSON.stringify(usage)}}\n\n`)
    tail.push('data: [DONE]\n\n')
    const errorFrame = `data: ${JSON.stringify(openaiError(500))}\n\n`
    stream(
      res,
      ctx,
      { ...SSE_HEADERS_OPENAI, 'x-request-id': ctx.requestId },
      head,
      content,
      tail,
      errorFrame,
      {
        model: body.model,
        input,
        output,
        written: (k) => writtenBy[k] as number,
      },
    )
  }

  function responses(res: ServerResponse, body: Json, ctx: Context) {
    if (typeof body.model !== 'string' || body.input === undefined) {
      return send(
        res,
        400,
        { 'x-request-id': ctx.requestId },
        JSON.stringify(openaiError(400, "Missing required parameter: 'input' or 'model'.")),
      )
    }
    const p = plan('responses', body, ctx, body.max_output_tokens, body.input, body.instructions)
    const id = `resp_mock${ctx.n}`
    const itemId = p.tool ? `fc_mock${ctx.n}` : `msg_mock${ctx.n}`
    const createdAt = Math.floor(Date.now() / 1000)
    const usage = {
      input_tokens: p.input,
      input_tokens_details: { cached_tokens: Math.min(ctx.cachedTokens, p.input) },
      output_tokens: p.output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: p.input + p.output,
    }
    const item = p.tool
      ? {
          id: itemId,
          type: 'function_call',
          status: 'completed',
          arguments: p.args,
          call_id: `call_mock${ctx.n}`,
          name: p.tool.name,
        }
      : {
          id: itemId,
          type: 'message',
          status: p.truncated ? 'incomplete' : 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', annotations: [], logprobs: [], text: p.text }],
        }
    const response = (status: string, output: unknown[], usageValue: unknown) => ({
      id,
      object: 'response',
      created_at: createdAt,
      status,
      background: false,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      model: body.model,
      output,
      parallel_tool_calls: true,
      previous_response_id: body.previous_response_id ?? null,
      reasoning: { effort: null, summary: null },
      service_tier: 'default',
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: { format: body.text?.format ?? { type: 'text' } },
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      top_p: body.top_p ?? 1,
      truncation: 'disabled',
      usage: usageValue,
      user: null,
      metadata: body.metadata ?? {},
    })
    const finalStatus = p.truncated ? 'incomplete' : 'completed'
    if (body.stream !== true) {
      serve(body.model, p.input, p.output)
      return send(
        res,
        200,
        { 'x-request-id': ctx.requestId },
        JSON.stringify(response(finalStatus, [item], usage)),
      )
    }
    let seq = 0
    const event = (type: string, data: string) =>
      `event: ${type}\ndata: {"type":"${type}","sequence_number":${seq++},${data}}\n\n`
    const start = response('in_progress', [], null)
    const head = [
      event('response.created', `"response":${JSON.stringify(start)}`),
      event('response.in_progress', `"response":${JSON.stringify(start)}`),
    ]
    const content: string[] = []
    const tail: string[] = []
    const itemJson = (status: string, extra: string) => {
      if (p.tool) return JSON.stringify({ ...item, status, arguments: extra })
      return JSON.stringify({
        id: itemId,
        type: 'message',
        status,
        role: 'assistant',
        content: extra === '' ? [] : [{ type: 'output_text', annotations: [], logprobs: [], text: extra }],
      })
    }
    head.push(event('response.output_item.added', `"output_index":0,"item":${itemJson('in_progress', '')}`))
    if (p.tool) {
      for (const piece of groupPieces(p.pieces, ctx.chunks)) {
        content.push(
          event(
            'response.function_call_arguments.delta',
            `"item_id":"${itemId}","output_index":0,"delta":${JSON.stringify(piece)}`,
          ),
        )
      }
      tail.push(
        event(
          'response.function_call_arguments.done',
          `"item_id":"${itemId}","output_index":0,"arguments":${JSON.stringify(p.args)}`,
        ),
      )
    } else {
      const part = (text: string) =>
        `{"type":"output_text","annotations":[],"logprobs":[],"text":${JSON.stringify(text)}}`
      head.push(
        event(
          'response.content_part.added',
          `"item_id":"${itemId}","output_index":0,"content_index":0,"part":${part('')}`,
        ),
      )
      for (const piece of groupPieces(p.pieces, ctx.chunks)) {
        content.push(
          event(
            'response.output_text.delta',
            `"item_id":"${itemId}","output_index":0,"content_index":0,"delta":${JSON.stringify(piece)},"logprobs":[]`,
          ),
        )
      }
      tail.push(
        event(
          'response.output_text.done',
          `"item_id":"${itemId}","output_index":0,"content_index":0,"text":${JSON.stringify(p.text)},"logprobs":[]`,
        ),
        event(
          'response.content_part.done',
          `"item_id":"${itemId}","output_index":0,"content_index":0,"part":${part(p.text as string)}`,
        ),
      )
    }
    tail.push(
      event('response.output_item.done', `"output_index":0,"item":${JSON.stringify(item)}`),
      event(`response.${finalStatus}`, `"response":${JSON.stringify(response(finalStatus, [item], usage))}`),
    )
    // Sequence numbers were assigned in build order (head, content, tail), which is also the send order.
    const errorSeq = head.length + Math.ceil(content.length / 2)
    const errorFrame = `event: error\ndata: ${JSON.stringify({ type: 'error', sequence_number: errorSeq, code: 'server_error', message: 'The server had an error (mock).', param: null })}\n\n`
    stream(
      res,
      ctx,
      { ...SSE_HEADERS_OPENAI, 'x-request-id': ctx.requestId },
      head,
      content,
      tail,
      errorFrame,
      {
        model: body.model,
        input: p.input,
        output: p.output,
        written: piecesIn(p.output, content.length),
      },
    )
  }

  function embeddings(res: ServerResponse, body: Json, ctx: Context) {
    const input = body.input
    if (input === undefined || typeof body.model !== 'string') {
      return send(
        res,
        400,
        { 'x-request-id': ctx.requestId },
        JSON.stringify(openaiError(400, "Missing required parameter: 'input' or 'model'.")),
      )
    }
    const inputs: Json[] =
      Array.isArray(input) && (input.length === 0 || typeof input[0] !== 'number') ? input : [input]
    const dims = Math.max(1, Math.floor(num(body.dimensions) ?? config.embeddingDimensions))
    const base64 = body.encoding_format === 'base64'
    let tokens = 0
    const data = []
    for (let i = 0; i < inputs.length; i++) {
      const item = inputs[i]
      const text = typeof item === 'string' ? item : Array.isArray(item) ? item.join(' ') : String(item)
      tokens += typeof item === 'string' ? tokensOf(item.length) : Array.isArray(item) ? item.length : 1
      data.push(`{"object":"embedding","index":${i},"embedding":${vector(dims, hashText(text), base64)}}`)
    }
    const out =
      `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(body.model)},` +
      `"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`
    serve(body.model, tokens, 0)
    send(res, 200, { 'x-request-id': ctx.requestId }, out)
  }

  // ---- Anthropic -------------------------------------------------------------------------------------------

  function anthropicInput(body: Json): number {
    const system = body.system
    return textLength(body.messages) + (typeof system === 'string' ? system.length : textLength(system))
  }

  function messages(res: ServerResponse, body: Json, ctx: Context) {
    const bad = !Array.isArray(body.messages)
      ? 'messages: Field required'
      : typeof body.model !== 'string'
        ? 'model: Field required'
        : typeof body.max_tokens !== 'number'
          ? 'max_tokens: Field required'
          : null
    if (bad) {
      return send(
        res,
        400,
        { 'request-id': ctx.requestId },
        JSON.stringify(anthropicError(400, bad, ctx.requestId)),
      )
    }
    const p = plan('messages', body, ctx, body.max_tokens, body.messages)
    p.input = tokensOf(
      anthropicInput(body) + (Array.isArray(body.tools) ? JSON.stringify(body.tools).length : 0),
    )
    const cached = Math.min(ctx.cachedTokens, p.input)
    const id = `msg_mock${ctx.n}`
    const stop = p.tool ? 'tool_use' : p.truncated ? 'max_tokens' : 'end_turn'
    const usage = {
      input_tokens: p.input - cached,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: cached,
      output_tokens: p.output,
      service_tier: 'standard',
    }
    const toolId = `toolu_mock${ctx.n}`
    if (body.stream !== true) {
      const block = p.tool
        ? { type: 'tool_use', id: toolId, name: p.tool.name, input: JSON.parse(p.args as string) }
        : { type: 'text', text: p.text }
      serve(body.model, p.input, p.output)
      return send(
        res,
        200,
        { 'request-id': ctx.requestId },
        JSON.stringify({
          id,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [block],
          stop_reason: stop,
          stop_sequence: null,
          usage,
        }),
      )
    }
    const event = (type: string, data: string) => `event: ${type}\ndata: {"type":"${type}"${data}}\n\n`
    const startMessage = {
      id,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    }
    const head = [
      event('message_start', `,"message":${JSON.stringify(startMessage)}`),
      event(
        'content_block_start',
        p.tool
          ? `,"index":0,"content_block":{"type":"tool_use","id":"${toolId}","name":${JSON.stringify(p.tool.name)},"input":{}}`
          : ',"index":0,"content_block":{"type":"text","text":""}',
      ),
      event('ping', ''),
    ]
    const content: string[] = []
    for (const piece of groupPieces(p.pieces, ctx.chunks)) {
      content.push(
        event(
          'content_block_delta',
          p.tool
            ? `,"index":0,"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(piece)}}`
            : `,"index":0,"delta":{"type":"text_delta","text":${JSON.stringify(piece)}}`,
        ),
      )
    }
    const tail = [
      event('content_block_stop', ',"index":0'),
      event(
        'message_delta',
        `,"delta":{"stop_reason":"${stop}","stop_sequence":null},"usage":{"output_tokens":${p.output}}`,
      ),
      event('message_stop', ''),
    ]
    const errorFrame = `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (mock)' } })}\n\n`
    stream(
      res,
      ctx,
      { ...SSE_HEADERS_ANTHROPIC, 'request-id': ctx.requestId },
      head,
      content,
      tail,
      errorFrame,
      {
        model: body.model,
        input: p.input,
        output: p.output,
        written: piecesIn(p.output, content.length),
      },
    )
  }

  function countTokens(res: ServerResponse, body: Json, ctx: Context) {
    if (!Array.isArray(body.messages) || typeof body.model !== 'string') {
      return send(
        res,
        400,
        { 'request-id': ctx.requestId },
        JSON.stringify(anthropicError(400, 'messages: Field required', ctx.requestId)),
      )
    }
    const tokens = tokensOf(
      anthropicInput(body) + (Array.isArray(body.tools) ? JSON.stringify(body.tools).length : 0),
    )
    send(res, 200, { 'request-id': ctx.requestId }, `{"input_tokens":${tokens}}`)
  }

  function models(res: ServerResponse, _body: Json, ctx: Context, req: IncomingMessage) {
    const anthropic = req.headers.authorization === undefined && ctx.authHeader === 'x-api-key'
    send(
      res,
      200,
      anthropic ? { 'request-id': ctx.requestId } : { 'x-request-id': ctx.requestId },
      anthropic || req.headers['anthropic-version'] !== undefined ? modelsAnthropic : modelsOpenAI,
    )
  }

  const routes = new Map<string, Route>([
    ['POST /v1/chat/completions', { family: 'openai', handle: chatCompletions, body: true }],
    ['POST /v1/responses', { family: 'openai', handle: responses, body: true }],
    ['POST /v1/embeddings', { family: 'openai', handle: embeddings, body: true }],
    ['GET /v1/models', { family: 'openai', handle: models, body: false }],
    ['POST /v1/messages', { family: 'anthropic', handle: messages, body: true }],
    ['POST /v1/messages/count_tokens', { family: 'anthropic', handle: countTokens, body: true }],
  ])

  // ---- dispatch --------------------------------------------------------------------------------------------

  const hanging = new Set<ServerResponse>()

  function sendError(
    res: ServerResponse,
    family: Family,
    status: number,
    ctx: Context,
    message?: string,
    extraHeaders?: OutgoingHttpHeaders,
  ) {
    const headers: OutgoingHttpHeaders =
      family === 'anthropic' ? { 'request-id': ctx.requestId } : { 'x-request-id': ctx.requestId }
    if (extraHeaders) Object.assign(headers, extraHeaders)
    const body =
      family === 'anthropic'
        ? anthropicError(status, message, ctx.requestId)
        : openaiError(status, message, status === 401 && message ? null : undefined) // a missing key: code null
    send(res, status, headers, JSON.stringify(body))
  }

  function respond(req: IncomingMessage, res: ServerResponse, route: Route, raw: string, ctx: Context) {
    let body: Json = null
    if (route.body) {
      try {
        body = raw.length > 0 ? JSON.parse(raw) : null
      } catch {
        body = undefined
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        const message =
          route.family === 'anthropic'
            ? 'There was an error parsing the body of your request.'
            : 'We could not parse the JSON body of your request.'
        return sendError(res, route.family, 400, ctx, message)
      }
    }
    stats.lastRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body }
    if (ctx.fail.startsWith('status:')) {
      const status = Number(ctx.fail.slice(7))
      const code = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
      return sendError(
        res,
        route.family,
        code,
        ctx,
        undefined,
        code === 429 ? { 'retry-after': '1' } : undefined,
      )
    }
    if (ctx.fail === 'reset-mid' && !(route.body && body.stream === true)) {
      // A JSON answer cut short: the headers promise the full length, half of it arrives.
      const out = JSON.stringify({ id: `mock${ctx.n}`, object: 'partial', padding: 'x'.repeat(256) })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
      res.write(out.slice(0, out.length >> 1), () => res.socket?.destroy())
      return
    }
    route.handle(res, body ?? {}, ctx, req)
  }

  function onRequest(req: IncomingMessage, res: ServerResponse) {
    stats.requests++
    stats.inFlight++
    res.once('close', () => {
      stats.inFlight--
      hanging.delete(res)
    })
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const key = `${req.method} ${q < 0 ? url : url.slice(0, q)}`
    stats.byRoute[key] = (stats.byRoute[key] ?? 0) + 1
    const headers = req.headers
    const fail = (headers['x-mock-fail'] ?? '') as string
    if (fail === 'reset-before') {
      req.socket.destroy()
      return
    }
    const n = ++counter
    const ctx: Context = {
      ...settings(headers),
      n,
      requestId: `req_mock${n}`,
      fail,
      authHeader: null,
    }
    const route = routes.get(key)
    const family: Family = key.startsWith('POST /v1/messages') ? 'anthropic' : 'openai'

    // Any key is accepted; the last one seen is recorded (tests check the gateway swapped in the real key).
    const auth = headers.authorization
    const apiKey = headers['x-api-key']
    let token: string | null = null
    if (typeof auth === 'string' && auth.startsWith('Bearer ') && auth.length > 7) {
      token = auth.slice(7)
      ctx.authHeader = 'authorization'
    } else if (typeof apiKey === 'string' && apiKey.length > 0) {
      token = apiKey
      ctx.authHeader = 'x-api-key'
    }
    if (token !== null) {
      stats.lastApiKey = token
      stats.lastAuthHeader = ctx.authHeader
    }

    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => {
      raw += chunk
    })
    req.on('end', () => {
      if (closing) return
      if (fail === 'hang') {
        hanging.add(res)
        return
      }
      const answer = () => {
        if (res.destroyed || closing) return
        if (!route) {
          return sendError(res, 'openai', 404, ctx, `Invalid URL (${req.method} ${url})`)
        }
        if (token === null) {
          const message =
            family === 'anthropic'
              ? 'x-api-key header is required'
              : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
          return sendError(res, family, 401, ctx, message)
        }
        respond(req, res, route, raw, ctx)
      }
      if (ctx.latencyMs > 0) later(ctx.latencyMs, answer)
      else answer()
    })
  }

  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000 }, onRequest)
  server.keepAliveTimeout = 75_000
  server.on('connection', (socket) => {
    stats.connections++
    stats.openConnections++
    socket.setNoDelay(true)
    socket.once('close', () => {
      stats.openConnections--
    })
  })
  server.on('clientError', (_error, socket) => socket.destroy())

  await listenOnLoopback(server, options.port)
  const address = server.address() as AddressInfo
  const port = address.port

  let closed: Promise<void> | null = null
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    options: config,
    stats: () => ({
      ...stats,
      byRoute: { ...stats.byRoute },
      byStatus: { ...stats.byStatus },
      served: Object.fromEntries(Object.entries(stats.served).map(([model, s]) => [model, { ...s }])),
    }),
    resetStats,
    close() {
      if (closed) return closed
      closing = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      closed = new Promise((resolve) => {
        server.close(() => resolve(undefined))
        for (const res of hanging) res.socket?.destroy()
        hanging.clear()
        server.closeAllConnections()
      })
      return closed
    },
  }
}
