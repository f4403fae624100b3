import { tokenFrom } from '../http.js'
import { type Exchange, type GatewayDeps, type Refusal, refusal } from './exchange.js'

/** Stage 1: the IC token names an agent (a hash lookup, cached by the control plane). */
export async function authenticate(deps: GatewayDeps, ex: Exchange): Promise<Refusal | undefined> {
  const secret = tokenFrom(ex.req)
  if (!secret)
    return refusal(401, 'missing_token', 'No IC token: send it as Authorization: Bearer <token> or x-api-key')
  const identity = await deps.control.authenticate(secret)
  if (!identity) return refusal(401, 'invalid_token', 'The IC token is unknown, revoked or expired')
  ex.agent = identity.agent
  ex.record.agent_id = identity.agent.id
  ex.record.token_id = identity.token_id
  deps.control.tokenUsed(identity.token_id)
  return undefined
}
