/**
 * The APIs the gateway speaks: where their fields are, how their errors look, and where usage is reported.
 * Pure functions over parsed JSON; no I/O.
 */
export type ApiKind =
  | 'openai-chat'
  | 'openai-responses'
  | 'openai-embeddings'
  | 'anthropic-messages'
  | 'anthropic-count-tokens'
export type Family = 'openai' | 'anthropic'

export const ROUTES: Readonly<Record<string, ApiKind>> = {
  '/v1/chat/completions': 'openai-chat',
  '/v1/responses': 'openai-responses',
  '/v1/embeddings': 'openai-embeddings',
  '/v1/messages': 'anthropic-messages',
  '/v1/messages/count_tokens': 'anthropic-count-tokens',
}

export const familyOf = (api: ApiKind): Family => (api.startsWith('anthropic') ? 'anthropic' : 'openai')

/** Path of the API on the upstream, relative to the provider's base URL (OpenAI's includes /v1). */
export function upstreamPath(api: ApiKind): string {
  switch (api) {
    case 'openai-chat':
      return '/chat/completions'
    case 'openai-responses':
      return '/responses'
    case 'openai-embeddings':
      return '/embeddings'
    case 'anthropic-messages':
      return '/v1/messages'
    case 'anthropic-count-tokens':
      return '/v1/messages/count_tokens'
  }
}

export type Json = Record<string, unknown>

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

/** OpenAI's own bound on `n`; a larger number is refused before anything is reserved. */
export const MAX_CHOICES = 128
/** Deepest nesting of arrays and objects a request body may have (the SDKs' bodies are a dozen deep). */
export const MAX_BODY_DEPTH = 400

/**
 * Whether a parsed body nests deeper than `max` levels. Iterative: a hostile body 100,000 levels deep must
 * be refused, not overflow the stack of whatever walks it next (JSON.stringify, the firewall, the counter).
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (node === null || typeof node !== 'object') continue
    if (depth > max) return true
    const children = Array.isArray(node) ? node : Object.values(node as Json)
    for (const child of children)
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1])
  }
  return false
}

const MAX_FIELDS: Record<ApiKind, string[]> = {
  'openai-chat': ['max_completion_tokens', 'max_tokens'],
  'openai-responses': ['max_output_tokens'],
  'openai-embeddings': [],
  'anthropic-messages': ['max_tokens'],
  'anthropic-count-tokens': [],
}

/** Read model, stream and max tokens; returns a reason string when the body is not usable. */
export function readRequest(api: ApiKind, body: Json): RequestInfo | string {
  if (typeof body.model !== 'string' || body.model.trim() === '') return "the request has no 'model'"
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return "'stream' must be true or false"
  let maxOutput: RequestInfo['maxOutput']
  for (const field of MAX_FIELDS[api]) {
    const value = body[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      return `'${field}' must be a whole number above zero`
    maxOutput = { field, value }
    break
  }
  if (api === 'anthropic-messages' && !maxOutput) return "'max_tokens' is required"
  if (
    (api === 'openai-chat' || api === 'anthropic-messages' || api === 'anthropic-count-tokens') &&
    !Array.isArray(body.messages)
  ) {
    return "'messages' must be a list"
  }
  if (api === 'openai-embeddings' && body.input === undefined) return "the request has no 'input'"
  if (api === 'openai-responses' && body.input === undefined) return "the request has no 'input'"
  let choices = 1
  if (api === 'openai-chat') {
    // Every choice is billed: `n` completions (and `best_of`, which OpenAI-compatible servers such as vLLM
    // generate and bill before returning `n`).
    for (const field of ['n', 'best_of']) {
      const value = body[field]
      if (value === undefined || value === null) continue
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_CHOICES)
        return `'${field}' must be a whole number from 1 to ${MAX_CHOICES}`
      choices = Math.max(choices, value)
    }
  }
  return {
    model: body.model,
    stream: body.stream === true && api !== 'openai-embeddings' && api !== 'anthropic-count-tokens',
    maxOutput,
    producesOutput: api !== 'openai-embeddings' && api !== 'anthropic-count-tokens',
    choices,
    billable: api !== 'anthropic-count-tokens',
  }
}

/** The field to set when the gateway bounds the output itself (the client set none). */
export function maxOutputField(api: ApiKind, providerKind: string): string | undefined {
  if (api === 'openai-chat') return providerKind === 'openai' ? 'max_completion_tokens' : 'max_tokens'
  if (api === 'openai-responses') return 'max_output_tokens'
  if (api === 'anthropic-messages') return 'max_tokens'
  return undefined
}

/**
 * Every piece of text in a request that counts as input, for token counting: message contents, system
 * prompts, tool definitions and tool-call arguments. Images and other binary parts are skipped.
 */
export function inputTexts(api: ApiKind, body: Json, out: string[] = []): string[] {
  if (api === 'openai-embeddings') {
    collect(body.input, out)
    return out
  }
  if (api === 'openai-responses') {
    if (typeof body.instructions === 'string') out.push(body.instructions)
    collect(body.input, out)
  } else {
    if (api !== 'openai-chat') collect(body.system, out)
    if (Array.isArray(body.messages)) for (const message of body.messages) collect(message, out)
  }
  if (Array.isArray(body.tools)) out.push(JSON.stringify(body.tools))
  return out
}

