import { usageError } from '../core/errors.js'
import { parseMoney } from '../core/money.js'
import type { ModelPrice, PricedProvider } from './catalog.js'
import { MAX_PRICE_MICROS_PER_MTOK, MAX_TOKEN_COUNT } from './cost.js'

/** A user's price for a model: same shape as a bundled one; it replaces the bundled entry of that id. */
export interface PriceOverride extends ModelPrice {}

export type PriceSource = 'override' | 'bundled'
export type PriceMatch = 'exact' | 'alias' | 'snapshot'

export interface ResolvedPrice {
  price: ModelPrice
  source: PriceSource
  matched: PriceMatch
}

export const PRICED_PROVIDERS: readonly PricedProvider[] = [
  'openai',
  'anthropic',
  'openai-compatible',
  'mock',
]

const PROVIDER_PREFIX_RE = /^(openai|anthropic|mock)\/(.+)$/
/** Dated snapshots (`-2024-08-06`, `-20250929`) and moving aliases (`-latest`) of a model. */
const SNAPSHOT_SUFFIX_RE = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/
const MODEL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/
const MAX_MODEL_ID_LENGTH = 200

interface Layer {
  byId: Map<string, ModelPrice>
  byAlias: Map<string, ModelPrice>
}

/**
 * The price table the gateway and `iron pricing` read: the bundled catalog under the user's overrides.
 *
 * `resolve` is case-insensitive and tries, in order: an override's id or alias, a bundled id, a bundled
 * alias, then the same with a trailing snapshot suffix (`-YYYY-MM-DD`, `-YYYYMMDD`, `-latest`) removed.
 * A provider prefix (`openai/gpt-4o`) is accepted when it names the model's provider. Anything else is
 * unknown: no prefix or family guessing, since a wrong price would under- or over-charge silently.
 */
export class PriceTable {
  readonly #overrides: Layer
  readonly #bundled: Layer
  readonly #list: Array<ModelPrice & { source: PriceSource }>

  constructor(bundled: readonly ModelPrice[], overrides: readonly ModelPrice[] = []) {
    const ownOverrides = overrides.map((price) => frozenCopy(validateModelPrice(price)))
    const ownBundled = bundled.map((price) => frozenCopy(validateModelPrice(price)))
    this.#overrides = indexLayer(ownOverrides)
    this.#bundled = indexLayer(ownBundled)

    this.#list = []
    for (const price of ownBundled) {
      const override = this.#overrides.byId.get(key(price.model))
      this.#list.push(override ? { ...override, source: 'override' } : { ...price, source: 'bundled' })
    }
    for (const price of ownOverrides) {
      if (!this.#bundled.byId.has(key(price.model))) this.#list.push({ ...price, source: 'override' })
    }
  }

  resolve(model: string): ResolvedPrice | undefined {
    if (typeof model !== 'string') return undefined
    const id = key(model)
    if (id === '') return undefined
    const candidates: Array<{ id: string; provider?: PricedProvider }> = [{ id }]
    const prefixed = PROVIDER_PREFIX_RE.exec(id)
    if (prefixed) candidates.push({ id: prefixed[2]!, provider: prefixed[1] as PricedProvider })

    for (const candidate of candidates) {
      const found = this.#lookup(candidate.id, candidate.provider)
      if (found) return found
    }
    for (const candidate of candidates) {
      const base = candidate.id.replace(SNAPSHOT_SUFFIX_RE, '')
      if (base === candidate.id || base === '') continue
      const found = this.#lookup(base, candidate.provider)
      if (found) return { ...found, matched: 'snapshot' }
    }
    return undefined
  }

  /** Every priced model: bundled ones (or their overrides, in place), then override-only models. */
  list(): Array<ModelPrice & { source: PriceSource }> {
    return this.#list.map((entry) => ({ ...entry, aliases: [...entry.aliases] }))
  }

  #lookup(id: string, provider: PricedProvider | undefined): ResolvedPrice | undefined {
    const fits = (price: ModelPrice | undefined): price is ModelPrice =>
      price !== undefined && (provider === undefined || price.provider === provider)

    const overrideExact = this.#overrides.byId.get(id)
    if (fits(overrideExact)) return { price: overrideExact, source: 'override', matched: 'exact' }
    const overrideAlias = this.#overrides.byAlias.get(id)
    if (fits(overrideAlias)) return { price: overrideAlias, source: 'override', matched: 'alias' }

    // A bundled entry whose id is overridden is gone; its aliases now mean the override.
    const bundledExact = this.#bundled.byId.get(id)
    if (fits(bundledExact) && !this.#overrides.byId.has(id)) {
      return { price: bundledExact, source: 'bundled', matched: 'exact' }
    }
    const bundledAlias = this.#bundled.byAlias.get(id)
    if (bundledAlias !== undefined) {
      const replacement = this.#overrides.byId.get(key(bundledAlias.model))
      if (replacement !== undefined) {
        if (fits(replacement)) return { price: replacement, source: 'override', matched: 'alias' }
      } else if (fits(bundledAlias)) {
        return { price: bundledAlias, source: 'bundled', matched: 'alias' }
      }
    }
    return undefined
  }
}

/**
 * Check a price entry (an override from a person or a file, or a bundled one). Returns it unchanged;
 * throws a usage error (INVALID_PRICE) that names the model and the field.
 */
