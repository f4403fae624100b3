import { hash } from 'node:crypto'
import { redactParts, walkBody } from '../../safety/index.js'
import { outputText } from '../adapters/index.js'
import type { Json } from '../adapters/types.js'
import { safeContentType } from '../scrub.js'
import { readText, type UpstreamResponse } from '../upstream.js'
import type { Exchange, GatewayDeps } from './exchange.js'
import { findings } from './findings.js'
import { MAX_BODY_DEPTH, nestsDeeperThan } from './parse.js'
import { answer, observe } from './respond.js'
import { settle } from './settle.js'

const MAX_UPSTREAM_JSON = 64 * 1024 * 1024

/**
 * Stage 8 (JSON): read the answer whole, meter it, run the output firewall, settle, then send it. The answer
 * is paid for either way; a blocked one does not reach the agent.
 */
export async function answerJson(
  deps: GatewayDeps,
  ex: Exchange,
  upstream: UpstreamResponse,
  upstreamStart: number,
  signal: AbortSignal,
): Promise<void> {
  let text: string
  try {
    text = await readText(upstream.body, MAX_UPSTREAM_JSON)
  } catch {
    ex.upstreamMs = performance.now() - upstreamStart
    const gone = signal.aborted
    await settle(deps, ex, undefined, '', gone ? 'client_closed' : 'upstream_error', gone ? 499 : 502)
    if (gone) return observe(deps, ex, 499, 'client_closed')
    const message = `Provider ${ex.provider!.name} stopped mid-answer`
    return answer(
      deps,
      ex,
      502,
      'upstream_error',
      JSON.stringify(ex.adapter.error(502, 'upstream_failed', message)),
      'application/json',
    )
  }
  ex.upstreamMs = performance.now() - upstreamStart
  let parsed: Json | undefined
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Json
  } catch {}
  if (!parsed || nestsDeeperThan(parsed, MAX_BODY_DEPTH)) {
    // Not an answer of this API: charged as estimated (the provider may have billed it), never relayed.
    await settle(deps, ex, undefined, text, 'upstream_error', 502)
    const message = `Provider ${ex.provider!.name} answered with a body that is not a JSON object of this API`
    return answer(
      deps,
      ex,
      502,
      'upstream_error',
      JSON.stringify(ex.adapter.error(502, 'upstream_invalid_response', message)),
      'application/json',
    )
  }
  const usage = ex.adapter.usageFromJson(parsed)
  let blocked: string | undefined
  if (ex.checks!.output) {
    const checked = redactParts(
      () => walkBody(ex.adapter.walkResponse, parsed).parts,
      parsed,
      'output',
      ex.checks!.policy,
    )
    findings(deps, ex, 'output', checked)
    if (checked.error || checked.blocked.length)
      blocked = checked.error ? checked.error.message : checked.blocked.join(', ')
    else if (checked.redacted.length) text = JSON.stringify(checked.body)
  }
  if (blocked) {
    text = JSON.stringify(
      ex.adapter.error(
        400,
        'safety_violation',
        `The response was blocked by iron's output firewall: ${blocked}`,
      ),
    )
  }
  ex.record.response_sha256 = hash('sha256', text, 'hex')
  const status = blocked ? 400 : 200
  const outcome = blocked ? 'safety_blocked' : 'ok'
  const result = await settle(deps, ex, usage, usage ? '' : outputText(ex.adapter, parsed), outcome, status)
  const headers: Record<string, string> = { 'x-iron-cost-micros': String(result.charged_micros) }
  if (result.remaining_micros !== null)
    headers['x-iron-budget-remaining-micros'] = String(
      result.remaining_micros + deps.leases.freeFor(ex.agent!.id),
    )
  return answer(
    deps,
    ex,
    status,
    outcome,
    text,
    blocked ? 'application/json' : safeContentType(upstream.headers['content-type'], 'application/json'),
    headers,
  )
}
