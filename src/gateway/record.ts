import { newId } from '../core/ids.js'
import type { RequestRecord } from '../services/gateway-control.js'

export type { FindingsSummary, RequestRecord } from '../services/gateway-control.js'

/** The request record: what the gateway writes about every request, as its audit event's data. */

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
