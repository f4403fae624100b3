import { notFound, usageError } from '../../core/errors.js'
import {
  BUNDLED_PRICES,
  isRetired,
  type ModelPrice,
  PriceTable,
  type ResolvedPrice,
  retiredMessage,
  retirementOf,
} from '../../pricing/index.js'
import type { Db } from '../../store/db.js'
import type { PricesRepo } from '../../store/prices.js'
import type { ModelPriceView, PriceInput, PricingApi } from '../api.js'
import { authorize } from '../authz.js'
import type { LocalAudit } from './audit.js'

/** The bundled catalog under the user's overrides (kept in the store, so the gateway and serve see them). */
export class LocalPricing implements PricingApi {
  #table: { table: PriceTable; version: number } | undefined
  #version = 0

  constructor(
    private readonly db: Db,
    private readonly repo: PricesRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
  ) {}

  /** The current table; rebuilt only after an override changes in this process. */
  table(): PriceTable {
    if (this.#table?.version !== this.#version) {
      this.#table = { table: new PriceTable(BUNDLED_PRICES, this.repo.overrides()), version: this.#version }
    }
    return this.#table.table
  }

  /** Forget the cached table (another process may have changed overrides). */
  invalidate(): void {
    this.#version++
  }

  resolve(model: string): ResolvedPrice | undefined {
    return this.table().resolve(model)
  }

  /**
   * The canonical id of a model a person typed, or a not-found error that says how to price it. A model
   * its provider retired is refused with its replacement, unless a price of the user's own routes it.
   */
  canonical(model: string): string {
    const found = this.resolve(model)
    if (!found) throw unknownModel(model)
    const retirement = retirementOf(found.price.model)
    if (found.source === 'bundled' && retirement && isRetired(retirement, this.now())) {
      throw usageError(
        'MODEL_RETIRED',
        retiredMessage(retirement, found.price.provider),
        `Use ${retirement.replacement}; if a provider of yours still serves ${retirement.model}, give it a price of your own first: iron pricing set ${retirement.model} --input <usd> --output <usd>`,
      )
    }
    return found.price.model
  }

  /** Every priced model; the ones their provider retired only with `include_retired`. */
  async list(options: { provider?: string; include_retired?: boolean } = {}): Promise<ModelPriceView[]> {
    authorize('pricing.list')
    return this.table()
      .list()
      .filter((p) => options.provider === undefined || p.provider === options.provider)
      .map((p) => this.#view(p, p.source))
      .filter((p) => options.include_retired || p.status !== 'retired')
  }

  async get(model: string): Promise<ModelPriceView> {
    authorize('pricing.get')
    const found = this.resolve(model)
    if (!found) throw unknownModel(model)
    return this.#view(found.price, found.source)
  }

  /** A price with its model's lifecycle: active, deprecated (a retirement date is set) or retired. */
  #view(price: ModelPrice, source: ModelPriceView['source']): ModelPriceView {
    const retirement = retirementOf(price.model)
    return {
      ...price,
      source,
      status: retirement ? (isRetired(retirement, this.now()) ? 'retired' : 'deprecated') : 'active',
      retires_on: retirement?.retires_on ?? null,
      replacement: retirement?.replacement ?? null,
    }
  }

  async set(input: PriceInput): Promise<ModelPriceView> {
    authorize('pricing.set')
    const model = input.model.trim()
    const base = this.table().resolve(model)
    // A model iron knows (by id, alias or snapshot) keeps what is not given; a new one needs provider and prices.
    const inherited = base?.price
    if (
      !inherited &&
      (input.provider === undefined ||
        input.input_micros_per_mtok === undefined ||
        input.output_micros_per_mtok === undefined)
    ) {
      throw usageError(
        'PRICE_INCOMPLETE',
        `iron has no price for '${model}' yet, so give its provider and both prices`,
        `For example: iron pricing set ${model} --provider openai --input 0.50 --output 1.50`,
      )
    }
    const price: ModelPrice = {
      model: inherited?.model ?? model,
      provider: (input.provider ?? inherited!.provider) as ModelPrice['provider'],
      kind: input.kind ?? inherited?.kind ?? 'chat',
      input_micros_per_mtok: input.input_micros_per_mtok ?? inherited!.input_micros_per_mtok,
      output_micros_per_mtok: input.output_micros_per_mtok ?? inherited!.output_micros_per_mtok,
      cached_input_micros_per_mtok:
        input.cached_input_micros_per_mtok === undefined
          ? (inherited?.cached_input_micros_per_mtok ?? null)
          : input.cached_input_micros_per_mtok,
      cache_write_micros_per_mtok:
        input.cache_write_micros_per_mtok === undefined
          ? (inherited?.cache_write_micros_per_mtok ?? null)
          : input.cache_write_micros_per_mtok,
      max_output_tokens: input.max_output_tokens ?? inherited?.max_output_tokens ?? 4_096,
      context_window: input.context_window ?? inherited?.context_window ?? 128_000,
      aliases: inherited?.aliases ?? [],
    }
    // Building a table validates the entry and that it does not collide with another id or alias.
    const overrides = this.repo.overrides().filter((p) => p.model.toLowerCase() !== price.model.toLowerCase())
    new PriceTable(BUNDLED_PRICES, [...overrides, price])
    this.db
      .transaction(() => {
        this.repo.upsert(price, this.now())
        this.audit.record({
          action: 'pricing.set',
          resource_type: 'price',
          resource_id: price.model,
          outcome: 'success',
          data: { before: base ? { ...base.price, source: base.source } : null, after: price },
        })
      })
      .immediate()
    this.invalidate()
    return this.#view(price, 'override')
  }

  async unset(model: string): Promise<{ model: string; removed: boolean; now: ModelPriceView | null }> {
    authorize('pricing.unset')
    const found = this.resolve(model)
    const id = found?.source === 'override' ? found.price.model : model.trim()
    const removed = this.db
      .transaction(() => {
        const gone = this.repo.remove(id)
        if (gone)
          this.audit.record({
            action: 'pricing.unset',
            resource_type: 'price',
            resource_id: id,
            outcome: 'success',
            data: { before: found?.price ?? null },
          })
        return gone
      })
      .immediate()
    if (!removed) {
      throw notFound(
        'PRICE_OVERRIDE_NOT_FOUND',
        `There is no price override for '${model}'`,
        'See overrides with: iron pricing list --overrides',
      )
    }
    this.invalidate()
    const now = this.resolve(id)
    return { model: id, removed, now: now ? this.#view(now.price, now.source) : null }
  }
}

export const unknownModel = (model: string) =>
  notFound(
    'UNKNOWN_MODEL',
    `iron has no price for model '${model}'`,
    `Check the name with: iron pricing list; or set a price with: iron pricing set ${model} --provider <provider> --input <usd> --output <usd>`,
  )