export function validateModelPrice(price: ModelPrice): ModelPrice {
  const model = typeof price?.model === 'string' ? price.model : ''
  const fail = (reason: string) =>
    usageError(
      'INVALID_PRICE',
      `Invalid price for model '${model}': ${reason}`,
      `Prices are whole micro-USD per 1M tokens; set them with 'iron pricing set'`,
    )
  if (!isModelId(model))
    throw fail(`the model id must be 1 to ${MAX_MODEL_ID_LENGTH} characters without spaces`)
  if (!PRICED_PROVIDERS.includes(price.provider)) {
    throw fail(`provider must be one of ${PRICED_PROVIDERS.join(', ')}`)
  }
  if (price.kind !== 'chat' && price.kind !== 'embedding') throw fail(`kind must be chat or embedding`)
  for (const field of ['input_micros_per_mtok', 'output_micros_per_mtok'] as const) {
    if (!isWhole(price[field], MAX_PRICE_MICROS_PER_MTOK)) {
      throw fail(`${field} must be a whole number between 0 and ${MAX_PRICE_MICROS_PER_MTOK}`)
    }
  }
  for (const field of ['cached_input_micros_per_mtok', 'cache_write_micros_per_mtok'] as const) {
    if (price[field] !== null && !isWhole(price[field], MAX_PRICE_MICROS_PER_MTOK)) {
      throw fail(`${field} must be null or a whole number between 0 and ${MAX_PRICE_MICROS_PER_MTOK}`)
    }
  }
  if (!isWhole(price.context_window, MAX_TOKEN_COUNT) || price.context_window === 0) {
    throw fail(`context_window must be a whole number between 1 and ${MAX_TOKEN_COUNT}`)
  }
  if (!isWhole(price.max_output_tokens, price.context_window)) {
    throw fail('max_output_tokens must be a whole number between 0 and the context window')
  }
  if (!Array.isArray(price.aliases)) throw fail('aliases must be a list of model ids')
  const seen = new Set([key(model)])
  for (const alias of price.aliases) {
    if (typeof alias !== 'string' || !isModelId(alias))
      throw fail(`alias '${String(alias)}' is not a model id`)
    if (seen.has(key(alias))) throw fail(`alias '${alias}' is listed twice or repeats the model id`)
    seen.add(key(alias))
  }
  return price
}

/**
 * Parse a price typed by a person, in US dollars per 1,000,000 tokens: `2.50`, `$2.50`, `0.075`.
 * Returns integer micro-USD per 1M tokens (`2.50` → 2_500_000).
 */
export function parsePricePerMillion(text: string): number {
  return parseMoney(text, 'price', {
    max: MAX_PRICE_MICROS_PER_MTOK,
    code: 'INVALID_PRICE',
    unit: ' per 1M tokens',
    hint: `Write a price in US dollars per 1M tokens, e.g. 2.50, 0.075 or '$15'`,
  })
}

function indexLayer(prices: readonly ModelPrice[]): Layer {
  const byId = new Map<string, ModelPrice>()
  const byAlias = new Map<string, ModelPrice>()
  const claim = (id: string, price: ModelPrice) => {
    const owner = byId.get(id) ?? byAlias.get(id)
    if (owner) {
      throw usageError(
        'INVALID_PRICE',
        `Model id '${id}' is priced twice (by '${owner.model}' and '${price.model}')`,
        `Keep one price per model id or alias`,
      )
    }
  }
  for (const price of prices) {
    claim(key(price.model), price)
    byId.set(key(price.model), price)
  }
  for (const price of prices) {
    for (const alias of price.aliases) {
      claim(key(alias), price)
      byAlias.set(key(alias), price)
    }
  }
  return { byId, byAlias }
}

/** Only the known fields (an override may come from a wider row), frozen so callers cannot edit the table. */
function frozenCopy(price: ModelPrice): ModelPrice {
  return Object.freeze({
    model: price.model,
    provider: price.provider,
    kind: price.kind,
    input_micros_per_mtok: price.input_micros_per_mtok,
    output_micros_per_mtok: price.output_micros_per_mtok,
    cached_input_micros_per_mtok: price.cached_input_micros_per_mtok,
    cache_write_micros_per_mtok: price.cache_write_micros_per_mtok,
    max_output_tokens: price.max_output_tokens,
    context_window: price.context_window,
    aliases: Object.freeze([...price.aliases]) as string[],
  })
}

const key = (model: string): string => model.trim().toLowerCase()

const isModelId = (value: string): boolean =>
  value.length > 0 && value.length <= MAX_MODEL_ID_LENGTH && MODEL_ID_RE.test(value)

const isWhole = (value: unknown, max: number): boolean =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max

/** The mock model whose rates a mock provider charges for a model the catalog has no price for. */
export const MOCK_STAND_IN = 'mock-small'

/**
 * The price of a model a mock provider answers that the catalog does not price: the rates of the mock
 * model `mock-small` (as overridden, if it is), under the requested model's own name, so that usage and
 * the audit trail show what was asked for.
 */
export function mockModelPrice(table: PriceTable, model: string): ModelPrice | undefined {
  const standIn = table.resolve(MOCK_STAND_IN)?.price
  return standIn && { ...standIn, model, provider: 'mock', aliases: [] }
}
