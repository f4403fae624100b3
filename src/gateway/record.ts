import { newId } from '../core/ids.js'

/** The request record: what the gateway writes about every request, as its audit event's data. */

/** What the gateway records about each request (its audit event's data, with the ids beside it). */
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
  /** Firewall findings: counts by category and each finding's place and SHA-256, never the text. */
  findings: { input?: FindingsSummary; output?: FindingsSummary } | null
  holder: string | null
}

export interface FindingsSummary {
  counts: Record<string, number>
  blocked: string[]
  error: string | null
  items: Array<{
    category: string
    action: string
    path: string | null
    start: number
    end: number
    sha256: string
  }>
}

export function newRecord(api: string, holder: string): RequestRecord {
  return {
    id: newId('req'),
    agent_id: null,
    token_id: null,
    api,
    model: null,
    provider: null,
    stream: 0,
    status: 0,
    outcome: '',
    error_code: null,
    input_tokens: null,
    output_tokens: null,
    cached_tokens: null,
    cost_micros: null,
    cost_known: null,
    reserved_micros: null,
    started_at: Date.now(),
    latency_ms: null,
    upstream_ms: null,
    overhead_ms: null,
    prompt_sha256: null,
    response_sha256: null,
    findings: null,
    holder,
  }
}

export function finishTimes(record: RequestRecord, latency: number, upstreamMs: number): void {
  record.latency_ms = round3(latency)
  record.upstream_ms = round3(upstreamMs)
  record.overhead_ms = round3(Math.max(latency - upstreamMs, 0))
}

const round3 = (n: number) => Math.round(n * 1000) / 1000

export function outcomeOf(status: number): string {
  if (status === 401) return 'unauthorized'
  if (status === 402) return 'budget_exceeded'
  if (status === 403) return 'forbidden'
  if (status === 429) return 'rate_limited'
  if (status >= 500) return 'gateway_error'
  return 'invalid_request'
}
