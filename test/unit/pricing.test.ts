import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import {
  BUNDLED_PRICES,
  CATALOG_CHECKED,
  CATALOG_EFFECTIVE_DATE,
  costMicros,
  isRetired,
  MAX_PRICE_MICROS_PER_MTOK,
  MAX_TOKEN_COUNT,
  type ModelPrice,
  maxOutputTokensWithin,
  PriceTable,
  parsePricePerMillion,
  RETIREMENTS,
  retiredMessage,
  retirementOf,
  type TokenUsage,
  validateModelPrice,
  worstCaseMicros,
} from '../../src/pricing/index.js'

const bundled = (model: string): ModelPrice => {
  const price = BUNDLED_PRICES.find((entry) => entry.model === model)
  if (!price) throw new Error(`no bundled price for ${model}`)
  return price
}

const expectIronError = (fn: () => unknown, code: string, exitCode = 2): IronError => {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(IronError)
    expect((error as IronError).code).toBe(code)
    expect((error as IronError).exitCode).toBe(exitCode)
    return error as IronError
  }
  return expect.unreachable(`expected ${code}`)
}

/** The exact rational cost, rounded up, computed independently of the implementation. */
const referenceCost = (price: ModelPrice, usage: TokenUsage): number => {
  const cached = usage.cached_input_tokens ?? 0
  const written = usage.cache_write_tokens ?? 0
  const input = BigInt(price.input_micros_per_mtok)
  const numerator =
    BigInt(usage.input_tokens - cached - written) * input +
    BigInt(cached) * BigInt(price.cached_input_micros_per_mtok ?? price.input_micros_per_mtok) +
    BigInt(written) * BigInt(price.cache_write_micros_per_mtok ?? price.input_micros_per_mtok) +
    BigInt(usage.output_tokens) * BigInt(price.output_micros_per_mtok)
  return Number((numerator + 999_999n) / 1_000_000n)
}

const priceArb = (maxRate = MAX_PRICE_MICROS_PER_MTOK): fc.Arbitrary<ModelPrice> =>
  fc
    .record({
      input: fc.integer({ min: 0, max: maxRate }),
      output: fc.integer({ min: 0, max: maxRate }),
      cached: fc.option(fc.integer({ min: 0, max: maxRate })),
      write: fc.option(fc.integer({ min: 0, max: maxRate })),
      maxOutput: fc.integer({ min: 0, max: 200_000 }),
    })
    .map((r) => ({
      model: 'prop-model',
      provider: 'openai' as const,
      kind: 'chat' as const,
      input_micros_per_mtok: r.input,
      output_micros_per_mtok: r.output,
      cached_input_micros_per_mtok: r.cached,
      cache_write_micros_per_mtok: r.write,
      max_output_tokens: r.maxOutput,
      context_window: 1_000_000,
      aliases: [],
    }))

/** Real catalog prices and arbitrary ones, tiny and huge. */
const anyPriceArb = fc.oneof(fc.constantFrom(...BUNDLED_PRICES), priceArb(), priceArb(100))

const usageArb = (maxTokens = MAX_TOKEN_COUNT): fc.Arbitrary<TokenUsage> =>
  fc
    .record({
      input: fc.integer({ min: 0, max: maxTokens }),
      output: fc.integer({ min: 0, max: maxTokens }),
      cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
      writeShare: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ input, output, cachedShare, writeShare }) => {
      const cached = Math.floor(input * cachedShare)
      const written = Math.floor((input - cached) * writeShare)
      return {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        cache_write_tokens: written,
      }
    })

