import { usageError } from '../core/errors.js'
import { MICROS_PER_USD } from '../core/money.js'
import type { ModelPrice } from './catalog.js'

/** Prices are per 1,000,000 tokens. */
const TOKENS_PER_MTOK = 1_000_000
/** More tokens than this in one request is a bug upstream, not usage (context windows are ~1M). */
export const MAX_TOKEN_COUNT = 1_000_000_000
/** $1,000,000 per million tokens ($1 a token): with MAX_TOKEN_COUNT, every cost stays a safe integer. */
export const MAX_PRICE_MICROS_PER_MTOK = 1_000_000 * MICROS_PER_USD

/**
 * Tokens of one request, as the provider reports them.
 *
 * `input_tokens` counts ALL prompt tokens, cached ones included (the OpenAI convention:
 * `usage.prompt_tokens`). `cached_input_tokens` (cache reads) and `cache_write_tokens` (cache writes) are
 * parts of `input_tokens` billed at their own prices; the rest is billed at the input price.
 * Anthropic reports `input_tokens` WITHOUT `cache_read_input_tokens` and `cache_creation_input_tokens`:
 * add them up before calling (input = input + cache_read + cache_creation).
 */
export interface TokenUsage {
  input_tokens: number
  output_tokens: number
  cached_input_tokens?: number
  cache_write_tokens?: number
}

/**
 * Cost of a request in integer micro-USD: the exact sum of its parts, rounded up once to whole micros.
 * The same usage always costs the same, and is never undercharged.
 * Cache reads or writes on a model without a cache price are billed at the full input price.
 */
export function costMicros(price: ModelPrice, usage: TokenUsage): number {
  const input = tokenCount(usage.input_tokens, 'input_tokens')
  const output = tokenCount(usage.output_tokens, 'output_tokens')
  const cached = tokenCount(usage.cached_input_tokens ?? 0, 'cached_input_tokens')
  const written = tokenCount(usage.cache_write_tokens ?? 0, 'cache_write_tokens')
  if (cached + written > input) {
    throw invalidUsage(
      `cached_input_tokens (${cached}) + cache_write_tokens (${written}) exceed input_tokens (${input})`,
    )
  }
  const inputRate = rate(price, 'input_micros_per_mtok')
  return ceilToMicros([
    input - cached - written,
    inputRate,
    cached,
    optionalRate(price, 'cached_input_micros_per_mtok') ?? inputRate,
    written,
    optionalRate(price, 'cache_write_micros_per_mtok') ?? inputRate,
    output,
    rate(price, 'output_micros_per_mtok'),
  ])
}

/**
 * The most a request can cost, for reservations: every input token at the dearest input-side rate (the
 * input price, or the cache-write price when writes cost more, as on Anthropic) and `maxOutputTokens`
 * at the output price. No usage with at most `maxOutputTokens` output costs more.
 */
export function worstCaseMicros(price: ModelPrice, inputTokens: number, maxOutputTokens: number): number {
  const input = tokenCount(inputTokens, 'input tokens')
  const output = tokenCount(maxOutputTokens, 'max output tokens')
  return ceilToMicros([input, worstInputRate(price), output, rate(price, 'output_micros_per_mtok')])
}

/**
 * The largest output token count whose worst case fits in `availableMicros`, capped at the model's
 * `max_output_tokens`; used to clamp a request's max_tokens. Returns 0 when not even the input fits
 * (check `worstCaseMicros(price, inputTokens, 0)` to tell that apart). A negative amount fits nothing.
 */
export function maxOutputTokensWithin(
  price: ModelPrice,
  inputTokens: number,
  availableMicros: number,
): number {
  const input = tokenCount(inputTokens, 'input tokens')
  if (!Number.isSafeInteger(availableMicros)) {
    throw invalidUsage(`available amount must be a whole number of micro-USD, got ${availableMicros}`)
  }
  const cap = outputCap(price)
  const outputRate = rate(price, 'output_micros_per_mtok')
  // ceil(x / 1e6) <= available  <=>  x <= available * 1e6, so the search is one integer division.
  const room =
    BigInt(availableMicros) * BigInt(TOKENS_PER_MTOK) - BigInt(input) * BigInt(worstInputRate(price))
  if (room < 0n) return 0
  if (outputRate === 0) return cap
  const fits = room / BigInt(outputRate)
  return fits >= BigInt(cap) ? cap : Number(fits)
}

/** ceil(Σ tokens × rate / 1e6) over [tokens, rate, tokens, rate, ...], exactly. */
function ceilToMicros(pairs: number[]): number {
  let sum = 0
  let exact = true
  for (let i = 0; i < pairs.length; i += 2) {
    sum += pairs[i]! * pairs[i + 1]!
    // A float product or sum above 2^53 is never a safe integer, so this catches every lost digit.
    if (!Number.isSafeInteger(sum)) {
      exact = false
      break
    }
  }
  if (exact) {
    const rest = sum % TOKENS_PER_MTOK
    return (sum - rest) / TOKENS_PER_MTOK + (rest > 0 ? 1 : 0)
  }
  let big = 0n
  for (let i = 0; i < pairs.length; i += 2) big += BigInt(pairs[i]!) * BigInt(pairs[i + 1]!)
  const perMtok = BigInt(TOKENS_PER_MTOK)
  return Number(big / perMtok + (big % perMtok > 0n ? 1n : 0n))
}

function worstInputRate(price: ModelPrice): number {
  return Math.max(
    rate(price, 'input_micros_per_mtok'),
    optionalRate(price, 'cached_input_micros_per_mtok') ?? 0,
    optionalRate(price, 'cache_write_micros_per_mtok') ?? 0,
  )
}

type RateField = 'input_micros_per_mtok' | 'output_micros_per_mtok'
type CacheRateField = 'cached_input_micros_per_mtok' | 'cache_write_micros_per_mtok'

function rate(price: ModelPrice, field: RateField): number {
  return checkedRate(price, field, price[field])
}

function optionalRate(price: ModelPrice, field: CacheRateField): number | null {
  const value = price[field]
  return value === null ? null : checkedRate(price, field, value)
}

function checkedRate(price: ModelPrice, field: string, value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    value > MAX_PRICE_MICROS_PER_MTOK
  ) {
    throw invalidPrice(
      price,
      `${field} must be a whole number of micro-USD between 0 and ${MAX_PRICE_MICROS_PER_MTOK}, got ${String(value)}`,
    )
  }
  return value
}

function outputCap(price: ModelPrice): number {
  const value = price.max_output_tokens
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_TOKEN_COUNT) {
    throw invalidPrice(
      price,
      `max_output_tokens must be a whole number between 0 and ${MAX_TOKEN_COUNT}, got ${value}`,
    )
  }
  return value
}

const invalidPrice = (price: ModelPrice, reason: string) =>
  usageError(
    'INVALID_PRICE',
    `Invalid price for model '${price.model}': ${reason}`,
    `Set the price again with 'iron pricing set'`,
  )

function tokenCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_TOKEN_COUNT) {
    throw invalidUsage(
      `${what} must be a whole number between 0 and ${MAX_TOKEN_COUNT}, got ${String(value)}`,
    )
  }
  return value
}

const invalidUsage = (reason: string) => usageError('INVALID_USAGE', `Invalid token usage: ${reason}`)
