import type { ModelPrice } from '../pricing/index.js'
import type { Db } from './db.js'

interface OverrideRow extends Omit<ModelPrice, 'aliases'> {
  aliases: string
  updated_at: number
}

export class PricesRepo {
  constructor(private readonly db: Db) {}

  overrides(): ModelPrice[] {
    const rows = this.db.prepare('SELECT * FROM price_overrides ORDER BY model').all() as OverrideRow[]
    return rows.map(({ updated_at: _, aliases, ...price }) => ({
      ...price,
      aliases: JSON.parse(aliases) as string[],
    }))
  }

  upsert(price: ModelPrice, at: number): void {
    this.db
      .prepare(
        `INSERT INTO price_overrides (model, provider, kind, input_micros_per_mtok, output_micros_per_mtok,
          cached_input_micros_per_mtok, cache_write_micros_per_mtok, max_output_tokens, context_window, aliases, updated_at)
          VALUES (@model, @provider, @kind, @input_micros_per_mtok, @output_micros_per_mtok, @cached_input_micros_per_mtok,
          @cache_write_micros_per_mtok, @max_output_tokens, @context_window, @aliases, @updated_at)
          ON CONFLICT (model) DO UPDATE SET provider = excluded.provider, kind = excluded.kind,
          input_micros_per_mtok = excluded.input_micros_per_mtok, output_micros_per_mtok = excluded.output_micros_per_mtok,
          cached_input_micros_per_mtok = excluded.cached_input_micros_per_mtok,
          cache_write_micros_per_mtok = excluded.cache_write_micros_per_mtok, max_output_tokens = excluded.max_output_tokens,
          context_window = excluded.context_window, aliases = excluded.aliases, updated_at = excluded.updated_at`,
      )
      .run({ ...price, aliases: JSON.stringify(price.aliases), updated_at: at })
  }

  remove(model: string): boolean {
    return this.db.prepare('DELETE FROM price_overrides WHERE lower(model) = lower(?)').run(model).changes > 0
  }
}
