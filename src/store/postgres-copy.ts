import type { Sql, TransactionSql } from 'postgres'
import { IronError, usageError } from '../core/errors.js'
import { type AuditRow, chainHash, eventPayload, GENESIS_HASH } from './audit.js'
import type { SqliteDb as Db } from './db.js'

/**
 * Copying a SQLite store into a PostgreSQL database at the same schema version, and checking the copy there.
 * Both schemas have the same tables and columns at every version (test/integration/postgres-schema.test.ts).
 */

/**
 * Tables the migrations themselves fill (version 5 seeds one counter per cached domain). A freshly migrated
 * database holds these rows, so they do not make a target "not empty"; the copy replaces them with the
 * source's, after every other table (whose inserts bump the counters through triggers).
 */
export const SEEDED_BY_MIGRATIONS: readonly string[] = ['change_counters']

/** Rows per INSERT, and the most JSON text one INSERT carries (audit events and payloads can be large). */
const BATCH_ROWS = 1_000
const BATCH_CHARS = 4_000_000
/** Audit events read per round trip while the chain is recomputed on the target. */
const AUDIT_CURSOR_ROWS = 1_000

export interface SourceTable {
  name: string
  columns: string[]
  rows: number
}

export interface SourceSnapshot {
  /** Every table, parents before the tables whose foreign keys point at them, seeded tables last. */
  tables: SourceTable[]
  /** The head of the audit chain: the last event, or null when there is none. */
  auditHead: { seq: number; hash: string } | null
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`

/**
 * The source's tables and row counts. Call inside a read transaction on `db`, so that counts and the rows
 * copied after them are one snapshot even while gateways write to the file.
 */
export function readSource(db: Db): SourceSnapshot {
  const names = (
    db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[]
  ).filter((name) => !SEEDED_BY_MIGRATIONS.includes(name))
  const parents = new Map(
    names.map((name) => [
      name,
      new Set(
        (db.pragma(`foreign_key_list(${ident(name)})`) as { table: string }[])
          .map((fk) => fk.table)
          .filter((table) => table !== name),
      ),
    ]),
  )
  const ordered: string[] = []
  const placed = new Set<string>()
  while (ordered.length < names.length) {
    const ready = names.filter((n) => !placed.has(n) && [...parents.get(n)!].every((p) => placed.has(p)))
    if (ready.length === 0) throw new Error(`foreign keys form a cycle among ${names.join(', ')}`)
    for (const name of ready) {
      ordered.push(name)
      placed.add(name)
    }
  }
  const seeded = SEEDED_BY_MIGRATIONS.filter((name) =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name),
  )
  const tables = [...ordered, ...seeded].map((name) => ({
    name,
    columns: (db.pragma(`table_info(${ident(name)})`) as { name: string }[]).map((c) => c.name),
    rows: Number(
      db
        .prepare(`SELECT count(*) FROM ${ident(name)}`)
        .pluck()
        .get(),
    ),
  }))
  const head = db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as
    | { seq: number | bigint; hash: string }
    | undefined
  return { tables, auditHead: head ? { seq: Number(head.seq), hash: head.hash } : null }
}

interface TargetColumn {
  table: string
  column: string
  identity: boolean
}

/** The iron tables of the target (its current schema, without iron_schema), and their columns. */
async function targetColumns(sql: Sql | TransactionSql): Promise<TargetColumn[]> {
  const rows = await sql<{ table: string; column: string; identity: string }[]>`
    SELECT table_name AS table, column_name AS column, is_identity AS identity
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name <> 'iron_schema'
    ORDER BY table_name, ordinal_position`
  return rows.map((r) => ({ table: r.table, column: r.column, identity: r.identity === 'YES' }))
}

/**
 * Copy every table of the snapshot into the target in one transaction: all of it or nothing. A target whose
 * iron tables already hold rows (other than the seeded ones) is refused before anything is written
 * (STORE_NOT_EMPTY). Identity columns continue after the copied maximum.
 */
export async function copyTables(db: Db, sql: Sql, source: SourceSnapshot, label: string): Promise<void> {
  const columns = await targetColumns(sql)
  const targetTables = new Set(columns.map((c) => c.table))
  for (const table of source.tables) {
    const missing = table.columns.filter(
      (column) => !columns.some((c) => c.table === table.name && c.column === column),
    )
    if (!targetTables.has(table.name) || missing.length > 0) {
      throw new IronError(
        'STORE_SCHEMA_MISMATCH',
        `${label} has no ${missing.length > 0 ? `column(s) ${missing.join(', ')} in table ` : 'table '}${table.name}, which the SQLite store has at the same schema version`,
        { hint: 'The database was changed by hand; copy into a new, empty database' },
      )
    }
  }

  let current = ''
  try {
    await sql.begin('isolation level read committed', async (tx) => {
      // Nobody writes while the copy is checked and made; readers see nothing until it commits.
      await tx.unsafe(`LOCK TABLE ${source.tables.map((t) => ident(t.name)).join(', ')} IN EXCLUSIVE MODE`)
      const occupied: string[] = []
      for (const table of source.tables) {
        if (SEEDED_BY_MIGRATIONS.includes(table.name)) continue
        const [row] = await tx.unsafe<{ n: string }[]>(
          `SELECT count(*)::bigint AS n FROM ${ident(table.name)}`,
        )
        if (row && row.n !== '0') occupied.push(`${table.name}: ${row.n}`)
      }
      if (occupied.length > 0) {
        throw usageError(
          'STORE_NOT_EMPTY',
          `${label} already holds iron data (${occupied.join(', ')} rows); nothing was copied`,
          'Copy into a new database (createdb, or CREATE DATABASE as an admin), or drop this one first',
          { tables: Object.fromEntries(occupied.map((o) => o.split(': ') as [string, string])) },
        )
      }
      for (const table of source.tables) {
        current = table.name
        if (SEEDED_BY_MIGRATIONS.includes(table.name)) await tx.unsafe(`DELETE FROM ${ident(table.name)}`)
        await insertAll(db, tx, table)
      }
      current = ''
      for (const { table, column } of columns.filter((c) => c.identity)) {
        const [t, c] = [ident(table), ident(column)]
        await tx.unsafe(
          `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(${c}) FROM ${t}), 1),
            (SELECT max(${c}) FROM ${t}) IS NOT NULL)`,
          [t, column],
        )
      }
    })
  } catch (error) {
    if (error instanceof IronError) throw error
    const code = (error as { code?: string }).code
    throw new IronError(
      'STORE_COPY_FAILED',
      `Copying ${current ? `table ${current} ` : ''}into ${label} failed, and nothing was kept: ${(error as Error).message}`,
      {
        hint: 'Fix the cause and copy again; the database was left as it was before',
        cause: error,
        details: code ? { sqlstate: code } : undefined,
      },
    )
  }
}

/**
 * One table, in multi-row INSERTs: each batch is one JSON array that PostgreSQL turns into rows of the
 * table's own type (json_populate_recordset), so every value goes through its column's input function:
 * integers (read as BigInt, never rounded) to bigint or integer, text as it is, blobs as bytea hex.
 */
async function insertAll(db: Db, tx: TransactionSql, table: SourceTable): Promise<void> {
  const list = table.columns.map(ident).join(', ')
  const insert = `INSERT INTO ${ident(table.name)} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${ident(table.name)}, $1::text::json)`
  let batch: string[] = []
  let chars = 0
  const flush = async () => {
    if (batch.length === 0) return
    await tx.unsafe(insert, [`[${batch.join(',')}]`])
    batch = []
    chars = 0
  }
  const rows = db
    .prepare(`SELECT ${list} FROM ${ident(table.name)}`)
    .safeIntegers(true)
    .iterate() as IterableIterator<Record<string, unknown>>
  for (const row of rows) {
    // Before JSON.stringify, which would turn a Buffer into {type, data} before any replacer sees it.
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === 'bigint') row[key] = value.toString()
      else if (value instanceof Uint8Array) row[key] = `\\x${Buffer.from(value).toString('hex')}`
    }
    const text = JSON.stringify(row)
    batch.push(text)
    chars += text.length
    if (batch.length >= BATCH_ROWS || chars >= BATCH_CHARS) await flush()
  }
  await flush()
}

export interface CopyVerification {
  ok: boolean
  tables: number
  budgets: number
  audit_events: number
  /** The head of the chain on the target, as `iron audit verify` prints it: seq and hash. */
  audit_head: { seq: number; hash: string } | null
  /** What differs, one line each (empty when ok). */
  problems: string[]
}

/**
 * Check the target against the source's snapshot: the row count of every table, each budget's balances
 * against the sums of its ledger rows in its period (the rule of `iron budget check --verify`, summed by
 * PostgreSQL), and the audit chain recomputed from the target's rows in order, read through a cursor.
 */
export async function verifyCopy(sql: Sql, source: SourceSnapshot): Promise<CopyVerification> {
  const problems: string[] = []
  for (const table of source.tables) {
    const [row] = await sql.unsafe<{ n: string }[]>(`SELECT count(*)::bigint AS n FROM ${ident(table.name)}`)
    if (Number(row?.n) !== table.rows)
      problems.push(`table ${table.name}: ${row?.n} rows on the target, ${table.rows} in the source`)
  }

  const budgets = await sql<
    {
      agent_id: string
      name: string | null
      spent_micros: string
      reserved_micros: string
      leased_micros: string
      spent: string
      reserved: string
      leased: string
    }[]
  >`
    SELECT b.agent_id, (SELECT a.name FROM agents a WHERE a.id = b.agent_id) AS name,
      b.spent_micros, b.reserved_micros, b.leased_micros,
      coalesce(sum(l.spent_delta), 0)::bigint AS spent,
      coalesce(sum(l.reserved_delta), 0)::bigint AS reserved,
      coalesce(sum(l.leased_delta), 0)::bigint AS leased
    FROM budgets b
    LEFT JOIN ledger l ON l.agent_id = b.agent_id AND l.counted_at >= b.period_start
      AND (b.period_end IS NULL OR l.counted_at < b.period_end)
    GROUP BY b.agent_id, b.spent_micros, b.reserved_micros, b.leased_micros
    ORDER BY b.agent_id`
  for (const b of budgets) {
    for (const [name, balance, sum] of [
      ['spent', b.spent_micros, b.spent],
      ['reserved', b.reserved_micros, b.reserved],
      ['leased', b.leased_micros, b.leased],
    ] as const) {
      if (String(balance) !== String(sum))
        problems.push(
          `budget of agent ${b.name} (${b.agent_id}): ${name} balance ${balance} micro-USD but its ledger rows sum to ${sum}`,
        )
    }
  }

  const audit = await verifyAuditChain(sql)
  if (audit.problem) problems.push(audit.problem)
  const targetHead = audit.head
  if (!audit.problem && (targetHead?.seq ?? null) !== (source.auditHead?.seq ?? null))
    problems.push(
      `audit chain: the target's head is event ${targetHead?.seq ?? 'none'}, the source's ${source.auditHead?.seq ?? 'none'}`,
    )
  else if (!audit.problem && targetHead && targetHead.hash !== source.auditHead?.hash)
    problems.push(`audit chain: the target's head hash differs from the source's (event ${targetHead.seq})`)

  return {
    ok: problems.length === 0,
    tables: source.tables.length,
    budgets: budgets.length,
    audit_events: audit.events,
    audit_head: targetHead,
    problems,
  }
}

/**
 * The chain from the last checkpoint (or the start) to the head, as `iron audit verify` checks it: each
 * event follows the one before it and its hash covers its content. Checkpoint signatures need the master
 * key, which a copy never reads; they are copied bytes, counted with their table.
 */
async function verifyAuditChain(
  sql: Sql,
): Promise<{ events: number; head: { seq: number; hash: string } | null; problem?: string }> {
  const [checkpoint] = await sql<{ through_seq: string; head_hash: string }[]>`
    SELECT through_seq, head_hash FROM audit_checkpoints ORDER BY through_seq DESC LIMIT 1`
  // Filled in by the cursor's callback.
  const chain = {
    expectedSeq: Number(checkpoint?.through_seq ?? 0) + 1,
    expectedPrev: checkpoint?.head_hash ?? GENESIS_HASH,
    events: 0,
    head: null as { seq: number; hash: string } | null,
    problem: undefined as string | undefined,
  }
  /** bigint columns come back as strings. */
  type Row = Omit<AuditRow, 'seq' | 'at'> & { seq: string; at: string }
  await sql<Row[]>`
    SELECT seq, id, at, actor, action, resource_type, resource_id, agent_id, outcome, data, prev_hash, hash
    FROM audit_events ORDER BY seq`.cursor(AUDIT_CURSOR_ROWS, (rows) => {
    for (const raw of rows) {
      const row = { ...raw, seq: Number(raw.seq), at: Number(raw.at) }
      chain.events++
      if (!chain.problem) {
        let reason: string | undefined
        if (row.seq !== chain.expectedSeq)
          reason = row.seq > chain.expectedSeq ? 'events before it are missing' : 'it is out of order'
        else if (row.prev_hash !== chain.expectedPrev)
          reason = 'its prev_hash is not the hash of the event before it'
        else if (chainHash(row.prev_hash, eventPayload(row)) !== row.hash)
          reason = 'its content does not match its hash (the event was altered)'
        if (reason) chain.problem = `audit chain: event ${row.seq} (${row.id}): ${reason}`
      }
      chain.expectedSeq = row.seq + 1
      chain.expectedPrev = row.hash
      chain.head = { seq: row.seq, hash: row.hash }
    }
  })
  const { events, head, problem } = chain
  return { events, head, ...(problem ? { problem } : {}) }
}
