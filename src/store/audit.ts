import { hash } from 'node:crypto'
import { canonicalJson } from '../core/canonical-json.js'
import { newId } from '../core/ids.js'
import { type Db, dialectSql, type Statement } from './db.js'
import { AUDIT_CHANNEL } from './postgres-listen.js'

export const GENESIS_HASH = '0'.repeat(64)

export interface AuditRow {
  seq: number
  id: string
  at: number
  actor: string
  action: string
  resource_type: string | null
  resource_id: string | null
  agent_id: string | null
  outcome: string
  data: string
  prev_hash: string
  hash: string
}

export interface NewAuditEvent {
  actor: string
  action: string
  resource_type?: string | null
  resource_id?: string | null
  agent_id?: string | null
  outcome: 'success' | 'failure' | 'denied'
  /** The event's data, or that data already written as canonical JSON (the gateway's request records). */
  data: Record<string, unknown> | string
  /** Defaults to now; the gateway passes the time the request started. */
  at?: number
  id?: string
}

export interface CheckpointRow {
  through_seq: number
  head_hash: string
  pruned: number
  first_at: number | null
  last_at: number | null
  created_at: number
  actor: string
  signature: string
}

const q = (value: string | null) => (value === null ? 'null' : JSON.stringify(value))

/**
 * The text an event's hash covers (after its predecessor's hash): the canonical JSON of the event, keys in
 * order, with `data` exactly as stored (it is written in canonical form, so the whole text is canonical).
 */
export function eventPayload(row: Omit<AuditRow, 'prev_hash' | 'hash'>): string {
  return (
    `{"action":${q(row.action)},"actor":${q(row.actor)},"agent_id":${q(row.agent_id)},` +
    `"at":${q(new Date(row.at).toISOString())},"data":${row.data},"id":${q(row.id)},"outcome":${q(row.outcome)},` +
    `"resource_id":${q(row.resource_id)},"resource_type":${q(row.resource_type)},"seq":${row.seq}}`
  )
}

export const chainHash = (prevHash: string, payload: string): string =>
  hash('sha256', prevHash + payload, 'hex')

/** Per store, the event its current transaction appended last, with the transaction's mark (PostgresDb). */
const appended = new WeakMap<Db, { mark: number; seq: number; hash: string }>()

/** Rows per read of `iterate`. */
const ITERATE_PAGE = 500

const COLUMNS =
  'seq, id, at, actor, action, resource_type, resource_id, agent_id, outcome, data, prev_hash, hash'

/**
 * The audit table. `append` must run inside a write transaction: it reads the head of the chain under the
 * write lock, so the chain stays one sequence whatever the number of processes writing.
 */
export class AuditRepo {
  readonly #head: Statement
  readonly #checkpointHead: Statement
  readonly #insert: Statement

