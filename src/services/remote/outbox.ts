import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import { IronError } from '../../core/errors.js'
import type { Statement } from '../../store/db.js'
import { holdExclusively } from '../../store/exclusive.js'
import type { ReportedEvent } from '../lease-protocol.js'

/** A lease the outbox reports on: where, for which agent, and what else than an IC token may report on it. */
export interface OutboxLease {
  lease_id: string
  server: string
  agent_id: string
  /** The report key of the runtime that took it (a secret scoped to this lease; never an IC token). */
  report_key: string | null
  runtime_id: string
  /** Set once the lease is to go back: what was drawn on it by this gateway's count. */
  return_spent: number | null
}

export interface PendingEvent {
  seq: number
  event: ReportedEvent
}

/** How many gateways may keep an outbox in one data dir at once (each holds its own file). */
const SLOTS = 64
const SCHEMA_VERSION = 1
/** About half of the server's 1 MiB body limit per report. */
const BATCH_BYTES = 512 * 1024

/**
 * The team gateway's own small store: the reports it has not yet delivered to the server, durable before
 * the request's answer ends, deleted when the server acknowledges them, replayed after an outage or a
 * crash. Each running gateway holds one file of the data dir's `gateway-outbox/` exclusively (SQLite's
 * exclusive locking mode: the lock ends with the process, whatever kills it), so a gateway that starts
 * takes over what a dead one left in its file and never what a live one is still sending.
 */
export class Outbox {
  readonly path: string
  readonly #db: Database.Database
  readonly #put: Statement
  readonly #batch: Statement
  readonly #ack: Statement
  readonly #count: Statement

