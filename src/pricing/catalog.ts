/**
 * The bundled model price catalog: plain data, in integer micro-USD per 1,000,000 tokens.
 * Prices come from the providers' public price pages (standard tier, no batch discount, no long-context
 * surcharge). Users correct or extend them with overrides (see lookup.ts), which always win.
 */
/** Who serves a model; `openai-compatible` is for user-priced models of self-hosted or third-party servers. */
export type PricedProvider = 'openai' | 'anthropic' | 'openai-compatible' | 'mock'

export interface ModelPrice {
  /** Canonical id, lowercase, e.g. 'gpt-4o', 'claude-sonnet-4-6'. */
  model: string
  provider: PricedProvider
  kind: 'chat' | 'embedding'
  /** Integer micro-USD per 1,000,000 input tokens ($2.50/M → 2_500_000). */
  input_micros_per_mtok: number
  output_micros_per_mtok: number
  /** Prompt-cache read price; null when the model has no cache discount (cached tokens bill as input). */
  cached_input_micros_per_mtok: number | null
  /** Prompt-cache write price (Anthropic 5-minute cache write); null when writes are not billed apart. */
  cache_write_micros_per_mtok: number | null
  max_output_tokens: number
  context_window: number
  /** Dated snapshots and other ids that mean this model. */
  aliases: string[]
}

/** The day the bundled catalog was last updated (`iron pricing list` shows it). */
export const CATALOG_EFFECTIVE_DATE = '2026-12-07'

/** When each provider's models, prices and lifecycle were last checked against its own pages. */
export const CATALOG_CHECKED: Readonly<Record<'openai' | 'anthropic', string>> = Object.freeze({
  openai: '2025-11-24',
  anthropic: '2026-12-07',
})

/**
 * A model its provider retires, or retired. From `retires_on` (UTC) a request for it is refused with this
 * message instead of being sent where it would fail; before that day it is listed as deprecated. A price a
 * user sets for it (`iron pricing set`) routes it again, for a platform that still serves it (Amazon Bedrock
 * and Google Cloud keep their own schedules).
 */
export interface ModelRetirement {
  /** The catalog's id of the model (its aliases and snapshots retire with it). */
  model: string
  retires_on: string
  /** What the provider recommends instead. */
  replacement: string
}

const retirements: ModelRetirement[] = [
  // Anthropic's deprecations page: https://platform.claude.com/docs/en/about-claude/model-deprecations
  { model: 'claude-3-5-sonnet', retires_on: '2025-10-22', replacement: 'claude-sonnet-5-5' },
  { model: 'claude-3-7-sonnet', retires_on: '2026-02-19', replacement: 'claude-sonnet-5-5' },
  { model: 'claude-3-5-haiku', retires_on: '2026-02-19', replacement: 'claude-haiku-4-5' },
  { model: 'claude-3-haiku', retires_on: '2026-04-20', replacement: 'claude-haiku-4-5' },
  { model: 'claude-sonnet-4', retires_on: '2026-06-15', replacement: 'claude-sonnet-5-5' },
  { model: 'claude-opus-4', retires_on: '2026-06-15', replacement: 'claude-opus-5-5' },
  { model: 'claude-sonnet-4-5', retires_on: '2026-11-30', replacement: 'claude-sonnet-5-5' },
  // Deprecated on 2026-11-23.
  { model: 'claude-opus-4-5', retires_on: '2027-01-22', replacement: 'claude-opus-5-5' },
]

export const RETIREMENTS: readonly ModelRetirement[] = Object.freeze(
  retirements.map((r) => Object.freeze({ ...r })),
)

const retirementByModel = new Map(RETIREMENTS.map((r) => [r.model, r]))

/** The retirement of a catalog model (by its canonical id), whether it has happened yet or not. */
export const retirementOf = (model: string): ModelRetirement | undefined => retirementByModel.get(model)

/** Whether the model is retired at `now` (from the start of its retirement day, UTC). */
export const isRetired = (retirement: ModelRetirement, now: number): boolean =>
  now >= Date.parse(`${retirement.retires_on}T00:00:00Z`)

