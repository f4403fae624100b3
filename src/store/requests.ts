import type { Statement } from 'better-sqlite3'
import type { Db } from './db.js'

export interface RequestRecord {
  id: string
  agent_id: string | null
  token_id: string | null
  api: string
  model: string | null
  provider: string | null
  stream: number
  status: number
  outcome: string
  error_code: string | null
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  cost_micros: number | null
  cost_known: number | null
  reserved_micros: number | null
  started_at: number
  latency_ms: number | null
  upstream_ms: number | null
  overhead_ms: number | null
  prompt_sha256: string | null
  response_sha256: string | null
  findings: string | null
  holder: string | null
}

const FIELDS: Array<keyof RequestRecord> = [
  'id',
  'agent_id',
  'token_id',
  'api',
  'model',
  'provider',
  'stream',
  'status',
  'outcome',
  'error_code',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'cost_micros',
  'cost_known',
  'reserved_micros',
  'started_at',
  'latency_ms',
  'upstream_ms',
  'overhead_ms',
  'prompt_sha256',
  'response_sha256',
  'findings',
  'holder',
]

export class RequestsRepo {
  readonly #insert: Statement

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO requests (${FIELDS.join(', ')}) VALUES (${FIELDS.map(() => '?').join(', ')})`,
    )
  }

  insert(record: RequestRecord): void {
    this.#insert.run(FIELDS.map((f) => record[f]))
  }
}