  private constructor(path: string, db: Database.Database) {
    this.path = path
    this.#db = db
    this.#put = db.prepare(
      'INSERT OR IGNORE INTO events (lease_id, request_id, drawn_micros, body) VALUES (?, ?, ?, ?)',
    )
    this.#batch = db.prepare('SELECT seq, body FROM events WHERE lease_id = ? ORDER BY seq LIMIT ?')
    this.#ack = db.prepare('DELETE FROM events WHERE lease_id = ? AND seq <= ?')
    this.#count = db.prepare('SELECT COUNT(*) FROM events').pluck()
  }

  /** The first outbox file of `dir` no running gateway holds (created if need be). */
  static open(dir: string): Outbox {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (let slot = 1; slot <= SLOTS; slot++) {
      const path = join(dir, `outbox-${slot}.db`)
      let db: Database.Database | undefined
      try {
        db = holdExclusively(path)
      } catch (error) {
        throw outboxError(path, error)
      }
      if (!db) continue
      try {
        chmodSync(path, 0o600)
        db.pragma('synchronous = NORMAL')
        migrate(db)
      } catch (error) {
        db.close()
        throw outboxError(path, error)
      }
      return new Outbox(path, db)
    }
    throw new IronError(
      'OUTBOX_BUSY',
      `Every outbox file in ${dir} is held by a running gateway (${SLOTS})`,
      {
        hint: 'Stop a gateway, or give this one a data dir of its own (IRON_DATA_DIR)',
      },
    )
  }

  /** Keep a lease's particulars, so that its reports can be sent after a restart too. */
  rememberLease(lease: Omit<OutboxLease, 'return_spent'>): void {
    this.#db
      .prepare(
        `INSERT INTO leases (lease_id, server, agent_id, report_key, runtime_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (lease_id) DO UPDATE SET report_key = excluded.report_key, runtime_id = excluded.runtime_id`,
      )
      .run(lease.lease_id, lease.server, lease.agent_id, lease.report_key, lease.runtime_id)
  }

  /** The lease is to go back once its reports are delivered (`spent`: what this gateway drew on it). */
  markReturn(leaseId: string, spent: number): void {
    this.#db.prepare('UPDATE leases SET return_spent = ? WHERE lease_id = ?').run(spent, leaseId)
  }

  /** Forget a lease that went back and has nothing left to report. */
  dropLease(leaseId: string): void {
    this.#db
      .prepare(
        'DELETE FROM leases WHERE lease_id = ? AND NOT EXISTS (SELECT 1 FROM events WHERE lease_id = ?)',
      )
      .run(leaseId, leaseId)
  }

  leases(): OutboxLease[] {
    return this.#db.prepare('SELECT * FROM leases ORDER BY rowid').all() as OutboxLease[]
  }

  /**
   * One request's report, written before its answer ends (one statement: durable against a crash of the
   * process once it returns). A request id already there is left as it is: each request is reported once.
   */
  put(leaseId: string, event: ReportedEvent, drawn: number): void {
    this.#put.run(leaseId, event.request_id, drawn, JSON.stringify(event))
  }

  /**
   * The oldest reports of a lease, in the order they were written: at most `max` of them and about
   * `maxBytes` of JSON (at least one), so that a batch stays well within what the server reads.
   */
  batch(leaseId: string, max: number, maxBytes = BATCH_BYTES): PendingEvent[] {
    const rows = this.#batch.all(leaseId, max) as Array<{ seq: number; body: string }>
    const batch: PendingEvent[] = []
    let bytes = 0
    for (const row of rows) {
      bytes += row.body.length
      if (batch.length > 0 && bytes > maxBytes) break
      batch.push({ seq: row.seq, event: JSON.parse(row.body) as ReportedEvent })
    }
    return batch
  }

  /** The server has the reports of a lease up to `seq`: they go. */
  acknowledge(leaseId: string, seq: number): void {
    this.#ack.run(leaseId, seq)
  }

  /** A report the server will not take as it is: moved out of the way (kept, never sent again). */
  setAside(leaseId: string, seq: number, reason: string): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          'INSERT OR REPLACE INTO refused (seq, lease_id, request_id, body, reason, at) SELECT seq, lease_id, request_id, body, ?, ? FROM events WHERE lease_id = ? AND seq = ?',
        )
        .run(reason, Date.now(), leaseId, seq)
      this.#db.prepare('DELETE FROM events WHERE lease_id = ? AND seq = ?').run(leaseId, seq)
    })()
  }

  /** Reports set aside (refused by the server). */
  get refused(): number {
    return this.#db.prepare('SELECT COUNT(*) FROM refused').pluck().get() as number
  }

  /** Leases with reports waiting, and how many each. */
  pendingByLease(): Map<string, number> {
    const rows = this.#db
      .prepare('SELECT lease_id, COUNT(*) AS n FROM events GROUP BY lease_id')
      .all() as Array<{ lease_id: string; n: number }>
    return new Map(rows.map((r) => [r.lease_id, r.n]))
  }

  /** What the reports waiting for a lease drew on it. */
  drawnPending(leaseId: string): number {
    return (
      (this.#db
        .prepare('SELECT COALESCE(SUM(drawn_micros), 0) FROM events WHERE lease_id = ?')
        .pluck()
        .get(leaseId) as number) ?? 0
    )
  }

  /** Reports waiting, in all. */
  get size(): number {
    return this.#count.get() as number
  }

  close(): void {
    if (this.#db.open) this.#db.close()
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `it was written by a newer iron (outbox schema ${version}; this iron knows ${SCHEMA_VERSION})`,
    )
  }
  if (version === SCHEMA_VERSION) return
  db.exec(`
    BEGIN;
    CREATE TABLE IF NOT EXISTS leases (
      lease_id TEXT PRIMARY KEY,
      server TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      report_key TEXT,
      runtime_id TEXT NOT NULL,
      return_spent INTEGER
    ) STRICT;
    CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY,
      lease_id TEXT NOT NULL,
      request_id TEXT NOT NULL UNIQUE,
      drawn_micros INTEGER NOT NULL,
      body TEXT NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS events_by_lease ON events (lease_id, seq);
    -- Reports the server refused as they are (never accepted however often sent): kept for a person to see.
    CREATE TABLE IF NOT EXISTS refused (
      seq INTEGER PRIMARY KEY,
      lease_id TEXT NOT NULL,
      request_id TEXT NOT NULL,
      body TEXT NOT NULL,
      reason TEXT NOT NULL,
      at INTEGER NOT NULL
    ) STRICT;
    PRAGMA user_version = ${SCHEMA_VERSION};
    COMMIT;
  `)
}

function outboxError(path: string, error: unknown): IronError {
  return new IronError(
    'OUTBOX_UNAVAILABLE',
    `Cannot open the gateway's outbox ${path}: ${(error as Error).message}`,
    {
      hint: 'Check that the data dir is writable (IRON_DATA_DIR); move the file aside only once its reports are no longer needed',
      cause: error,
    },
  )
}