  constructor(private readonly db: Db) {
    this.#head = db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1')
    this.#checkpointHead = db.prepare(
      'SELECT through_seq AS seq, head_hash AS hash FROM audit_checkpoints ORDER BY through_seq DESC LIMIT 1',
    )
    const insert = `INSERT INTO audit_events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    // On PostgreSQL the append also tells every replica's event stream (LISTEN iron_audit), at commit.
    this.#insert = db.prepare(
      dialectSql(
        db,
        insert,
        `WITH appended AS (${insert} RETURNING seq) SELECT pg_notify('${AUDIT_CHANNEL}', seq::text) FROM appended`,
      ),
    )
  }

  append(event: NewAuditEvent): AuditRow {
    if (!this.db.inTransaction) throw new Error('audit events are appended inside a write transaction')
    // On PostgreSQL, the head this transaction appended last, while nothing of it was rolled back: one
    // round trip less an event (a report appends one a request). SQLite reads it in microseconds.
    const mark = this.db.mark
    const mine = mark === undefined ? undefined : appended.get(this.db)
    const head =
      mine !== undefined && mine.mark === mark
        ? mine
        : ((this.#head.get() ?? this.#checkpointHead.get()) as { seq: number; hash: string } | undefined)
    const at = event.at ?? Date.now()
    const base = {
      seq: (head?.seq ?? 0) + 1,
      id: event.id ?? newId('aud', at),
      at,
      actor: event.actor,
      action: event.action,
      resource_type: event.resource_type ?? null,
      resource_id: event.resource_id ?? null,
      agent_id: event.agent_id ?? null,
      outcome: event.outcome,
      data: typeof event.data === 'string' ? event.data : canonicalJson(event.data),
    }
    const prev = head?.hash ?? GENESIS_HASH
    const row: AuditRow = { ...base, prev_hash: prev, hash: chainHash(prev, eventPayload(base)) }
    if (mark !== undefined) appended.set(this.db, { mark, seq: row.seq, hash: row.hash })
    this.#insert.run(
      row.seq,
      row.id,
      row.at,
      row.actor,
      row.action,
      row.resource_type,
      row.resource_id,
      row.agent_id,
      row.outcome,
      row.data,
      row.prev_hash,
      row.hash,
    )
    return row
  }

  byId(id: string): AuditRow | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM audit_events WHERE id = ?`).get(id) as AuditRow | undefined
  }

  /**
   * Events in chain order after `afterSeq` (before it, descending), filtered; read a page at a time by seq,
   * so an export or a verify of any length holds one page in memory, on either store.
   */
  *iterate(
    filter: AuditFilter,
    afterSeq = 0,
    limit?: number,
    descending = false,
  ): IterableIterator<AuditRow> {
    const { where, params } = whereOf(filter)
    where.push(descending ? 'seq < ?' : 'seq > ?')
    const order = descending ? 'DESC' : 'ASC'
    const page = this.db.prepare(
      `SELECT ${COLUMNS} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq ${order} LIMIT ?`,
    )
    let cursor = descending ? afterSeq || Number.MAX_SAFE_INTEGER : afterSeq
    let left = limit === undefined ? Number.POSITIVE_INFINITY : Math.floor(limit)
    while (left > 0) {
      const size = Math.min(left, ITERATE_PAGE)
      const rows = page.all(...params, cursor, size) as AuditRow[]
      yield* rows
      if (rows.length < size) return
      left -= rows.length
      cursor = rows.at(-1)!.seq
    }
  }

  count(filter: AuditFilter): number {
    const { where, params } = whereOf(filter)
    return this.db
      .prepare(`SELECT count(*) FROM audit_events WHERE ${where.join(' AND ')}`)
      .pluck()
      .get(...params) as number
  }

  lastSeq(): number {
    return ((this.#head.get() ?? this.#checkpointHead.get()) as { seq: number } | undefined)?.seq ?? 0
  }

  checkpoints(): CheckpointRow[] {
    return this.db.prepare('SELECT * FROM audit_checkpoints ORDER BY through_seq').all() as CheckpointRow[]
  }
}

export interface AuditFilter {
  agent_id?: string
  actor?: string
  action?: string
  outcome?: string
  since?: number
  until?: number
  /** Only what a user may see: events of agents they own (`owner_id`), and what they did themselves. */
  visible_to?: { owner_id: string | null; actor: string }
}

function whereOf(filter: AuditFilter): { where: string[]; params: unknown[] } {
  const where = ['1 = 1']
  const params: unknown[] = []
  if (filter.agent_id) {
    where.push('agent_id = ?')
    params.push(filter.agent_id)
  }
  if (filter.actor) {
    where.push('actor = ?')
    params.push(filter.actor)
  }
  if (filter.action) {
    // `agent` matches agent.create, agent.update, ...; `agent.create` matches itself.
    where.push(filter.action.includes('.') ? 'action = ?' : "action LIKE ? || '.%'")
    params.push(filter.action)
  }
  if (filter.outcome) {
    where.push('outcome = ?')
    params.push(filter.outcome)
  }
  if (filter.since !== undefined) {
    where.push('at >= ?')
    params.push(filter.since)
  }
  if (filter.until !== undefined) {
    where.push('at < ?')
    params.push(filter.until)
  }
  if (filter.visible_to) {
    where.push('(agent_id IN (SELECT id FROM agents WHERE owner_id = ?) OR actor = ?)')
    // A principal without a user owns no agent: no ID matches ''.
    params.push(filter.visible_to.owner_id ?? '', filter.visible_to.actor)
  }
  return { where, params }
}
