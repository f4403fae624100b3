import { enabledCategories, redactParts, walkBody } from '../../safety/index.js'
import type { Json } from '../adapters/types.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'
import { findings } from './findings.js'

/** The agent's policy, and whether it checks anything on each side (a policy of all `off` costs nothing). */
export function policyChecks(deps: GatewayDeps, ex: Exchange) {
  const policy = ex.agent!.policy
  ex.checks ??= {
    policy,
    input: deps.firewall && enabledCategories(policy, 'input').size > 0,
    output: deps.firewall && enabledCategories(policy, 'output').size > 0,
  }
  return ex.checks
}

/**
 * Stage 4: walk the body once (its texts serve the firewall here and the tokenizer next), then block or
 * redact by the agent's input policy. A body too complex to walk is refused (fail closed).
 */
export function inputFirewall(deps: GatewayDeps, ex: Exchange): Refusal | undefined {
  const checks = policyChecks(deps, ex)
  let walkError: unknown
  try {
    ex.walked = walkBody(ex.adapter.walkRequest, ex.body)
  } catch (error) {
    // Beyond what the walker takes: counted as its raw bytes, and refused below if the firewall must read it.
    walkError = error
    ex.walked = { parts: [], texts: [ex.raw!.toString('utf8')], tokenIds: 0 }
  }
  if (!checks.input) return undefined
  const parts = ex.walked.parts
  const checked = redactParts(
    () => {
      if (walkError) throw walkError
      return parts
    },
    ex.body,
    'input',
    checks.policy,
  )
  findings(deps, ex, 'input', checked)
  if (checked.error || checked.blocked.length) {
    const what = checked.error
      ? `the firewall could not check it (${checked.error.message})`
      : checked.blocked.join(', ')
    return refusal(400, 'safety_violation', `The request was blocked by iron's input firewall: ${what}`, {
      outcome: 'safety_blocked',
    })
  }
  if (checked.redacted.length) {
    ex.body = checked.body as Json
    ex.redacted = true
  }
  return undefined
}
