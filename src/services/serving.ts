import type { ModelPrice } from '../pricing/catalog.js'
import type { PriceTable } from '../pricing/lookup.js'
import type { ProviderKind } from './api.js'

/**
 * Which provider kinds serve a model, by whom the catalog prices it for, best first. A mock provider
 * answers any model, so it comes last for every model: it serves what no real provider of the agent does.
 */
const SERVED_BY: Readonly<Record<string, readonly ProviderKind[]>> = {
  openai: ['openai', 'openai-compatible', 'mock'],
  anthropic: ['anthropic', 'openai-compatible', 'mock'],
  'openai-compatible': ['openai-compatible', 'mock'],
  mock: ['mock'],
}
/** A model without a price: a server that speaks the OpenAI API may know it; a mock answers it anyway. */
const SERVE_UNPRICED: readonly ProviderKind[] = ['openai-compatible', 'mock']

const OWNER: Readonly<Record<string, string>> = {
  openai: 'an OpenAI model',
  anthropic: 'an Anthropic model',
  'openai-compatible': 'a self-hosted model',
  mock: 'a mock model',
}

/** The provider among `candidates` that serves a model with this price (undefined: no price), if any. */
export function servingProvider<P extends { kind: ProviderKind }>(
  candidates: readonly P[],
  price: ModelPrice | undefined,
): P | undefined {
  for (const kind of price ? (SERVED_BY[price.provider] ?? []) : SERVE_UNPRICED) {
    const provider = candidates.find((p) => p.kind === kind)
    if (provider) return provider
  }
  return undefined
}

export interface ServedAgent {
  name: string
  /** Provider names it may use; empty means any. */
  allowed_providers: readonly string[]
  /** Canonical model ids it may use; empty means any. */
  allowed_models: readonly string[]
}

/**
 * Why an agent cannot make the calls it is set up for, if it cannot: no provider it may use exists, or
 * some of its allowed models are served by none of them. The gateway would refuse those calls; this says
 * so when the agent is created and in `iron doctor`.
 */
export function servingProblem(
  agent: ServedAgent,
  providers: readonly { name: string; kind: ProviderKind }[],
  prices: PriceTable,
): string | undefined {
  const allowed = agent.allowed_providers
  const candidates = providers.filter((p) => allowed.length === 0 || allowed.includes(p.name))
  if (candidates.length === 0) {
    return `Agent ${agent.name} has no provider to call yet: add one with iron providers add NAME --kind openai|anthropic|openai-compatible|mock`
  }
  const unserved = agent.allowed_models.filter((model) => {
    const price = prices.resolve(model)?.price
    return servingProvider(candidates, price) === undefined
  })
  if (unserved.length === 0) return undefined
  const models = unserved.map((model) => {
    const owner = prices.resolve(model)?.price.provider
    return owner ? `${model} (${OWNER[owner]})` : model
  })
  const kinds = candidates.map((p) => `${p.name} (${p.kind})`).join(', ')
  return (
    `No provider agent ${agent.name} may use serves ${models.join(', ')}, so the gateway would refuse those calls; ` +
    `its providers: ${kinds}. Add a provider that serves them (iron providers add), or change the agent's: ` +
    `iron agents update ${agent.name} --provider NAME`
  )
}
