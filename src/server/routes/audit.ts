import { setImmediate as nextTurn } from 'node:timers/promises'
import { z } from 'zod'
import type { AuditEvent, AuditQuery } from '../../services/api.js'
import { auditCsvHeader, auditCsvLine } from '../../services/audit-format.js'
import type { LocalControlPlane } from '../../services/local/index.js'
import { drained } from '../http.js'
import { DEFAULT_PAGE, decodeCursor, encodeCursor, invalidCursor } from '../pagination.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

/**
 * Events read per turn of an export: a turn costs a request waiting behind it about 4 ms of CPU (some 17 µs an
 * event to read and serialize), and the turns themselves cost next to nothing.
 */
const EXPORT_BATCH = 250

const filters = z.strictObject({
  ...s.auditFilters,
  outcome: z.string().max(40).optional(),
})

const toQuery = (q: z.output<typeof filters>): AuditQuery => ({
  agent: q.agent,
  actor: q.actor,
  action: q.action,
  outcome: q.outcome,
  since: q.since,
  until: q.until,
})

/** The audit trail (audit.*): query, count, one event, export as a stream, verify, prune. */
export const auditRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/audit',
    summary:
      'Audit events, newest first (audit.list): a page of limit events (1 to 500, default 100); next_cursor goes on to older ones',
    tag: 'audit',
    service: 'audit.list',
    query: filters.extend({
      ...s.pageQuery,
    }),
    response: s.page(s.AuditEvent),
    handler: async ({ cp, query }) => {
      const page = await cp.audit.list({
        ...toQuery(query),
        limit: query.limit ?? DEFAULT_PAGE,
        cursor: query.cursor === undefined ? undefined : serviceCursor(query.cursor),
      })
      return {
        data: page.events,
        next_cursor: page.next_cursor === null ? null : encodeCursor({ a: page.next_cursor }),
      }
    },
  }),
  route({
    method: 'GET',
    path: '/api/v1/audit/count',
    summary: 'How many events match the filters (audit.count)',
    tag: 'audit',
    service: 'audit.count',
    query: filters,
    response: z.object({ count: z.number().int() }).meta({ id: 'AuditCount' }),
    handler: async ({ cp, query }) => ({ count: await cp.audit.count(toQuery(query)) }),
  }),
  route({
    method: 'GET',
    path: '/api/v1/audit/export',
    summary:
      'Every matching event oldest first, streamed as JSON Lines or CSV (the chained fields only, as iron audit export writes them)',
    tag: 'audit',
    service: 'audit.stream',
    kind: 'raw',
    rawContent: ['application/x-ndjson', 'text/csv'],
    query: filters.extend({
      format: z.enum(['jsonl', 'csv']).optional(),
      after_seq: s.queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
    }),
    response: s.AuditEvent,
    handler: async ({ cp, query, res, head }) =>
      exportAudit(cp, res, { ...toQuery(query), after_seq: query.after_seq }, query.format ?? 'jsonl', head),
  }),
  route({
    method: 'GET',
    path: '/api/v1/audit/{ref}',
    summary: 'One event, by sequence number or ID (audit.get)',
    tag: 'audit',
    service: 'audit.get',
    params: z.strictObject({ ref: s.ref }),
    response: s.AuditEvent,
    handler: ({ cp, params }) => cp.audit.get(params.ref),
  }),
  route({
    method: 'POST',
    path: '/api/v1/audit/verify',
    summary: 'Prove the hash chain from the last checkpoint to the head (audit.verify)',
    tag: 'audit',
    service: 'audit.verify',
    body: z.strictObject({ expect_head: z.string().max(200).optional() }).meta({ id: 'AuditVerifyInput' }),
    response: s.AuditVerification,
    handler: ({ cp, body }) => cp.audit.verify({ expect_head: body.expect_head }),
  }),
  route({
    method: 'POST',
    path: '/api/v1/audit/prune',
    summary: 'Remove events before a time, leaving a signed checkpoint (audit.prune)',
    tag: 'audit',
    service: 'audit.prune',
    body: z.strictObject({ before: s.queryTime }).meta({ id: 'AuditPruneInput' }),
    response: s.AuditPruneResult,
    mutates: true,
    handler: ({ cp, body }) => cp.audit.prune(body.before),
  }),
]

function serviceCursor(cursor: string): string {
  const value = decodeCursor(cursor) as { a?: unknown }
  if (typeof value !== 'object' || value === null || typeof value.a !== 'string' || value.a.length > 64)
    throw invalidCursor()
  return value.a
}

/**
 * Stream the export a batch at a time: each batch is read whole (the store's statement is closed before
 * anything else runs on the connection), written, and the next waits for the socket to drain and for other
 * requests to have their turn. A client that leaves stops it.
 */
async function exportAudit(
  cp: LocalControlPlane,
  res: import('node:http').ServerResponse,
  query: AuditQuery & { after_seq?: number },
  format: 'jsonl' | 'csv',
  head: boolean,
): Promise<void> {
  // The first batch is read before answering, so that a bad filter (an unknown agent) is a proper error.
  let batch = readBatch(cp, query, query.after_seq ?? 0)
  res.writeHead(200, {
    'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'content-disposition': `attachment; filename="iron-audit.${format}"`,
  })
  if (head) return void res.end()
  if (format === 'csv') res.write(auditCsvHeader())
  while (batch.length > 0 && !res.destroyed) {
    let text = ''
    for (const event of batch) text += format === 'csv' ? auditCsvLine(event) : `${JSON.stringify(event)}\n`
    res.write(text)
    const last = batch.at(-1)!.seq
    if (batch.length < EXPORT_BATCH) break
    await drained(res)
    await nextTurn()
    batch = readBatch(cp, query, last)
  }
  res.end()
}

function readBatch(cp: LocalControlPlane, query: AuditQuery, afterSeq: number): AuditEvent[] {
  const batch: AuditEvent[] = []
  const events = cp.audit.iterate({ ...query, after_seq: afterSeq })
  try {
    for (const event of events) {
      batch.push(event)
      if (batch.length === EXPORT_BATCH) break
    }
  } finally {
    events.return?.()
  }
  return batch
}
