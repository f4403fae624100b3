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
 * usage asked for in streams (the meter hides it again from a client that did not ask).
 */
export function outgoingBody(ex: Exchange): void {
  const { info, price, provider, adapter } = ex
  let body = ex.body!
  let changed = ex.model !== info!.model || ex.redacted === true
  if (changed) body = { ...body, model: ex.model }
  const maxField = info!.maxOutput?.field ?? adapter.maxOutputField(provider!.kind)
  if (
    price &&
    info!.producesOutput &&
    maxField &&
    (info!.maxOutput?.value ?? Number.POSITIVE_INFINITY) > ex.outputCap
  ) {
    body = { ...body, [maxField]: ex.outputCap }
    changed = true
  }
  ex.clientWantsUsage = (body.stream_options as Json | undefined)?.include_usage === true
  if (adapter.asksStreamUsage && info!.stream && !ex.clientWantsUsage) {
    body = { ...body, stream_options: { ...(body.stream_options as Json | undefined), include_usage: true } }
    changed = true
  }
  ex.body = body
  ex.outgoing = changed ? JSON.stringify(body) : ex.raw
}

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
