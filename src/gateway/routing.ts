import {
  isRetired,
  type ModelPrice,
  type PriceTable,
  retiredMessage,
  retirementOf,
} from '../pricing/index.js'
import { mockModelPrice } from '../pricing/lookup.js'
import type { GatewayAgent, GatewayProvider } from '../services/gateway-control.js'
import { servingProvider } from '../services/serving.js'
import type { Family } from './adapters/types.js'

export interface Route {
  provider: GatewayProvider
  /** The model id sent upstream (a provider prefix such as `ollama/` removed). */
  model: string
  price: ModelPrice | undefined
}

export interface RouteRefusal {
  status: number
  code: string
  message: string
}

const KINDS_FOR: Record<Family, ReadonlySet<string>> = {
  openai: new Set(['openai', 'openai-compatible', 'mock']),
  anthropic: new Set(['anthropic', 'mock']),
}

/**
 * Model → provider, by the agent's allowed providers and the price catalog. `<provider>/<model>` picks a
 * provider by name. A mock provider answers any model that no other provider of the agent serves, priced
 * as the catalog says or, without a catalog price, as a mock model. Any other model without a price goes
 * only to an OpenAI-compatible server, and never for an agent with a budget limit (its cost could not be
 * known: fail closed).
 */
export function route(options: {
  agent: GatewayAgent
  requested: string
  family: Family
  providers: readonly GatewayProvider[]
  prices: PriceTable
}): Route | RouteRefusal {
  const { agent, family, prices } = options
  const allowedProviders = agent.allowed_providers
  const allowedModels = agent.allowed_models
  let candidates = options.providers.filter(
    (p) =>
      (allowedProviders.length === 0 || allowedProviders.includes(p.name)) && KINDS_FOR[family].has(p.kind),
  )
  let model = options.requested
  const slash = model.indexOf('/')
  if (slash > 0) {
    const named = candidates.find((p) => p.name === model.slice(0, slash))
    if (named) {
      candidates = [named]
      model = model.slice(slash + 1)
    }
  }
  const resolved = prices.resolve(model)
  const price = resolved?.price
  // A model its provider retired would only fail there: say what to use instead. A price of the user's own
  // routes it again (a platform such as Bedrock may still serve it).
  const retirement = resolved?.source === 'bundled' ? retirementOf(resolved.price.model) : undefined
  if (retirement && isRetired(retirement, Date.now())) {
    return {
      status: 404,
      code: 'model_retired',
      message: `${retiredMessage(retirement, resolved!.price.provider)}. If a provider of yours still serves it, set a price of your own: iron pricing set ${retirement.model}`,
    }
  }
  if (allowedModels.length > 0 && !allowedModels.includes(price?.model ?? model)) {
    return {
      status: 403,
      code: 'model_not_allowed',
      message: `Agent ${agent.name} may not use model '${options.requested}'; it may use: ${allowedModels.join(', ')}`,
    }
  }
  if (candidates.length === 0) {
    return {
      status: 400,
      code: 'no_provider',
      message: `Agent ${agent.name} has no provider for this API; allow one with: iron agents update ${agent.name} --provider <name>`,
    }
  }
  const provider = servingProvider(candidates, price)
  if (!provider) {
    if (!price)
      return {
        status: 404,
        code: 'model_not_found',
        message: `The model '${options.requested}' does not exist or iron has no price for it`,
      }
    return {
      status: 400,
      code: 'no_provider',
      message: `No provider of agent ${agent.name} serves ${price.model} (a ${price.provider} model) on this API`,
    }
  }
  if (price) return { provider, model, price }
  const mockPrice = provider.kind === 'mock' ? mockModelPrice(prices, model) : undefined
  if (mockPrice) return { provider, model, price: mockPrice }
  if (agent.budgeted) {
    return {
      status: 400,
      code: 'model_not_priced',
      message: `iron has no price for '${model}', so it cannot keep agent ${agent.name} inside its budget; set one with: iron pricing set ${model} --provider openai-compatible --input <usd> --output <usd>`,
    }
  }
  return { provider, model, price: undefined }
}
