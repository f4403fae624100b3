import { IronError } from '../../core/errors.js'
import {
  type BodyResult,
  type RedactBodyOptions,
  redactParts,
  type SafetyPolicy,
  type TextPart,
  walkBody,
} from '../../safety/index.js'
import { anthropicCountTokens } from './anthropic-count-tokens.js'
import { anthropicMessages } from './anthropic-messages.js'
import { openaiChat } from './openai-chat.js'
import { openaiEmbeddings } from './openai-embeddings.js'
import { openaiResponses } from './openai-responses.js'
import type { ApiAdapter, ApiKind, Json } from './types.js'

export { MAX_CHOICES } from './openai-chat.js'
export type * from './types.js'

/** Every API the gateway speaks, one adapter each. */
export const ADAPTERS: readonly ApiAdapter[] = [
  openaiChat,
  openaiResponses,
  openaiEmbeddings,
  anthropicMessages,
  anthropicCountTokens,
]

const BY_ROUTE = new Map(ADAPTERS.map((a) => [a.route, a]))
const BY_KIND = new Map(ADAPTERS.map((a) => [a.kind, a]))

/** The adapter serving a gateway route, if any. */
export const adapterForRoute = (path: string): ApiAdapter | undefined => BY_ROUTE.get(path)

export function adapterFor(kind: ApiKind): ApiAdapter {
  const adapter = BY_KIND.get(kind)
  if (!adapter)
    throw new IronError('UNKNOWN_API', `Unknown API '${String(kind)}'`, {
      hint: `One of ${[...BY_KIND.keys()].join(', ')}`,
    })
  return adapter
}

/** The routes, for messages that list them. */
export const ROUTE_LIST = ADAPTERS.map((a) => a.route)

/** Every user-visible text of a request body, in document order, as the input firewall sees it. */
export function textPartsOfRequest(
  kind: ApiKind,
  body: unknown,
  options: RedactBodyOptions = {},
): TextPart[] {
  return walkBody(adapterFor(kind).walkRequest, body, options).parts
}

/** Every text of a (non-streamed) answer, as the output firewall sees it. */
export function textPartsOfResponse(
  kind: ApiKind,
  body: unknown,
  options: RedactBodyOptions = {},
): TextPart[] {
  return walkBody(adapterFor(kind).walkResponse, body, options).parts
}

/** Scan and redact a request body with the policy's input side (fail closed). */
export function redactRequest(
  kind: ApiKind,
  body: unknown,
  policy?: Readonly<SafetyPolicy>,
  options: RedactBodyOptions = {},
): BodyResult {
  return redactParts(() => textPartsOfRequest(kind, body, options), body, 'input', policy, options)
}

/** Scan and redact a (non-streamed) answer with the policy's output side (fail closed). */
export function redactResponse(
  kind: ApiKind,
  body: unknown,
  policy?: Readonly<SafetyPolicy>,
  options: RedactBodyOptions = {},
): BodyResult {
  return redactParts(() => textPartsOfResponse(kind, body, options), body, 'output', policy, options)
}

/** The text a JSON answer carries (every choice, every block), to estimate its output tokens without usage. */
export function outputText(adapter: ApiAdapter, body: Json): string {
  try {
    return walkBody(adapter.walkResponse, body).texts.join('')
  } catch {
    return JSON.stringify(body)
  }
}
