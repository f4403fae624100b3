import type { AuditEvent } from './api.js'

const CSV_COLUMNS = [
  'seq',
  'id',
  'at',
  'actor',
  'action',
  'resource_type',
  'resource_id',
  'agent_id',
  'outcome',
  'data',
  'prev_hash',
  'hash',
] as const

const quote = (value: unknown): string => {
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export const auditCsvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`

/** One RFC 4180 line; `data` as JSON, so an export can be verified again from the file. */
export function auditCsvLine(e: AuditEvent): string {
  const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    seq: e.seq,
    id: e.id,
    at: e.at,
    actor: e.actor,
    action: e.action,
    resource_type: e.resource?.type,
    resource_id: e.resource?.id,
    agent_id: e.agent_id,
    outcome: e.outcome,
    data: e.data,
    prev_hash: e.prev_hash,
    hash: e.hash,
  }
  return `${CSV_COLUMNS.map((c) => quote(row[c])).join(',')}\r\n`
}