const PROVIDER_NAMES: Record<PricedProvider, string> = {
  openai: 'OpenAI',
  anthropic: 'Anthropic',
  'openai-compatible': 'its provider',
  mock: 'iron',
}

/** `Anthropic retired claude-sonnet-4-5 on 2026-11-30; use claude-sonnet-5-5 instead`. */
export const retiredMessage = (retirement: ModelRetirement, provider: PricedProvider): string =>
  `${PROVIDER_NAMES[provider]} retired ${retirement.model} on ${retirement.retires_on}; use ${retirement.replacement} instead`

const entries: ModelPrice[] = [
  // OpenAI: cached input is 0.1x for GPT-5, 0.25x for GPT-4.1 and o3/o4-mini, 0.5x for GPT-4o, o1, o3-mini.
  {
    model: 'gpt-5',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 1_250_000,
    output_micros_per_mtok: 10_000_000,
    cached_input_micros_per_mtok: 125_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 128_000,
    context_window: 400_000,
    aliases: ['gpt-5-2025-08-07', 'gpt-5-chat-latest'],
  },
  {
    model: 'gpt-5-mini',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 250_000,
    output_micros_per_mtok: 2_000_000,
    cached_input_micros_per_mtok: 25_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 128_000,
    context_window: 400_000,
    aliases: ['gpt-5-mini-2025-08-07'],
  },
  {
    model: 'gpt-5-nano',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 50_000,
    output_micros_per_mtok: 400_000,
    cached_input_micros_per_mtok: 5_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 128_000,
    context_window: 400_000,
    aliases: ['gpt-5-nano-2025-08-07'],
  },
  {
    model: 'gpt-4.1',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 2_000_000,
    output_micros_per_mtok: 8_000_000,
    cached_input_micros_per_mtok: 500_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 32_768,
    context_window: 1_047_576,
    aliases: ['gpt-4.1-2025-04-14'],
  },
  {
    model: 'gpt-4.1-mini',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 400_000,
    output_micros_per_mtok: 1_600_000,
    cached_input_micros_per_mtok: 100_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 32_768,
    context_window: 1_047_576,
    aliases: ['gpt-4.1-mini-2025-04-14'],
  },
  {
    model: 'gpt-4.1-nano',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 100_000,
    output_micros_per_mtok: 400_000,
    cached_input_micros_per_mtok: 25_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 32_768,
    context_window: 1_047_576,
    aliases: ['gpt-4.1-nano-2025-04-14'],
  },
  {
    model: 'gpt-4o',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 2_500_000,
    output_micros_per_mtok: 10_000_000,
    cached_input_micros_per_mtok: 1_250_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 16_384,
    context_window: 128_000,
    aliases: ['gpt-4o-2024-08-06', 'gpt-4o-2024-11-20'],
  },
  // The first GPT-4o snapshot kept its launch price; listed on its own so the snapshot rule cannot
  // price it as today's gpt-4o.
  {
    model: 'gpt-4o-2024-05-13',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 5_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 4_096,
    context_window: 128_000,
    aliases: [],
  },
  {
    model: 'gpt-4o-mini',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 150_000,
    output_micros_per_mtok: 600_000,
    cached_input_micros_per_mtok: 75_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 16_384,
    context_window: 128_000,
    aliases: ['gpt-4o-mini-2024-07-18'],
  },
  {
    model: 'o1',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 15_000_000,
    output_micros_per_mtok: 60_000_000,
    cached_input_micros_per_mtok: 7_500_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 100_000,
    context_window: 200_000,
    aliases: ['o1-2024-12-17'],
  },
  {
    model: 'o3',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 2_000_000,
    output_micros_per_mtok: 8_000_000,
    cached_input_micros_per_mtok: 500_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 100_000,
    context_window: 200_000,
    aliases: ['o3-2025-04-16'],
  },
  {
    model: 'o3-mini',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 1_100_000,
    output_micros_per_mtok: 4_400_000,
    cached_input_micros_per_mtok: 550_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 100_000,
    context_window: 200_000,
    aliases: ['o3-mini-2025-01-31'],
  },
  {
    model: 'o4-mini',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 1_100_000,
    output_micros_per_mtok: 4_400_000,
    cached_input_micros_per_mtok: 275_000,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 100_000,
    context_window: 200_000,
    aliases: ['o4-mini-2025-04-16'],
  },
  {
    model: 'gpt-4-turbo',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 10_000_000,
    output_micros_per_mtok: 30_000_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 4_096,
    context_window: 128_000,
    aliases: ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo-preview', 'gpt-4-0125-preview', 'gpt-4-1106-preview'],
  },
  {
    model: 'gpt-4',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 30_000_000,
    output_micros_per_mtok: 60_000_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 8_192,
    context_window: 8_192,
    aliases: ['gpt-4-0613', 'gpt-4-0314'],
  },
  {
    model: 'gpt-3.5-turbo',
    provider: 'openai',
    kind: 'chat',
    input_micros_per_mtok: 500_000,
    output_micros_per_mtok: 1_500_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 4_096,
    context_window: 16_385,
    aliases: ['gpt-3.5-turbo-0125'],
  },
  {
    model: 'text-embedding-3-small',
    provider: 'openai',
    kind: 'embedding',
    input_micros_per_mtok: 20_000,
    output_micros_per_mtok: 0,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 0,
    context_window: 8_191,
    aliases: [],
  },
  {
    model: 'text-embedding-3-large',
    provider: 'openai',
    kind: 'embedding',
    input_micros_per_mtok: 130_000,
    output_micros_per_mtok: 0,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 0,
    context_window: 8_191,
    aliases: [],
  },
  {
    model: 'text-embedding-ada-002',
    provider: 'openai',
    kind: 'embedding',
    input_micros_per_mtok: 100_000,
    output_micros_per_mtok: 0,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 0,
    context_window: 8_191,
    aliases: [],
  },

  // Anthropic: cache write (5 minutes) is 1.25x input, cache read 0.1x input (0.05x for the 5.5 models
  // since 2026-10-07). Retired and retiring models keep their prices: see RETIREMENTS.
  {
    model: 'claude-opus-5-5',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 4_000_000,
    output_micros_per_mtok: 20_000_000,
    cached_input_micros_per_mtok: 200_000,
    cache_write_micros_per_mtok: 5_000_000,
    max_output_tokens: 128_000,
    context_window: 1_000_000,
    aliases: [],
  },
  {
    model: 'claude-sonnet-5-5',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 2_000_000,
    output_micros_per_mtok: 10_000_000,
    cached_input_micros_per_mtok: 100_000,
    cache_write_micros_per_mtok: 2_500_000,
    max_output_tokens: 128_000,
    context_window: 1_000_000,
    aliases: [],
  },
  {
    model: 'claude-opus-4-6',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 5_000_000,
    output_micros_per_mtok: 25_000_000,
    cached_input_micros_per_mtok: 500_000,
    cache_write_micros_per_mtok: 6_250_000,
    max_output_tokens: 128_000,
    context_window: 1_000_000,
    aliases: [],
  },
  {
    model: 'claude-sonnet-4-6',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 3_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: 300_000,
    cache_write_micros_per_mtok: 3_750_000,
    max_output_tokens: 128_000,
    context_window: 1_000_000,
    aliases: [],
  },
  {
    model: 'claude-opus-4-5',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 5_000_000,
    output_micros_per_mtok: 25_000_000,
    cached_input_micros_per_mtok: 500_000,
    cache_write_micros_per_mtok: 6_250_000,
    max_output_tokens: 64_000,
    context_window: 200_000,
    aliases: ['claude-opus-4-5-20251101'],
  },
  {
    model: 'claude-sonnet-4-5',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 3_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: 300_000,
    cache_write_micros_per_mtok: 3_750_000,
    max_output_tokens: 64_000,
    context_window: 200_000,
    aliases: ['claude-sonnet-4-5-20250929'],
  },
  {
    model: 'claude-haiku-4-5',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 1_000_000,
    output_micros_per_mtok: 5_000_000,
    cached_input_micros_per_mtok: 100_000,
    cache_write_micros_per_mtok: 1_250_000,
    max_output_tokens: 64_000,
    context_window: 200_000,
    aliases: ['claude-haiku-4-5-20251001'],
  },
  {
    model: 'claude-opus-4-1',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 15_000_000,
    output_micros_per_mtok: 75_000_000,
    cached_input_micros_per_mtok: 1_500_000,
    cache_write_micros_per_mtok: 18_750_000,
    max_output_tokens: 32_000,
    context_window: 200_000,
    aliases: ['claude-opus-4-1-20250805'],
  },
  {
    model: 'claude-opus-4',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 15_000_000,
    output_micros_per_mtok: 75_000_000,
    cached_input_micros_per_mtok: 1_500_000,
    cache_write_micros_per_mtok: 18_750_000,
    max_output_tokens: 32_000,
    context_window: 200_000,
    aliases: ['claude-opus-4-20250514', 'claude-opus-4-0', 'claude-4-opus-20250514'],
  },
  {
    model: 'claude-sonnet-4',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 3_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: 300_000,
    cache_write_micros_per_mtok: 3_750_000,
    max_output_tokens: 64_000,
    context_window: 200_000,
    aliases: ['claude-sonnet-4-20250514', 'claude-sonnet-4-0', 'claude-4-sonnet-20250514'],
  },
  {
    model: 'claude-3-7-sonnet',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 3_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: 300_000,
    cache_write_micros_per_mtok: 3_750_000,
    max_output_tokens: 64_000,
    context_window: 200_000,
    aliases: ['claude-3-7-sonnet-20250219', 'claude-3-7-sonnet-latest'],
  },
  {
    model: 'claude-3-5-haiku',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 800_000,
    output_micros_per_mtok: 4_000_000,
    cached_input_micros_per_mtok: 80_000,
    cache_write_micros_per_mtok: 1_000_000,
    max_output_tokens: 8_192,
    context_window: 200_000,
    aliases: ['claude-3-5-haiku-20241022', 'claude-3-5-haiku-latest'],
  },
  {
    model: 'claude-3-5-sonnet',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 3_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: 300_000,
    cache_write_micros_per_mtok: 3_750_000,
    max_output_tokens: 8_192,
    context_window: 200_000,
    aliases: ['claude-3-5-sonnet-20241022', 'claude-3-5-sonnet-20240620', 'claude-3-5-sonnet-latest'],
  },
  {
    model: 'claude-3-haiku',
    provider: 'anthropic',
    kind: 'chat',
    input_micros_per_mtok: 250_000,
    output_micros_per_mtok: 1_250_000,
    cached_input_micros_per_mtok: 30_000,
    cache_write_micros_per_mtok: 300_000,
    max_output_tokens: 4_096,
    context_window: 200_000,
    aliases: ['claude-3-haiku-20240307'],
  },

  // Priced stand-ins for demos, tests and the benchmark's mock provider.
  {
    model: 'mock-small',
    provider: 'mock',
    kind: 'chat',
    input_micros_per_mtok: 500_000,
    output_micros_per_mtok: 1_500_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 4_096,
    context_window: 32_768,
    aliases: [],
  },
  {
    model: 'mock-large',
    provider: 'mock',
    kind: 'chat',
    input_micros_per_mtok: 5_000_000,
    output_micros_per_mtok: 15_000_000,
    cached_input_micros_per_mtok: null,
    cache_write_micros_per_mtok: null,
    max_output_tokens: 8_192,
    context_window: 128_000,
    aliases: [],
  },
]

export const BUNDLED_PRICES: readonly ModelPrice[] = Object.freeze(
  entries.map((entry) => Object.freeze({ ...entry, aliases: Object.freeze([...entry.aliases]) as string[] })),
)
