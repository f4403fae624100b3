import type { PathSegment, TextSink } from '../../safety/index.js'
import { localResponse, type UpstreamResponse } from '../upstream.js'
import type { Family, Json, Usage } from './types.js'

/** Pieces of body and stream knowledge more than one API shares. */

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** More tokens than any model produces in a request; a larger count from an upstream is clamped to it. */
const MAX_COUNT = 1_000_000_000

export const num = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? Math.min(Math.floor(value), MAX_COUNT)
    : 0

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

/** Read the max-output field a client set; a reason string when it is not a whole number above zero. */
export function readMaxOutput(
  body: Json,
  fields: readonly string[],
): { field: string; value: number } | undefined | string {
  for (const field of fields) {
    const value = body[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      return `'${field}' must be a whole number above zero`
    return { field, value }
  }
  return undefined
}

export function readModel(body: Json): string | undefined {
  if (typeof body.model !== 'string' || body.model.trim() === '') return "the request has no 'model'"
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return "'stream' must be true or false"
  return undefined
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

/** An error in a family's shape, so SDKs surface it as their own error class. */
export function errorOf(family: Family, status: number, code: string, message: string): Json {
  if (family === 'anthropic') {
    return { type: 'error', error: { type: ANTHROPIC_TYPES[status] ?? 'api_error', code, message } }
  }
  return { error: { message, type: OPENAI_TYPES[status] ?? 'api_error', param: null, code } }
}

const TEXT_PART_TYPES = new Set(['text', 'input_text', 'output_text', 'summary_text'])

/** OpenAI-style content: a string, or parts of which the text ones count. */
export function openAiContent(c: TextSink, path: PathSegment[], content: unknown): void {
  if (typeof content === 'string') c.text(path, content)
  else if (Array.isArray(content)) {
    content.forEach((part, j) => {
      if (!isObject(part)) return
      if (typeof part.type === 'string' && TEXT_PART_TYPES.has(part.type))
        c.text([...path, j, 'text'], part.text)
      else if (part.type === 'refusal') c.text([...path, j, 'refusal'], part.refusal)
    })
  }
}

export function openAiToolCalls(c: TextSink, path: PathSegment[], msg: Json): void {
  if (isObject(msg.function_call))
    c.text([...path, 'function_call', 'arguments'], msg.function_call.arguments, 'json')
  if (Array.isArray(msg.tool_calls)) {
    msg.tool_calls.forEach((call, k) => {
      if (!isObject(call)) return
      if (isObject(call.function))
        c.text([...path, 'tool_calls', k, 'function', 'arguments'], call.function.arguments, 'json')
      if (isObject(call.custom)) c.text([...path, 'tool_calls', k, 'custom', 'input'], call.custom.input)
    })
  }
}

/** Tool definitions and output schemas: billed as input, not scanned (they are the developer's, not the agent's). */
export function countedDefinitions(c: TextSink, body: Json, fields: readonly string[]): void {
  for (const field of fields) if (body[field] !== undefined) c.counted(body[field])
}

export const jsonAnswer = (body: Json): UpstreamResponse =>
  localResponse(200, 'application/json', JSON.stringify(body))
export const sseAnswer = (events: AsyncIterable<string>): UpstreamResponse =>
  localResponse(200, 'text/event-stream', events)
export const sseData = (payload: Json) => `data: ${JSON.stringify(payload)}\n\n`
export const sseEvent = (name: string, payload: Json) =>
  `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`
