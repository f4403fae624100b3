import type { Db } from './db.js'

export interface ProviderRow {
  id: string
  name: string
  kind: 'openai' | 'anthropic' | 'openai-compatible' | 'mock'
  base_url: string | null
  sealed_key: Buffer | null
  key_mask: string | null
  description: string
  created_at: number
  updated_at: number
  removed_at: number | null
  last_test_at: number | null
  last_test_ok: number | null
  last_test_note: string | null
}

const COLUMNS =
  'id, name, kind, base_url, sealed_key, key_mask, description, created_at, updated_at, removed_at, last_test_at, last_test_ok, last_test_note'

export class ProvidersRepo {
  constructor(private readonly db: Db) {}

  insert(row: ProviderRow): void {
    this.db
      .prepare(
        `INSERT INTO providers (${COLUMNS}) VALUES (@id, @name, @kind, @base_url, @sealed_key, @key_mask, @description,
          @created_at, @updated_at, @removed_at, @last_test_at, @last_test_ok, @last_test_note)`,
      )
      .run(row)
  }

  update(row: ProviderRow): void {
    this.db
      .prepare(
        `UPDATE providers SET base_url = @base_url, sealed_key = @sealed_key, key_mask = @key_mask,
          description = @description, updated_at = @updated_at, removed_at = @removed_at, last_test_at = @last_test_at,
          last_test_ok = @last_test_ok, last_test_note = @last_test_note WHERE id = @id`,
      )
      .run(row)
  }

  byId(id: string): ProviderRow | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM providers WHERE id = ?`).get(id) as ProviderRow | undefined
  }

  byName(name: string): ProviderRow | undefined {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM providers WHERE name = ? AND removed_at IS NULL`)
      .get(name) as ProviderRow | undefined
  }

  list(): ProviderRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM providers WHERE removed_at IS NULL ORDER BY name`)
      .all() as ProviderRow[]
  }
}