/**
 * Token ids sent instead of text (embeddings accept `input` as an array of token ids, or of such arrays):
 * each is one input token.
 */
export function inputTokenIds(api: ApiKind, body: Json): number {
  if (api !== 'openai-embeddings' || !Array.isArray(body.input)) return 0
  let ids = 0
  for (const item of body.input) {
    if (typeof item === 'number') ids++
    else if (Array.isArray(item)) for (const id of item) if (typeof id === 'number') ids++
  }
  return ids
}

const SKIP_KEYS = new Set([
  'image_url',
  'source',
  'input_audio',
  'file',
  'image',
  'data',
  'cache_control',
  'type',
  'role',
  'id',
  'tool_call_id',
  'tool_use_id',
])

function collect(value: unknown, out: string[], depth = 0): void {
  // Bodies are refused beyond MAX_BODY_DEPTH before they are counted, so no text is left out here.
  if (depth > MAX_BODY_DEPTH || value === null || value === undefined) return
  if (typeof value === 'string') {
    out.push(value)
  } else if (Array.isArray(value)) {
    for (const item of value) collect(item, out, depth + 1)
  } else if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value as Json)) {
      if (SKIP_KEYS.has(key)) continue
      if (key === 'input' && typeof item === 'object') out.push(JSON.stringify(item))
      else collect(item, out, depth + 1)
    }
  }
}

/** Token usage as the pricing module counts it: input_tokens includes cached and cache-written tokens. */
export interface Usage {
  input_tokens: number
  output_tokens: number
  cached_input_tokens: number
  cache_write_tokens: number
}

const num = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0

/** Usage from a JSON response body (or the usage object of a streamed event). */
export function usageFromJson(api: ApiKind, body: Json): Usage | undefined {
  if (api === 'anthropic-count-tokens') {
    if (typeof body.input_tokens !== 'number') return undefined
    return {
      input_tokens: num(body.input_tokens),
      output_tokens: 0,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
    }
  }
  const usage = body.usage as Json | undefined
  if (!usage || typeof usage !== 'object') return undefined
  if (familyOf(api) === 'anthropic') return anthropicUsage(usage)
  if (api === 'openai-responses') {
    return {
      input_tokens: num(usage.input_tokens),
      output_tokens: num(usage.output_tokens),
      cached_input_tokens: num((usage.input_tokens_details as Json | undefined)?.cached_tokens),
      cache_write_tokens: 0,
    }
  }
  return {
    input_tokens: num(usage.prompt_tokens),
    output_tokens: num(usage.completion_tokens),
    cached_input_tokens: num((usage.prompt_tokens_details as Json | undefined)?.cached_tokens),
    cache_write_tokens: 0,
  }
}

/**
 * The text a JSON answer carries (every choice's content and tool-call arguments), to estimate its output
 * tokens when the answer reports no usage.
 */
export function outputText(api: ApiKind, body: Json): string {
  const out: string[] = []
  if (api === 'openai-chat' && Array.isArray(body.choices)) {
    for (const choice of body.choices as Json[]) {
      const message = choice?.message as Json | undefined
      if (typeof message?.content === 'string') out.push(message.content)
      if (Array.isArray(message?.tool_calls))
        for (const call of message.tool_calls as Json[])
          collect((call?.function as Json | undefined)?.arguments, out)
    }
  } else if (api === 'openai-responses' && Array.isArray(body.output)) {
    for (const item of body.output as Json[]) {
      if (typeof item?.arguments === 'string') out.push(item.arguments)
      if (Array.isArray(item?.content)) for (const part of item.content as Json[]) collect(part?.text, out)
    }
  } else if (api === 'anthropic-messages' && Array.isArray(body.content)) {
    for (const block of body.content as Json[]) {
      collect(block?.text, out)
      collect(block?.thinking, out)
      if (block?.input !== undefined) out.push(JSON.stringify(block.input))
    }
  }
  return out.join('')
}

/** Anthropic reports cache reads and writes beside input_tokens; iron's input includes them. */
export function anthropicUsage(usage: Json): Usage {
  const read = num(usage.cache_read_input_tokens)
  const write = num(usage.cache_creation_input_tokens)
  return {
    input_tokens: num(usage.input_tokens) + read + write,
    output_tokens: num(usage.output_tokens),
    cached_input_tokens: read,
    cache_write_tokens: write,
  }
}

export interface GatewayErrorShape {
  status: number
  code: string
  message: string
}

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'api_error',
  503: 'api_error',
  504: 'api_error',
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'invalid_request_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'api_error',
}

/** An error in the shape of the API that was called, so SDKs surface it as their own error class. */
export function errorBody(family: Family, error: GatewayErrorShape): Json {
  if (family === 'anthropic') {
    return {
      type: 'error',
      error: { type: ANTHROPIC_TYPES[error.status] ?? 'api_error', code: error.code, message: error.message },
    }
  }
  return {
    error: {
      message: error.message,
      type: OPENAI_TYPES[error.status] ?? 'api_error',
      param: null,
      code: error.code,
    },
  }
}
