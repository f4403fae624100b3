import { MAX_MICROS } from '../../core/money.js'
import { costMicros, MAX_TOKEN_COUNT } from '../../pricing/index.js'
import type { SettleResult } from '../../services/api.js'
import type { Usage } from '../adapters/types.js'
import { finishTimes } from '../record.js'
import { countOutputTokens } from '../tokenizer.js'
import { countedInput } from './count.js'
import type { Exchange, GatewayDeps } from './exchange.js'
import { writeRecord } from './respond.js'

/**
 * Stage 9: charge a finished (or cut) request and write its record together. Usage is what the provider
 * reported; without it (a cut stream, an answer without usage) the input as counted and the output it
 * produced, counted with the tokenizer and never more than the output that was reserved (every choice at
 * its cap). `status` is what the client got on the wire; the record says the same.
 */
export async function settle(
  deps: GatewayDeps,
  ex: Exchange,
  usage: Usage | undefined,
  producedText: string,
  outcome: string,
  status: number,
  extraChars = 0,
): Promise<Pick<SettleResult, 'charged_micros' | 'remaining_micros'>> {
  const r = ex.record
  const { price, info } = ex
  const provider = price?.provider ?? 'openai-compatible'
  const reservedOutput = ex.outputCap * info!.choices
  const estimate = () =>
    Math.min(
      countOutputTokens(producedText, r.model ?? '', provider) + Math.ceil(extraChars / 4),
      reservedOutput,
    )
  const final: Usage = saneUsage(
    usage ?? {
      input_tokens: ex.walked ? countedInput(ex) : 0,
      output_tokens: info!.producesOutput ? estimate() : 0,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
    },
  )
  if (usage && usage.output_tokens === 0 && producedText && info!.producesOutput)
    final.output_tokens = estimate()
  const cost = price && info!.billable ? Math.min(costMicros(price, final), MAX_MICROS) : 0
  r.input_tokens = final.input_tokens
  r.output_tokens = final.output_tokens
  r.cached_tokens = final.cached_input_tokens
  r.cost_known = price || !info!.billable ? 1 : 0
  r.cost_micros = cost
  r.status = status
  r.outcome = outcome
  if (status >= 400 && !r.error_code) r.error_code = outcome
  deps.limiter.addTokens(r.agent_id ?? '', final.output_tokens)
  const admission = ex.admission
  ex.admission = undefined
  if (!admission) {
    // Nothing was held (token counting is free): recorded, not charged.
    await writeRecord(deps, ex)
    return { charged_micros: cost, remaining_micros: null }
  }
  ex.recorded = true
  finishTimes(r, performance.now() - ex.t0, ex.upstreamMs)
  const settled = await deps.leases.settle(
    admission,
    {
      reservation_id: r.id,
      actual_micros: cost,
      cost_known: price !== undefined,
      model: r.model ?? undefined,
      provider: r.provider ?? undefined,
      input_tokens: final.input_tokens,
      output_tokens: final.output_tokens,
      cached_tokens: final.cached_input_tokens,
    },
    r,
  )
  const alert = (result: SettleResult) => {
    if (result.alert_pct === null || !ex.agent) return
    deps.events.publish({
      type: 'alert',
      at: new Date().toISOString(),
      agent: ex.agent.name,
      agent_id: ex.agent.id,
      threshold_pct: result.alert_pct,
      remaining_micros: result.remaining_micros,
    })
  }
  // An alert is known once the store has the settlement; the request's own event waits for it (observe).
  if (settled.written) ex.written = settled.written.then(alert, () => {})
  else alert(settled)
  return settled
}

/** Usage as an upstream reported it, made safe to price: whole counts within bounds, cache parts within input. */
function saneUsage(usage: Usage): Usage {
  const count = (n: number) => (Number.isSafeInteger(n) && n > 0 ? Math.min(n, MAX_TOKEN_COUNT) : 0)
  const cached = count(usage.cached_input_tokens)
  const written = count(usage.cache_write_tokens)
  return {
    input_tokens: Math.min(Math.max(count(usage.input_tokens), cached + written), MAX_TOKEN_COUNT),
    output_tokens: count(usage.output_tokens),
    cached_input_tokens: Math.min(cached, MAX_TOKEN_COUNT),
    cache_write_tokens: Math.min(written, Math.max(MAX_TOKEN_COUNT - cached, 0)),
  }
}
