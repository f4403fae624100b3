import { countInputTokens, inputTokenBound } from '../tokenizer.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/** The input tokens counted with the model's tokenizer (once per request, when something needs them). */
export function countedInput(ex: Exchange): number {
  if (ex.counted === undefined) {
    const walked = ex.walked!
    const provider = ex.price?.provider ?? ex.provider!.kind
    ex.counted = countInputTokens(walked.texts, ex.model!, provider).tokens + walked.tokenIds
  }
  return ex.counted
}

/** A sure upper bound of the input tokens, without counting. */
export const inputBound = (ex: Exchange): number => inputTokenBound(ex.walked!.texts) + ex.walked!.tokenIds

/**
 * Stage 5: the input tokens, and the agent's tokens per minute. Counting is only needed where the count
 * matters: for a tokens-per-minute limit here, near the edge of the budget at admission (far from it, the
 * byte bound admits as safely), and for a stream cut before it reported usage.
 */
export function count(deps: GatewayDeps, ex: Exchange): Refusal | undefined {
  const agent = ex.agent!
  if (agent.tpm_limit === null) return undefined
  const limits = deps.limiter.addInput(agent.id, agent.tpm_limit, countedInput(ex))
  if (!limits.ok) {
    return refusal(
      429,
      'rate_limited',
      `Agent ${agent.name} is over its tokens per minute limit; retry in ${limits.retryAfterSeconds}s`,
      {
        headers: {
          'retry-after': String(limits.retryAfterSeconds),
          'retry-after-ms': String(limits.retryAfterMs),
        },
      },
    )
  }
  return undefined
}
