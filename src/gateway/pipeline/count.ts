import { countInputTokens } from '../tokenizer.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/** Stage 5: the input tokens (counted with the model's tokenizer), and the agent's tokens per minute. */
export function count(deps: GatewayDeps, ex: Exchange): Refusal | undefined {
  const walked = ex.walked!
  const provider = ex.price?.provider ?? ex.provider!.kind
  ex.input = countInputTokens(walked.texts, ex.model!, provider).tokens + walked.tokenIds
  const agent = ex.agent!
  const limits = deps.limiter.addInput(agent.id, agent.tpm_limit, ex.input)
  if (!limits.ok) {
    return refusal(
      429,
      'rate_limited',
      `Agent ${agent.name} is over its tokens per minute limit; retry in ${limits.retryAfterSeconds}s`,
      { headers: { 'retry-after': String(limits.retryAfterSeconds) } },
    )
  }
  return undefined
}
