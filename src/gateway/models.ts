import type { ModelPrice, PriceTable } from '../pricing/index.js'
import type { GatewayAgent, GatewayProvider } from '../services/gateway-control.js'

/**
 * `GET /v1/models`: the models an agent may use, in the shape of the SDK that asks. An agent's allowed
 * models list wins; otherwise every priced model a provider it may use can serve.
 */
export function modelsPayload(
  agent: GatewayAgent,
  providers: readonly GatewayProvider[],
  prices: PriceTable,
  anthropic: boolean,
  now = Date.now(),
): unknown {
  const allowedProviders = agent.allowed_providers
  const allowedModels = agent.allowed_models
  const kinds = new Set(
    providers
      .filter((p) => allowedProviders.length === 0 || allowedProviders.includes(p.name))
      .map((p) => p.kind),
  )
  const serves = (price: ModelPrice) =>
    kinds.has(price.provider) ||
    (kinds.has('openai-compatible') && price.provider !== 'mock') ||
    (price.provider === 'openai-compatible' && kinds.has('openai-compatible'))
  const models = prices
    .list()
    .filter((p) => (allowedModels.length ? allowedModels.includes(p.model) : serves(p)))
    .filter((p) => !anthropic || p.provider === 'anthropic' || p.provider === 'mock')
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
