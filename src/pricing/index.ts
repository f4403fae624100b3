export { BUNDLED_PRICES, CATALOG_EFFECTIVE_DATE, type ModelPrice, type PricedProvider } from './catalog.js'
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