describe('bundled catalog', () => {
  it('has an ISO effective date', () => {
    expect(CATALOG_EFFECTIVE_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(new Date(`${CATALOG_EFFECTIVE_DATE}T00:00:00Z`).toISOString().slice(0, 10)).toBe(
      CATALOG_EFFECTIVE_DATE,
    )
  })

  it.each(BUNDLED_PRICES.map((price) => [price.model, price] as const))('%s is well-formed', (_, price) => {
    expect(() => validateModelPrice(price)).not.toThrow()
    expect(price.model).toBe(price.model.toLowerCase())
    for (const value of [
      price.input_micros_per_mtok,
      price.output_micros_per_mtok,
      price.cached_input_micros_per_mtok ?? 0,
      price.cache_write_micros_per_mtok ?? 0,
      price.max_output_tokens,
      price.context_window,
    ]) {
      expect(Number.isSafeInteger(value)).toBe(true)
      expect(value).toBeGreaterThanOrEqual(0)
    }
    expect(price.max_output_tokens).toBeLessThanOrEqual(price.context_window)
    if (price.kind === 'chat') {
      expect(price.output_micros_per_mtok).toBeGreaterThan(0)
      expect(price.max_output_tokens).toBeGreaterThan(0)
    } else {
      expect(price.output_micros_per_mtok).toBe(0)
    }
    expect(price.input_micros_per_mtok).toBeGreaterThan(0)
    // A cache read is a discount, never dearer than plain input.
    if (price.cached_input_micros_per_mtok !== null) {
      expect(price.cached_input_micros_per_mtok).toBeLessThan(price.input_micros_per_mtok)
    }
    for (const alias of price.aliases) expect(alias).toBe(alias.toLowerCase())
  })

  it('has unique ids and aliases across the whole catalog', () => {
    const ids = BUNDLED_PRICES.flatMap((price) => [price.model, ...price.aliases]).map((id) =>
      id.toLowerCase(),
    )
    expect(new Set(ids).size).toBe(ids.length)
    expect(() => new PriceTable(BUNDLED_PRICES)).not.toThrow()
  })

  it('covers the models the gateway is expected to price', () => {
    const models = new Set(BUNDLED_PRICES.map((price) => price.model))
    for (const model of [
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-nano',
      'gpt-4.1',
      'gpt-4.1-mini',
      'gpt-4.1-nano',
      'gpt-4o',
      'gpt-4o-mini',
      'o1',
      'o3',
      'o3-mini',
      'o4-mini',
      'gpt-4-turbo',
      'gpt-4',
      'gpt-3.5-turbo',
      'text-embedding-3-small',
      'text-embedding-3-large',
      'text-embedding-ada-002',
      'claude-opus-5-5',
      'claude-sonnet-5-5',
      'claude-opus-4-6',
      'claude-sonnet-4-6',
      'claude-opus-4-5',
      'claude-sonnet-4-5',
      'claude-haiku-4-5',
      'claude-opus-4-1',
      'claude-opus-4',
      'claude-sonnet-4',
      'claude-3-7-sonnet',
      'claude-3-5-haiku',
      'claude-3-5-sonnet',
      'claude-3-haiku',
      'mock-small',
      'mock-large',
    ]) {
      expect(models, model).toContain(model)
    }
  })

  it.each([
    ['gpt-4o', 2_500_000, 10_000_000, 16_384],
    ['gpt-4o-mini', 150_000, 600_000, 16_384],
    ['gpt-4', 30_000_000, 60_000_000, 8_192],
    ['gpt-5', 1_250_000, 10_000_000, 128_000],
    ['o1', 15_000_000, 60_000_000, 100_000],
    ['claude-sonnet-5-5', 2_000_000, 10_000_000, 128_000],
    ['claude-opus-5-5', 4_000_000, 20_000_000, 128_000],
    ['claude-sonnet-4-6', 3_000_000, 15_000_000, 128_000],
    ['claude-sonnet-4-5', 3_000_000, 15_000_000, 64_000],
    ['claude-opus-4-5', 5_000_000, 25_000_000, 64_000],
    ['claude-haiku-4-5', 1_000_000, 5_000_000, 64_000],
  ])('%s costs %d/%d micros per 1M in/out, up to %d output tokens', (model, input, output, maxOutput) => {
    const price = bundled(model)
    expect(price.input_micros_per_mtok).toBe(input)
    expect(price.output_micros_per_mtok).toBe(output)
    expect(price.max_output_tokens).toBe(maxOutput)
  })

  it('prices Anthropic cache writes at 1.25x input and cache reads at 0.1x', () => {
    // Claude 3 Haiku's price page rounds them to $0.30 and $0.03 per 1M.
    const rounded = ['claude-3-haiku']
    // The 5.5 models' cache reads were cut to 0.05x input on 2026-10-07.
    const cheaperReads = ['claude-opus-5-5', 'claude-sonnet-5-5']
    for (const price of BUNDLED_PRICES.filter((entry) => entry.provider === 'anthropic')) {
      if (rounded.includes(price.model)) continue
      expect(price.cache_write_micros_per_mtok, price.model).toBe((price.input_micros_per_mtok * 5) / 4)
      expect(price.cached_input_micros_per_mtok, price.model).toBe(
        price.input_micros_per_mtok / (cheaperReads.includes(price.model) ? 20 : 10),
      )
    }
    expect(bundled('claude-3-haiku')).toMatchObject({
      cache_write_micros_per_mtok: 300_000,
      cached_input_micros_per_mtok: 30_000,
    })
  })

  it('has no cache-write price for OpenAI, no cache price for embeddings', () => {
    for (const price of BUNDLED_PRICES.filter((entry) => entry.provider === 'openai')) {
      expect(price.cache_write_micros_per_mtok, price.model).toBeNull()
    }
    for (const price of BUNDLED_PRICES.filter((entry) => entry.kind === 'embedding')) {
      expect(price.cached_input_micros_per_mtok, price.model).toBeNull()
      expect(price.max_output_tokens, price.model).toBe(0)
    }
  })

  it('has the two mock models for demos and tests', () => {
    expect(bundled('mock-small')).toMatchObject({
      provider: 'mock',
      input_micros_per_mtok: 500_000,
      output_micros_per_mtok: 1_500_000,
      max_output_tokens: 4_096,
      context_window: 32_768,
      aliases: [],
    })
    expect(bundled('mock-large')).toMatchObject({
      provider: 'mock',
      input_micros_per_mtok: 5_000_000,
      output_micros_per_mtok: 15_000_000,
      max_output_tokens: 8_192,
      context_window: 128_000,
      aliases: [],
    })
  })

  it('marks retired models with the day and a replacement that is priced and in service', () => {
    const models = new Set(BUNDLED_PRICES.map((price) => price.model))
    for (const r of RETIREMENTS) {
      expect(models, r.model).toContain(r.model)
      expect(models, r.replacement).toContain(r.replacement)
      expect(retirementOf(r.replacement), r.replacement).toBeUndefined()
      expect(new Date(`${r.retires_on}T00:00:00Z`).toISOString().slice(0, 10)).toBe(r.retires_on)
    }
    const sonnet45 = retirementOf('claude-sonnet-4-5')!
    expect(sonnet45).toEqual({
      model: 'claude-sonnet-4-5',
      retires_on: '2026-11-30',
      replacement: 'claude-sonnet-5-5',
    })
    expect(isRetired(sonnet45, Date.parse('2026-11-29T23:59:59Z'))).toBe(false)
    expect(isRetired(sonnet45, Date.parse('2026-11-30T00:00:00Z'))).toBe(true)
    expect(retiredMessage(sonnet45, 'anthropic')).toBe(
      'Anthropic retired claude-sonnet-4-5 on 2026-11-30; use claude-sonnet-5-5 instead',
    )
    expect(retirementOf('claude-haiku-4-5')).toBeUndefined()
    expect(Object.isFrozen(RETIREMENTS)).toBe(true)
  })

  it('says when each provider was last checked, no later than the catalog update', () => {
    for (const day of Object.values(CATALOG_CHECKED)) {
      expect(day).toMatch(/^\d{4}-\d{2}-\d{2}$/)
      expect(day <= CATALOG_EFFECTIVE_DATE).toBe(true)
    }
    expect(CATALOG_EFFECTIVE_DATE).toBe(CATALOG_CHECKED.anthropic)
  })

  it('is frozen', () => {
    expect(Object.isFrozen(BUNDLED_PRICES)).toBe(true)
    expect(Object.isFrozen(bundled('gpt-4o'))).toBe(true)
    expect(Object.isFrozen(bundled('gpt-4o').aliases)).toBe(true)
  })
})

describe('costMicros', () => {
  it.each<[string, TokenUsage, number]>([
    ['gpt-4o', { input_tokens: 1_000, output_tokens: 500 }, 7_500],
    ['gpt-4o', { input_tokens: 1_000, output_tokens: 500, cached_input_tokens: 400 }, 7_000],
    ['gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 1_000_000 }, 750_000],
    ['gpt-4o-mini', { input_tokens: 0, output_tokens: 0 }, 0],
    // Fractions of a micro round up, once, on the total.
    ['gpt-4o-mini', { input_tokens: 1, output_tokens: 0 }, 1],
    ['gpt-4o-mini', { input_tokens: 7, output_tokens: 0 }, 2],
    ['gpt-5-nano', { input_tokens: 1, output_tokens: 1 }, 1],
    ['gpt-4o-mini', { input_tokens: 2, output_tokens: 1 }, 1],
    // 5,000 plain + 2,000 cache reads + 3,000 cache writes + 1,000 output.
    [
      'claude-sonnet-4-6',
      { input_tokens: 10_000, output_tokens: 1_000, cached_input_tokens: 2_000, cache_write_tokens: 3_000 },
      41_850,
    ],
    ['claude-opus-4-5', { input_tokens: 100_000, output_tokens: 0, cached_input_tokens: 100_000 }, 50_000],
    // No cache price: cached tokens bill as plain input.
    ['gpt-4-turbo', { input_tokens: 1_000, output_tokens: 0, cached_input_tokens: 1_000 }, 10_000],
    ['text-embedding-3-small', { input_tokens: 1_000_000, output_tokens: 0 }, 20_000],
    ['mock-small', { input_tokens: 2_000, output_tokens: 1_000 }, 2_500],
  ])('%s %j costs %d micros', (model, usage, micros) => {
    expect(costMicros(bundled(model), usage)).toBe(micros)
  })

  it('stays exact past 2^53 (BigInt path)', () => {
    const price: ModelPrice = {
      ...bundled('gpt-4o'),
      input_micros_per_mtok: MAX_PRICE_MICROS_PER_MTOK - 1,
      output_micros_per_mtok: MAX_PRICE_MICROS_PER_MTOK - 3,
    }
    const usage = { input_tokens: MAX_TOKEN_COUNT - 1, output_tokens: MAX_TOKEN_COUNT - 7 }
    const cost = costMicros(price, usage)
    expect(cost).toBe(referenceCost(price, usage))
    expect(Number.isSafeInteger(cost)).toBe(true)
    expect(cost).toBe(1_999_999_991_996_001)
  })

  it.each<[string, Partial<TokenUsage>]>([
    ['negative input', { input_tokens: -1 }],
    ['fractional output', { output_tokens: 1.5 }],
    ['NaN input', { input_tokens: Number.NaN }],
    ['infinite output', { output_tokens: Number.POSITIVE_INFINITY }],
    ['absurd input', { input_tokens: MAX_TOKEN_COUNT + 1 }],
    ['a string', { input_tokens: '5' as unknown as number }],
    ['negative cached', { cached_input_tokens: -3 }],
    ['more cached than input', { input_tokens: 10, cached_input_tokens: 11 }],
    ['cached + writes above input', { input_tokens: 10, cached_input_tokens: 6, cache_write_tokens: 5 }],
  ])('rejects %s as INVALID_USAGE', (_, patch) => {
    const usage = { input_tokens: 100, output_tokens: 100, ...patch }
    expectIronError(() => costMicros(bundled('gpt-4o'), usage), 'INVALID_USAGE')
  })

  it('rejects a malformed price as INVALID_PRICE', () => {
    const price = { ...bundled('gpt-4o'), input_micros_per_mtok: -1 }
    expectIronError(() => costMicros(price, { input_tokens: 1, output_tokens: 1 }), 'INVALID_PRICE')
    const fractional = { ...bundled('gpt-4o'), cached_input_micros_per_mtok: 0.5 }
    expectIronError(() => costMicros(fractional, { input_tokens: 1, output_tokens: 1 }), 'INVALID_PRICE')
  })

  it('is an integer equal to the ceiling of the exact rational cost', () => {
    fc.assert(
      fc.property(anyPriceArb, usageArb(), (price, usage) => {
        const cost = costMicros(price, usage)
        expect(Number.isSafeInteger(cost)).toBe(true)
        expect(cost).toBe(referenceCost(price, usage))
      }),
      { numRuns: 500 },
    )
  })

  it('never decreases when any kind of token is added', () => {
    const kindArb = fc.constantFrom('input', 'cached', 'write', 'output')
    fc.assert(
      fc.property(
        anyPriceArb,
        usageArb(100_000_000),
        kindArb,
        fc.integer({ min: 1, max: 1_000_000 }),
        (price, usage, kind, d) => {
          const more = { ...usage }
          if (kind === 'output') more.output_tokens += d
          else more.input_tokens += d
          if (kind === 'cached') more.cached_input_tokens = (more.cached_input_tokens ?? 0) + d
          if (kind === 'write') more.cache_write_tokens = (more.cache_write_tokens ?? 0) + d
          expect(costMicros(price, more)).toBeGreaterThanOrEqual(costMicros(price, usage))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('is the same for the same usage, whatever the order of calls', () => {
    const price = bundled('claude-sonnet-4-6')
    const usage = {
      input_tokens: 12_345,
      output_tokens: 678,
      cached_input_tokens: 999,
      cache_write_tokens: 1,
    }
    const first = costMicros(price, usage)
    for (let i = 0; i < 10; i++) expect(costMicros(price, usage)).toBe(first)
  })
})

describe('worstCaseMicros', () => {
  it('prices all input at the input rate and the maximum output', () => {
    expect(worstCaseMicros(bundled('gpt-4o'), 1_000, 500)).toBe(7_500)
    expect(worstCaseMicros(bundled('gpt-4o'), 1_000, 16_384)).toBe(166_340)
    expect(worstCaseMicros(bundled('text-embedding-3-small'), 8_191, 0)).toBe(164)
  })

  it('uses the cache-write rate when it is dearer than input (Anthropic)', () => {
    // 1,000 tokens at $3.75/M (cache write) + 1,000 at $15/M.
    expect(worstCaseMicros(bundled('claude-sonnet-4-6'), 1_000, 1_000)).toBe(18_750)
  })

  it('rejects invalid token counts', () => {
    expectIronError(() => worstCaseMicros(bundled('gpt-4o'), -1, 10), 'INVALID_USAGE')
    expectIronError(() => worstCaseMicros(bundled('gpt-4o'), 10, 2.5), 'INVALID_USAGE')
    expectIronError(() => worstCaseMicros(bundled('gpt-4o'), 10, MAX_TOKEN_COUNT + 1), 'INVALID_USAGE')
  })

  it('covers the cost of any usage with at most that much output', () => {
    fc.assert(
      fc.property(
        anyPriceArb,
        usageArb(),
        fc.integer({ min: 0, max: MAX_TOKEN_COUNT }),
        (price, usage, extra) => {
          const maxOutput = Math.min(MAX_TOKEN_COUNT, usage.output_tokens + extra)
          expect(worstCaseMicros(price, usage.input_tokens, maxOutput)).toBeGreaterThanOrEqual(
            costMicros(price, usage),
          )
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('maxOutputTokensWithin', () => {
  it.each<[string, number, number, number]>([
    // $0.01 left, 1,000 input tokens of gpt-4o ($0.0025): $0.0075 buys 750 output tokens.
    ['gpt-4o', 1_000, 10_000, 750],
    ['gpt-4o', 1_000, 10_009, 750],
    ['gpt-4o', 1_000, 10_010, 751],
    ['gpt-4o', 1_000, 2_500, 0],
    ['gpt-4o', 1_000, 2_499, 0],
    ['gpt-4o', 1_000, -5, 0],
    ['gpt-4o', 0, 1_000_000_000, 16_384],
    ['mock-small', 0, 1, 0],
    ['mock-small', 0, 2, 1],
    ['text-embedding-3-small', 100, 1_000, 0],
  ])('%s with %d input tokens and %d micros → %d output tokens', (model, input, available, expected) => {
    expect(maxOutputTokensWithin(bundled(model), input, available)).toBe(expected)
  })

  it('rejects invalid inputs', () => {
    expectIronError(() => maxOutputTokensWithin(bundled('gpt-4o'), -1, 100), 'INVALID_USAGE')
    expectIronError(() => maxOutputTokensWithin(bundled('gpt-4o'), 1, 1.5), 'INVALID_USAGE')
    expectIronError(() => maxOutputTokensWithin(bundled('gpt-4o'), 1, Number.NaN), 'INVALID_USAGE')
  })

  it('returns the largest output whose worst case fits', () => {
    fc.assert(
      fc.property(
        anyPriceArb,
        fc.integer({ min: 0, max: MAX_TOKEN_COUNT }),
        fc.oneof(
          fc.integer({ min: 0, max: 10_000_000 }),
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        ),
        (price, input, available) => {
          const result = maxOutputTokensWithin(price, input, available)
          expect(Number.isSafeInteger(result)).toBe(true)
          expect(result).toBeGreaterThanOrEqual(0)
          expect(result).toBeLessThanOrEqual(price.max_output_tokens)
          if (worstCaseMicros(price, input, 0) > available) {
            expect(result).toBe(0)
            return
          }
          expect(worstCaseMicros(price, input, result)).toBeLessThanOrEqual(available)
          if (result < price.max_output_tokens) {
            expect(worstCaseMicros(price, input, result + 1)).toBeGreaterThan(available)
          }
        },
      ),
      { numRuns: 1_000 },
    )
  })
})

describe('PriceTable.resolve', () => {
  const table = new PriceTable(BUNDLED_PRICES)
  const resolved = (model: string) => {
    const found = table.resolve(model)
    return found && { model: found.price.model, source: found.source, matched: found.matched }
  }

  it.each([
    ['gpt-4o', 'gpt-4o', 'exact'],
    ['GPT-4o', 'gpt-4o', 'exact'],
    [' claude-sonnet-4-6 ', 'claude-sonnet-4-6', 'exact'],
    ['gpt-4o-2024-08-06', 'gpt-4o', 'alias'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini', 'alias'],
    ['claude-haiku-4-5-20251001', 'claude-haiku-4-5', 'alias'],
    // A retired model still resolves (for history and a price of the user's own); routing refuses it.
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5', 'alias'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku', 'alias'],
    ['claude-sonnet-4-0', 'claude-sonnet-4', 'alias'],
    ['gpt-4-1106-preview', 'gpt-4-turbo', 'alias'],
    ['gpt-4o-2099-01-31', 'gpt-4o', 'snapshot'],
    ['gpt-4o-mini-2099-12-31', 'gpt-4o-mini', 'snapshot'],
    ['claude-sonnet-4-6-20991231', 'claude-sonnet-4-6', 'snapshot'],
    ['claude-haiku-4-5-latest', 'claude-haiku-4-5', 'snapshot'],
    ['Claude-Opus-4-5-LATEST', 'claude-opus-4-5', 'snapshot'],
    ['gpt-4.1-mini-2099-01-01', 'gpt-4.1-mini', 'snapshot'],
    // The launch snapshot of GPT-4o has its own (higher) price, not today's gpt-4o.
    ['gpt-4o-2024-05-13', 'gpt-4o-2024-05-13', 'exact'],
    ['openai/gpt-4o', 'gpt-4o', 'exact'],
    ['OpenAI/GPT-4o-2024-11-20', 'gpt-4o', 'alias'],
    ['openai/gpt-4o-2024-05-13', 'gpt-4o-2024-05-13', 'exact'],
    ['openai/o3-mini-2099-02-02', 'o3-mini', 'snapshot'],
    ['anthropic/claude-sonnet-4-6', 'claude-sonnet-4-6', 'exact'],
    ['anthropic/claude-3-7-sonnet-latest', 'claude-3-7-sonnet', 'alias'],
    ['mock/mock-small', 'mock-small', 'exact'],
  ])('%s → %s (%s)', (input, model, matched) => {
    expect(resolved(input)).toEqual({ model, source: 'bundled', matched })
  })

  it.each([
    'gpt-4o-mini-foo',
    'gpt-4o-foo',
    'gpt-4o-mini-2024',
    'gpt-4o-2024-08',
    'gpt-4o-0806',
    'gpt-4o-2024-08-06-preview',
    'gpt-5-pro',
    'gpt-5-codex',
    'gpt-5.1',
    'gpt-5-chat',
    'o1-mini',
    'o1-preview',
    'o3-pro',
    'chatgpt-4o-latest',
    'gpt-3.5-turbo-1106',
    'gpt-4o-latest-latest',
    'claude-sonnet-4-6-v2',
    'claude-sonnet',
    'claude',
    'gpt',
    'latest',
    '-latest',
    '',
    '   ',
    'anthropic/gpt-4o',
    'openai/claude-sonnet-4-6',
    'azure/gpt-4o',
    'openrouter/openai/gpt-4o',
    'openai/',
    'gpt-4o/openai',
  ])('does not guess a price for %j', (input) => {
    expect(table.resolve(input)).toBeUndefined()
  })

  it('resolves every bundled id, alias and future snapshot to its own model', () => {
    for (const price of BUNDLED_PRICES) {
      expect(resolved(price.model)).toEqual({ model: price.model, source: 'bundled', matched: 'exact' })
      expect(resolved(`${price.provider}/${price.model}`)?.model).toBe(price.model)
      expect(resolved(`${price.model}-2099-01-01`)).toEqual({
        model: price.model,
        source: 'bundled',
        matched: 'snapshot',
      })
      expect(resolved(`${price.model}-20990101`)?.model).toBe(price.model)
      for (const alias of price.aliases) {
        expect(resolved(alias)).toEqual({ model: price.model, source: 'bundled', matched: 'alias' })
        expect(resolved(alias.toUpperCase())?.model).toBe(price.model)
      }
    }
  })

  it('returns frozen prices', () => {
    const found = table.resolve('gpt-4o')!
    expect(Object.isFrozen(found.price)).toBe(true)
  })
})

describe('PriceTable overrides', () => {
  const override = (model: string, patch: Partial<ModelPrice> = {}): ModelPrice => ({
    model,
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 1_000_000,
    output_micros_per_mtok: 2_000_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 4_096,
    context_window: 32_768,
    aliases: [],
    ...patch,
  })

  it('replace the bundled entry, and its aliases and snapshots', () => {
    const table = new PriceTable(BUNDLED_PRICES, [override('gpt-4o', { input_micros_per_mtok: 9_000_000 })])
    for (const [input, matched] of [
      ['gpt-4o', 'exact'],
      ['GPT-4O', 'exact'],
      ['openai/gpt-4o', 'exact'],
      ['gpt-4o-2024-08-06', 'alias'],
      ['gpt-4o-2099-01-01', 'snapshot'],
    ] as const) {
      const found = table.resolve(input)
      expect(found?.source, input).toBe('override')
      expect(found?.matched, input).toBe(matched)
      expect(found?.price.input_micros_per_mtok, input).toBe(9_000_000)
    }
    // Other models, including the separately priced launch snapshot, keep their bundled price.
    expect(table.resolve('gpt-4o-2024-05-13')?.source).toBe('bundled')
    expect(table.resolve('gpt-4o-mini')?.source).toBe('bundled')
  })

  it('match the bundled id case-insensitively', () => {
    const table = new PriceTable(BUNDLED_PRICES, [override('GPT-4o', { input_micros_per_mtok: 7 })])
    expect(table.resolve('gpt-4o')?.price.input_micros_per_mtok).toBe(7)
    expect(table.list().filter((entry) => entry.model.toLowerCase() === 'gpt-4o')).toHaveLength(1)
  })

  it('price new models, with their aliases and snapshots', () => {
    const table = new PriceTable(BUNDLED_PRICES, [
      override('Llama-3.1-70B', { aliases: ['meta-llama/llama-3.1-70b-instruct'] }),
    ])
    expect(table.resolve('llama-3.1-70b')).toMatchObject({ source: 'override', matched: 'exact' })
    expect(table.resolve('openai/llama-3.1-70b')).toMatchObject({ source: 'override', matched: 'exact' })
    expect(table.resolve('meta-llama/Llama-3.1-70B-Instruct')).toMatchObject({
      source: 'override',
      matched: 'alias',
    })
    expect(table.resolve('llama-3.1-70b-20991231')).toMatchObject({ source: 'override', matched: 'snapshot' })
    expect(table.resolve('anthropic/llama-3.1-70b')).toBeUndefined()
  })

  it('win over bundled ids through their aliases', () => {
    const table = new PriceTable(BUNDLED_PRICES, [override('my-mini', { aliases: ['gpt-4o-mini'] })])
    expect(table.resolve('gpt-4o-mini')).toMatchObject({ source: 'override', matched: 'alias' })
    expect(table.resolve('gpt-4o-mini')?.price.model).toBe('my-mini')
  })

  it('win for a bundled alias id without replacing the whole model', () => {
    const table = new PriceTable(BUNDLED_PRICES, [
      override('gpt-4o-2024-08-06', { input_micros_per_mtok: 3 }),
    ])
    expect(table.resolve('gpt-4o-2024-08-06')).toMatchObject({ source: 'override', matched: 'exact' })
    expect(table.resolve('gpt-4o-2024-11-20')).toMatchObject({ source: 'bundled', matched: 'alias' })
    expect(table.resolve('gpt-4o')).toMatchObject({ source: 'bundled', matched: 'exact' })
  })

  it('list: bundled entries with overrides in place, then override-only models', () => {
    const table = new PriceTable(BUNDLED_PRICES, [
      override('new-model'),
      override('claude-haiku-4-5', { provider: 'anthropic', input_micros_per_mtok: 2_000_000 }),
    ])
    const list = table.list()
    expect(list).toHaveLength(BUNDLED_PRICES.length + 1)
    expect(list.map((entry) => entry.model)).toEqual([
      ...BUNDLED_PRICES.map((entry) => entry.model),
      'new-model',
    ])
    expect(list.find((entry) => entry.model === 'claude-haiku-4-5')).toMatchObject({
      source: 'override',
      input_micros_per_mtok: 2_000_000,
    })
    expect(list.find((entry) => entry.model === 'gpt-4o')?.source).toBe('bundled')
    expect(list.at(-1)?.source).toBe('override')
  })

  it('list returns copies that cannot change the table', () => {
    const table = new PriceTable(BUNDLED_PRICES)
    const list = table.list()
    list[0]!.aliases.push('hijack')
    list[0]!.input_micros_per_mtok = 0
    expect(table.resolve('hijack')).toBeUndefined()
    expect(table.resolve(list[0]!.model)?.price.input_micros_per_mtok).toBeGreaterThan(0)
  })

  it('do not keep a reference to the caller objects', () => {
    const mine = override('mine')
    const table = new PriceTable(BUNDLED_PRICES, [mine])
    mine.input_micros_per_mtok = 0
    mine.aliases.push('later')
    expect(table.resolve('mine')?.price.input_micros_per_mtok).toBe(1_000_000)
    expect(table.resolve('later')).toBeUndefined()
  })

  it.each<[string, ModelPrice[]]>([
    ['a duplicate id', [override('dup'), override('DUP')]],
    ['an alias that is another override', [override('a'), override('b', { aliases: ['a'] })]],
    ['an alias listed twice', [override('a', { aliases: ['x', 'X'] })]],
    ['an alias equal to its model', [override('a', { aliases: ['a'] })]],
    ['a negative price', [override('a', { input_micros_per_mtok: -1 })]],
    ['a fractional price', [override('a', { output_micros_per_mtok: 1.5 })]],
    ['an absurd price', [override('a', { output_micros_per_mtok: MAX_PRICE_MICROS_PER_MTOK + 1 })]],
    ['a negative cache price', [override('a', { cached_input_micros_per_mtok: -1 })]],
    ['max output above the context', [override('a', { max_output_tokens: 40_000 })]],
    ['an empty context', [override('a', { context_window: 0, max_output_tokens: 0 })]],
    ['an unknown provider', [override('a', { provider: 'azure' as 'openai' })]],
    ['an unknown kind', [override('a', { kind: 'image' as 'chat' })]],
    ['an empty id', [override('')]],
    ['an id with spaces', [override('gpt 4o')]],
  ])('are refused with INVALID_PRICE for %s', (_, overrides) => {
    const error = expectIronError(() => new PriceTable(BUNDLED_PRICES, overrides), 'INVALID_PRICE')
    expect(error.hint).toBeTruthy()
  })

  it('accept free models (price 0)', () => {
    const table = new PriceTable(BUNDLED_PRICES, [
      override('local-llama', { input_micros_per_mtok: 0, output_micros_per_mtok: 0 }),
    ])
    const price = table.resolve('local-llama')!.price
    expect(costMicros(price, { input_tokens: 1_000, output_tokens: 1_000 })).toBe(0)
    expect(maxOutputTokensWithin(price, 1_000, 0)).toBe(4_096)
  })
})

describe('parsePricePerMillion', () => {
  it.each([
    ['2.50', 2_500_000],
    ['$2.50', 2_500_000],
    ['0.075', 75_000],
    ['15', 15_000_000],
    [' $0.15 ', 150_000],
    ['.5', 500_000],
    ['0', 0],
    ['0.000001', 1],
    ['1,000', 1_000_000_000],
    ['1000000', MAX_PRICE_MICROS_PER_MTOK],
    ['000000000002.5', 2_500_000],
  ])('%s → %d micros per 1M tokens', (input, micros) => {
    expect(parsePricePerMillion(input)).toBe(micros)
  })

  it.each([
    ['-1', 'negative'],
    ['$-0.5', 'negative'],
    ['abc', 'not a number'],
    ['NaN', 'not a number'],
    ['1e3', 'scientific notation is not accepted; write 1000'],
    ['1e7', 'more than the maximum of $1,000,000.00 per 1M tokens'],
    ['2.50/M', 'not a number'],
    ['', 'empty'],
    ['$', 'not a number'],
    ['1.0000001', 'more than 6 decimal places'],
    ['1000000.000001', 'maximum'],
    ['99999999999999999999', 'maximum'],
  ])('rejects %j (%s)', (input, reason) => {
    const error = expectIronError(() => parsePricePerMillion(input), 'INVALID_PRICE')
    expect(error.message).toContain(reason)
    expect(error.hint).toContain('per 1M tokens')
  })

  it('round-trips any price with up to 6 decimals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_PRICE_MICROS_PER_MTOK }), (micros) => {
        const text = `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`
        expect(parsePricePerMillion(text)).toBe(micros)
      }),
    )
  })
})
