import type { Json } from '../adapters/types.js'
import { upstreamErrorCode, upstreamHeaders } from '../http.js'
import { mockRespond } from '../mock-upstream.js'
import { safeRequestId, scrubUpstreamText } from '../scrub.js'
import { readText, toUpstreamError, type UpstreamResponse } from '../upstream.js'
import { type Exchange, type GatewayDeps, refusal } from './exchange.js'
import { abandoned, answer, refuse } from './respond.js'

const MAX_UPSTREAM_ERROR_BODY = 1024 * 1024

/**
 * The body as sent upstream: the model id the provider knows, output bounded by what was reserved, and
 * usage asked for in streams (the meter hides it again from a client that did not ask). Fields the client's
 * body does not have are added at the end of its own bytes (no other key of it can be read otherwise by the
 * provider); the body is written anew only when a field it has must change.
 */
export function outgoingBody(ex: Exchange): void {
  const { info, price, provider, adapter } = ex
  let body = ex.body!
  let rewrite = ex.model !== info!.model || ex.redacted === true
  if (rewrite) body = { ...body, model: ex.model }
  let added = ''
  const maxField = info!.maxOutput?.field ?? adapter.maxOutputField(provider!.kind)
  if (
    price &&
    info!.producesOutput &&
    maxField &&
    (info!.maxOutput?.value ?? Number.POSITIVE_INFINITY) > ex.outputCap
  ) {
    if (Object.hasOwn(body, maxField)) rewrite = true
    else added += `,${JSON.stringify(maxField)}:${ex.outputCap}`
    body = { ...body, [maxField]: ex.outputCap }
  }
  ex.clientWantsUsage = (body.stream_options as Json | undefined)?.include_usage === true
  if (adapter.asksStreamUsage && info!.stream && !ex.clientWantsUsage) {
    if (Object.hasOwn(body, 'stream_options')) rewrite = true
    else added += ',"stream_options":{"include_usage":true}'
    body = { ...body, stream_options: { ...(body.stream_options as Json | undefined), include_usage: true } }
  }
  ex.body = body
  if (rewrite) ex.outgoing = JSON.stringify(body)
  else if (added) ex.outgoing = appendFields(ex.raw!, added) ?? JSON.stringify(body)
  else ex.outgoing = ex.raw
}

/**
 * A JSON object's bytes with `,"key":value...` added before its closing brace, or undefined if the bytes do
 * not end that way (then the body is written anew).
 */
function appendFields(raw: Buffer, fields: string): Buffer | undefined {
  let end = raw.length - 1
  while (end >= 0 && isJsonSpace(raw[end]!)) end--
  if (raw[end] !== 0x7d /* } */) return undefined
  let last = end - 1
  while (last >= 0 && isJsonSpace(raw[last]!)) last--
  // An empty object takes no comma; a parsed request never is one (it has its model), but stay exact.
  if (last < 0 || raw[last] === 0x7b /* { */) return undefined
  return Buffer.concat([raw.subarray(0, end), Buffer.from(`${fields}}`, 'utf8')])
}

const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * Stage 7: send the request to the provider with its real key (or to the built-in mock), streaming both
 * ways. A provider's error is relayed in its own words, scrubbed of any secret; a provider that cannot be
 * reached is a 502 (504 on a timeout). Undefined when the request was answered here.
 */
export async function forward(
  deps: GatewayDeps,
  ex: Exchange,
  signal: AbortSignal,
): Promise<UpstreamResponse | undefined> {
  const provider = ex.provider!
  const start = performance.now()
  const key = provider.kind === 'mock' ? null : await deps.control.apiKey(provider.id)
  let upstream: UpstreamResponse
  try {
    upstream =
      provider.kind === 'mock'
        ? mockRespond(ex.adapter, { ...ex.body!, stream: ex.info!.stream }, ex.outputCap || 64, deps.mock)
        : await deps.upstreams.send({
            url: new URL(`${provider.base_url}${ex.adapter.upstreamPath}`),
            headers: upstreamHeaders(provider, key, ex.req),
            body: ex.outgoing!,
            signal,
          })
  } catch (error) {
    ex.upstreamMs = performance.now() - start
    if (signal.aborted) {
      await abandoned(deps, ex)
      return undefined
    }
    const failure = toUpstreamError(error)
    await refuse(
      deps,
      ex,
      refusal(
        failure.code === 'UPSTREAM_TIMEOUT' ? 504 : 502,
        failure.code.toLowerCase(),
        `Provider ${provider.name}: ${failure.message}`,
      ),
    )
    return undefined
  }
  const upstreamRequestId = safeRequestId(upstream.headers['x-request-id'] ?? upstream.headers['request-id'])
  if (upstreamRequestId) ex.res.setHeader('x-upstream-request-id', upstreamRequestId)
  if (upstream.status < 400) return upstream

  const raw = await readText(upstream.body, MAX_UPSTREAM_ERROR_BODY).catch(() => '')
  ex.upstreamMs = performance.now() - start
  // Relayed so SDKs show the provider's reason, but never with a secret in it (some servers echo the key).
  const text = raw ? scrubUpstreamText(raw, [key]) : undefined
  ex.record.error_code = text ? upstreamErrorCode(text) : 'upstream_error'
  const status = upstream.status <= 599 ? upstream.status : 502
  let json = false
  try {
    json = text !== undefined && typeof JSON.parse(text) === 'object'
  } catch {}
  await answer(
    deps,
    ex,
    status,
    'upstream_error',
    text ||
      JSON.stringify(
        ex.adapter.error(status, 'upstream_error', `Provider ${provider.name} answered ${upstream.status}`),
      ),
    text && !json ? 'text/plain; charset=utf-8' : 'application/json',
  )
  return undefined
}
