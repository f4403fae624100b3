import { formatMoney } from '../../core/money.js'
import { MAX_TOKEN_COUNT, maxOutputTokensWithin, worstCaseMicros } from '../../pricing/index.js'
import { countedInput, inputBound } from './count.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/**
 * Stage 6: hold the worst case — every input token at the highest input price, every choice at its max
 * tokens — against the agent's budget, or refuse (402), or, under the clamp policy, lower max tokens to what
 * fits. Token counting and other calls the provider does not bill hold nothing.
 */
export async function admit(deps: GatewayDeps, ex: Exchange): Promise<Refusal | undefined> {
  const { info, price, agent } = ex as Required<Pick<typeof ex, 'info' | 'agent'>> & typeof ex
  const choices = info.choices
  ex.outputCap =
    info.producesOutput && price
      ? Math.min(info.maxOutput?.value ?? price.max_output_tokens, price.max_output_tokens)
      : 0
  if (ex.outputCap * choices > MAX_TOKEN_COUNT) {
    return refusal(
      400,
      'invalid_request',
      `Invalid request: ${choices} choices of ${ex.outputCap} tokens is more output than any model produces`,
    )
  }
  if (!info.billable) return undefined
  // Far from the budget's edge, the byte bound's worst case fits what the lease holds free: no need to count.
  let input = ex.counted ?? inputBound(ex)
  if (ex.counted === undefined && price && agent.budgeted) {
    const rough = worstCaseMicros(price, input, ex.outputCap * choices)
    if (rough > deps.leases.freeFor(agent.id)) input = countedInput(ex)
  }
  ex.input = input
  const worst = price ? worstCaseMicros(price, input, ex.outputCap * choices) : 0
  let clampedTo: number | undefined
  const admission = await deps.leases.admit(
    agent.id,
    worst,
    price && info.producesOutput
      ? (available) => {
          const tokens = Math.floor(maxOutputTokensWithin(price, input, available) / choices)
          if (tokens < 1) return undefined
          clampedTo = tokens
          return worstCaseMicros(price, input, tokens * choices)
        }
      : undefined,
  )
  if ('ok' in admission) {
    const headers = { 'x-iron-budget-remaining-micros': String(admission.remaining_micros) }
    if (admission.reason !== 'budget_exceeded') {
      return refusal(
        403,
        admission.reason,
        `Agent ${agent.name} is ${admission.reason === 'agent_deleted' ? 'deleted' : 'suspended'}`,
        {
          headers,
        },
      )
    }
    const elsewhere = admission.leased_elsewhere_micros ?? 0
    const field = ex.adapter.maxOutputField(ex.provider!.kind)
    const howTo =
      info.producesOutput && field
        ? ` Lower '${info.maxOutput?.field ?? field}', or let iron lower it to fit: iron budget set ${agent.name} --on-insufficient clamp.`
        : ''
    return refusal(
      402,
      'budget_exceeded',
      `Agent ${agent.name} has ${formatMoney(admission.remaining_micros)} left, and this request could cost up to ${formatMoney(worst)}.` +
        (elsewhere > 0
          ? ` Other gateways hold ${formatMoney(elsewhere)} of its budget in leases; they return what they do not use.`
          : '') +
        howTo,
      { headers },
    )
  }
  ex.admission = admission
  ex.record.reserved_micros = admission.amount
  if (admission.clamped && clampedTo !== undefined) ex.outputCap = clampedTo
  return undefined
}
