import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/** Stage 2: a suspended agent is refused, and so is one over its requests (or tokens) per minute. */
export function agentState(deps: GatewayDeps, ex: Exchange): Refusal | undefined {
  const agent = ex.agent!
  if (agent.status !== 'active') return refusal(403, 'agent_suspended', `Agent ${agent.name} is suspended`)
  const limits = deps.limiter.admit(agent.id, { rpm: agent.rpm_limit, tpm: agent.tpm_limit })
  if (!limits.ok) {
    return refusal(
      429,
      'rate_limited',
      `Agent ${agent.name} is over its ${limits.limit.replaceAll('_', ' ')} limit; retry in ${limits.retryAfterSeconds}s`,
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
