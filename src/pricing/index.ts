export {
  BUNDLED_PRICES,
  CATALOG_CHECKED,
  CATALOG_EFFECTIVE_DATE,
  isRetired,
  type ModelPrice,
  type ModelRetirement,
  type PricedProvider,
  RETIREMENTS,
  retiredMessage,
  retirementOf,
} from './catalog.js'
export {
  costMicros,
  MAX_PRICE_MICROS_PER_MTOK,
  MAX_TOKEN_COUNT,
  maxOutputTokensWithin,
  type TokenUsage,
  worstCaseMicros,
} from './cost.js'
export {
  PRICED_PROVIDERS,
  type PriceMatch,
  type PriceOverride,
  type PriceSource,
  PriceTable,
  parsePricePerMillion,
  type ResolvedPrice,
  validateModelPrice,
} from './lookup.js'
