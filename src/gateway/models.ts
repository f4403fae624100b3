import type { PriceTable } from '../pricing/index.js'
import type { GatewayAgent, GatewayProvider } from '../services/gateway-control.js'
import { route } from './routing.js'

/**
 * `GET /v1/models`: the priced models the agent can really use on the API that asks, in its SDK's shape:
 * each one the gateway would route to a provider the agent may use (its allowed models, if it has a list).
 */
export function modelsPayload(
  agent: GatewayAgent,
  providers: readonly GatewayProvider[],
  prices: PriceTable,
  anthropic: boolean,
  now = Date.now(),
): unknown {
  const family = anthropic ? 'anthropic' : 'openai'
  const models = prices
    .list()
    .filter((p) => !anthropic || p.kind === 'chat')
    .map((p) => ({ price: p, routed: route({ agent, requested: p.model, family, providers, prices }) }))
    .filter(({ routed }) => !('status' in routed))
    .map(({ price }) => price)
  if (anthropic) {
    return {
      data: models.map((p) => ({
        type: 'model',
        id: p.model,
        display_name: p.model,
        created_at: new Date(0).toISOString(),
      })),
      has_more: false,
      first_id: models[0]?.model ?? null,
      last_id: models.at(-1)?.model ?? null,
    }
  }
  const created = Math.floor(now / 1000)
  return {
    object: 'list',
    data: models.map((p) => ({ id: p.model, object: 'model', created, owned_by: p.provider })),
  }
}
