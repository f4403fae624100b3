import { hash } from 'node:crypto'
import type { Json } from '../adapters/types.js'
import { readBody } from '../http.js'
import { route } from '../routing.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/** Deepest nesting of arrays and objects a request body may have (the SDKs' bodies are a dozen deep). */
export const MAX_BODY_DEPTH = 400

/**
 * Whether a parsed body nests deeper than `max` levels, before anything else walks it (JSON.stringify, the
 * firewall, the counter): a hostile body 100,000 levels deep is refused, not left to overflow their stacks.
 * This walk itself never recurses more than `max` + 1 frames (JSON.parse builds such bodies without recursing).
 */
export function nestsDeeperThan(value: unknown, max: number, depth = 1): boolean {
  if (value === null || typeof value !== 'object') return false
  if (depth > max) return true
  if (Array.isArray(value)) {
    for (const item of value)
      if (typeof item === 'object' && item !== null && nestsDeeperThan(item, max, depth + 1)) return true
    return false
  }
  for (const key in value as Json) {
    const item = (value as Json)[key]
    if (typeof item === 'object' && item !== null && nestsDeeperThan(item, max, depth + 1)) return true
  }
  return false
}

/**
 * Stage 3: read the body within its limits, parse it as this API's request, and route its model to a
 * provider the agent may use. Bad input is a 4xx here, before anything is admitted.
 */
export async function parse(deps: GatewayDeps, ex: Exchange): Promise<Refusal | 'aborted' | undefined> {
  const type = String(ex.req.headers['content-type'] ?? '')
  if (!/^application\/json\b/i.test(type))
    return refusal(
      415,
      'unsupported_media_type',
      `Send the body as application/json (got '${type || 'nothing'}')`,
    )
  const raw = await readBody(ex.req, deps.maxBodyBytes)
  if (raw === 'too_large') {
    return refusal(
      413,
      'request_too_large',
      `The body is larger than the gateway's limit of ${deps.maxBodyBytes} bytes`,
      {
        headers: { connection: 'close' },
      },
    )
  }
  if (raw === 'aborted') return 'aborted'
  ex.raw = raw
  ex.record.prompt_sha256 = hash('sha256', raw, 'hex')
  let body: Json
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object')
    body = parsed as Json
  } catch {
    return refusal(400, 'invalid_json', 'The body is not a JSON object')
  }
  if (nestsDeeperThan(body, MAX_BODY_DEPTH))
    return refusal(
      400,
      'too_deeply_nested',
      `The body nests arrays and objects more than ${MAX_BODY_DEPTH} levels deep`,
    )
  const info = ex.adapter.read(body)
  if (typeof info === 'string') return refusal(400, 'invalid_request', `Invalid request: ${info}`)
  ex.body = body
  ex.info = info
  ex.record.model = info.model
  ex.record.stream = info.stream ? 1 : 0

  const routed = route({
    agent: ex.agent!,
    requested: info.model,
    family: ex.adapter.family,
    providers: await deps.control.providers(),
    prices: await deps.control.prices(),
  })
  if ('status' in routed) return refusal(routed.status, routed.code, routed.message)
  ex.provider = routed.provider
  ex.price = routed.price
  ex.model = routed.model
  ex.record.provider = routed.provider.name
  ex.record.model = routed.price?.model ?? routed.model
  return undefined
}
