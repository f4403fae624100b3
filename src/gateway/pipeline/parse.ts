import { createHash } from 'node:crypto'
import type { Json } from '../adapters/types.js'
import { readBody } from '../http.js'
import { route } from '../routing.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

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
  ex.record.prompt_sha256 = createHash('sha256').update(raw).digest('hex')
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
