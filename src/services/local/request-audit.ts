import { canonicalJson } from '../../core/canonical-json.js'
import type { RequestRecord } from '../gateway-control.js'
import type { LocalAudit } from './audit.js'

/** A request record's fields that go into its audit event's data (the ids and time have their own columns). */
type RecordField = Exclude<keyof RequestRecord, 'id' | 'agent_id' | 'started_at'>

/**
 * A record's audit data, its keys in canonical (sorted) order: with only plain values in it (no findings),
 * JSON.stringify writes exactly its canonical JSON, several times faster than the general writer. Every field
 * of a record is in it (the mapped type fails to compile when a field is added to RequestRecord and not
 * here); test/unit/gateway-record.test.ts checks the order against canonical JSON.
 */
export function recordData(record: RequestRecord): { [K in RecordField]: unknown } {
  return {
    api: record.api,
    cached_tokens: record.cached_tokens,
    cost_known: record.cost_known === null ? null : record.cost_known === 1,
    cost_micros: record.cost_micros,
    error_code: record.error_code,
    findings: record.findings,
    holder: record.holder,
    input_tokens: record.input_tokens,
    latency_ms: record.latency_ms,
    model: record.model,
    outcome: record.outcome,
    output_tokens: record.output_tokens,
    overhead_ms: record.overhead_ms,
    prompt_sha256: record.prompt_sha256,
    provider: record.provider,
    reserved_micros: record.reserved_micros,
    response_sha256: record.response_sha256,
    status: record.status,
    stream: record.stream === 1,
    token_id: record.token_id,
    upstream_ms: record.upstream_ms,
  }
}

/** A record's audit data as canonical JSON. */
export function recordDataJson(record: RequestRecord): string {
  const data = recordData(record)
  return data.findings === null ? JSON.stringify(data) : canonicalJson(data)
}

/**
 * A request's audit event (`gateway.request`), as every gateway writes it (a local one here, a team
 * gateway's report on the server), and for a firewall block also a `safety.block` alert of its own, as a
 * budget threshold is: in the same transaction, for iron top, webhooks and `iron audit list --action safety.block`.
 */
export function auditRequest(
  audit: LocalAudit,
  record: RequestRecord,
  by: { actor: string; agent_id: string | null; data: string | Record<string, unknown> },
): void {
  const { id, started_at, status } = record
  audit.record({
    actor: by.actor,
    action: 'gateway.request',
    resource_type: 'request',
    resource_id: id,
    agent_id: by.agent_id,
    outcome:
      record.outcome === 'safety_blocked' ||
      status === 401 ||
      status === 402 ||
      status === 403 ||
      status === 429
        ? 'denied'
        : status < 400
          ? 'success'
          : 'failure',
    at: started_at,
    data: by.data,
  })
  if (record.outcome === 'safety_blocked') {
    audit.record({
      actor: 'system',
      action: 'safety.block',
      resource_type: 'request',
      resource_id: id,
      agent_id: by.agent_id,
      outcome: 'denied',
      at: started_at,
      data: blockData(record),
    })
  }
}

/** What a block alert says: which request, what was blocked in which direction (categories, never text). */
function blockData(record: RequestRecord): Record<string, unknown> {
  const { input, output } = record.findings ?? {}
  return {
    request_id: record.id,
    status: record.status,
    model: record.model,
    input: input?.blocked ?? [],
    output: output?.blocked ?? [],
    detector_error: input?.error ?? output?.error ?? null,
  }
}
