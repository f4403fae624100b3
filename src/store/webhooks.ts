import type { Db } from './db.js'

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface WebhookDeliveryRow {
  id: number
  event_id: string
  url: string
  payload: string
  status: WebhookDeliveryStatus
  attempts: number
  next_attempt_at: number
  last_error: string | null
  created_at: number
  delivered_at: number | null
}

/** An alert event of the audit trail, as the deliverer reads it. */
export interface AlertEventRow {
  seq: number
  id: string
  at: number
  action: string
  agent_id: string | null
  agent_name: string | null
  data: string
}

const CURSOR = 'webhook_cursor'
const SECRET = 'webhook_secret'
const COLUMNS =
  'id, event_id, url, payload, status, attempts, next_attempt_at, last_error, created_at, delivered_at'

/**
 * Alert webhooks: the outbox of deliveries, the cursor of the audit trail up to which alerts have been put in
 * it, and the signing secret (sealed under the master key). Every method runs in the caller's transaction.
 */
export class WebhooksRepo {
  constructor(private readonly db: Db) {}

  /** The last audit sequence number whose alerts are in the outbox; undefined before the first look. */
  cursor(): number | undefined {
    const value = this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(CURSOR) as
      | string
      | undefined
    return value === undefined ? undefined : Number(value)
  }

  setCursor(seq: number): void {
    this.#setMeta(CURSOR, String(seq))
  }

  /** The newest audit event's sequence number (0 when there is none). */
  head(): number {
    return this.db.prepare('SELECT coalesce(max(seq), 0) FROM audit_events').pluck().get() as number
  }

  /** Alert events after `after`, up to `through`, oldest first, with their agent's name. */
  alertEvents(actions: readonly string[], after: number, through: number, limit: number): AlertEventRow[] {
    return this.db
      .prepare(
        `SELECT e.seq, e.id, e.at, e.action, e.agent_id, a.name AS agent_name, e.data FROM audit_events e
          LEFT JOIN agents a ON a.id = e.agent_id
          WHERE e.seq > ? AND e.seq <= ? AND e.action IN (${actions.map(() => '?').join(', ')})
          ORDER BY e.seq LIMIT ?`,
      )
      .all(after, through, ...actions, limit) as AlertEventRow[]
  }

  enqueue(row: { event_id: string; url: string; payload: string; at: number }): void {
    this.db
      .prepare(
        `INSERT INTO webhook_deliveries (event_id, url, payload, status, attempts, next_attempt_at, created_at)
          VALUES (?, ?, ?, 'pending', 0, ?, ?)`,
      )
      .run(row.event_id, row.url, row.payload, row.at, row.at)
  }

  /**
   * Take up to `limit` pending deliveries to `url` that are due, oldest first, and hold them until `until`:
   * another deliverer on the store leaves them alone meanwhile, and a deliverer that dies mid-attempt lets
   * them come due again then.
   */
  claim(url: string, now: number, until: number, limit: number): WebhookDeliveryRow[] {
    const rows = this.db
      .prepare(
        `SELECT ${COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND url = ?
          ORDER BY next_attempt_at, id LIMIT ?`,
      )
      .all(now, url, limit) as WebhookDeliveryRow[]
    const hold = this.db.prepare('UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?')
    for (const row of rows) hold.run(until, row.id)
    return rows
  }

  delivered(id: number, attempts: number, at: number): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET status = 'delivered', attempts = ?, delivered_at = ?, last_error = NULL
          WHERE id = ?`,
      )
      .run(attempts, at, id)
  }

  /** A failed attempt: try again at `nextAt`, or (nextAt null) give up. */
  attemptFailed(id: number, attempts: number, error: string, nextAt: number | null): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = ?, last_error = ?, status = ?, next_attempt_at = coalesce(?, next_attempt_at)
          WHERE id = ?`,
      )
      .run(attempts, error, nextAt === null ? 'failed' : 'pending', nextAt, id)
  }

  /** An attempt cut short by the deliverer stopping: due again at once, the attempt not counted. */
  release(id: number, at: number): void {
    this.db
      .prepare(`UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'`)
      .run(at, id)
  }

  /** Give up the pending deliveries not to `url` (every one when null), saying why. Returns how many. */
  dropPending(keepUrl: string | null, reason: string): number {
    return this.db
      .prepare(
        `UPDATE webhook_deliveries SET status = 'failed', last_error = ?
          WHERE status = 'pending'${keepUrl === null ? '' : ' AND url <> ?'}`,
      )
      .run(reason, ...(keepUrl === null ? [] : [keepUrl])).changes
  }

  /** Forget finished deliveries created before `before`. */
  prune(before: number): number {
    return this.db
      .prepare(`DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?`)
      .run(before).changes
  }

  list(): WebhookDeliveryRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM webhook_deliveries ORDER BY id`)
      .all() as WebhookDeliveryRow[]
  }

  /** The signing secret, sealed (base64), if one was made. */
  sealedSecret(): string | undefined {
    return this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(SECRET) as string | undefined
  }

  setSealedSecret(sealed: string): void {
    this.#setMeta(SECRET, sealed)
  }

  /** Forget the secret and the cursor (webhooks turned off). */
  forget(): void {
    this.db.prepare('DELETE FROM meta WHERE key IN (?, ?)').run(SECRET, CURSOR)
  }

  #setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value)
  }
}
