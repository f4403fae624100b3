import { rmSync } from 'node:fs'
import { join } from 'node:path'
import postgres, { type Sql } from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { type Db, openDb } from '../../src/store/db.js'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/migrations.js'
import { migratePostgres, postgresSchemaVersion } from '../../src/store/postgres-migrate.js'
import { type PostgresCluster, startPostgres } from '../../src/testing/postgres.js'
import { tempDir } from '../helpers/temp.js'

// The PostgreSQL text of each version against its SQLite text: the same tables, columns (in order), types
// under the mapping below, nullability, defaults, keys, foreign keys, CHECK counts, index names and
// shapes, and triggers, at every version; and the same rows refused, for the same reason, with the same
// trigger effects.

/** SQLite INTEGER columns that hold 0/1 flags: `integer` on PostgreSQL (every other INTEGER is `bigint`). */
const FLAGS = new Set(['providers.last_test_ok', 'ledger.cost_known', 'remote_leases.metered_only'])
/** SQLite rowid aliases whose value the store gives when an insert leaves it out: identity columns. */
const IDENTITY = new Set(['ledger.seq', 'webhook_deliveries.id'])
/** PostgreSQL's TRUNCATE skips row triggers: these refuse it on the append-only tables (SQLite has none). */
const POSTGRES_ONLY_TRIGGERS = new Set([
  'audit_events.audit_events_no_truncate',
  'audit_checkpoints.audit_checkpoints_no_truncate',
])

function postgresType(table: string, column: string, sqliteType: string): string {
  switch (sqliteType) {
    case 'INTEGER':
      return FLAGS.has(`${table}.${column}`) ? 'integer' : 'bigint'
    case 'TEXT':
      return 'text'
    case 'REAL':
      return 'double precision'
    case 'BLOB':
      return 'bytea'
    default:
      throw new Error(`${table}.${column}: no PostgreSQL type for SQLite ${sqliteType}`)
  }
}

interface Column {
  name: string
  type: string
  notNull: boolean
  default: string | null
  identity: boolean
}
interface Table {
  columns: Column[]
  primaryKey: string[]
  unique: string[]
  foreignKeys: string[]
  checks: number
}
interface Index {
  table: string
  unique: boolean
  partial: boolean
  /** Column names; null for an expression. */
  columns: (string | null)[]
}
interface Schema {
  tables: Record<string, Table>
  indexes: Record<string, Index>
  triggers: string[]
}

/** `'[]'::text` → `'[]'`, as SQLite reports defaults. */
const normalDefault = (value: string | null) => (value === null ? null : value.replace(/::[a-z ]+$/, ''))

function sqliteSchema(db: Db): Schema {
  const tables: Record<string, Table> = {}
  const indexes: Record<string, Index> = {}
  const master = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .all() as { name: string; sql: string }[]
  for (const { name: table, sql } of master) {
    const info = db.pragma(`table_info(${table})`) as {
      name: string
      type: string
      notnull: number
      dflt_value: string | null
      pk: number
    }[]
    const withoutRowid = /WITHOUT ROWID/i.test(sql)
    const pkColumns = info.filter((c) => c.pk > 0)
    const columns = info.map((c) => {
      const identity = IDENTITY.has(`${table}.${c.name}`)
      if (identity) {
        // Only a rowid alias gets its value from the store when left out.
        expect(c.type === 'INTEGER' && pkColumns.length === 1 && c.pk === 1 && !withoutRowid).toBe(true)
      }
      return {
        name: c.name,
        type: postgresType(table, c.name, c.type),
        // SQLite's table_info leaves out the NOT NULL a primary key implies (in STRICT and WITHOUT ROWID tables).
        notNull: c.notnull === 1 || c.pk > 0,
        default: c.dflt_value,
        identity,
      }
    })
    const list = db.pragma(`index_list(${table})`) as {
      name: string
      unique: number
      origin: string
      partial: number
    }[]
    const keyColumns = (index: string) =>
      (db.pragma(`index_xinfo(${index})`) as { key: number; name: string | null; seqno: number }[])
        .filter((c) => c.key === 1)
        .sort((a, b) => a.seqno - b.seqno)
        .map((c) => c.name)
    const unique = list
      .filter((i) => i.origin === 'u')
      .map((i) => keyColumns(i.name).join(','))
      .sort()
    for (const index of list.filter((i) => i.origin === 'c')) {
      indexes[index.name] = {
        table,
        unique: index.unique === 1,
        partial: index.partial === 1,
        columns: keyColumns(index.name),
      }
    }
    const foreignKeys = (
      db.pragma(`foreign_key_list(${table})`) as { from: string; table: string; to: string }[]
    )
      .map((f) => `${f.from} → ${f.table}.${f.to}`)
      .sort()
    tables[table] = {
      columns,
      primaryKey: pkColumns.sort((a, b) => a.pk - b.pk).map((c) => c.name),
      unique,
      foreignKeys,
      checks: sql.match(/\bCHECK\s*\(/gi)?.length ?? 0,
    }
  }
  const triggers = (
    db
      .prepare("SELECT tbl_name || '.' || name AS t FROM sqlite_master WHERE type = 'trigger'")
      .pluck()
      .all() as string[]
  ).sort()
  return { tables, indexes: sortKeys(indexes), triggers }
}

async function postgresSchema(sql: Sql): Promise<Schema> {
  const tables: Record<string, Table> = {}
  const names = await sql<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'iron_schema'
    ORDER BY table_name`
  for (const { name } of names)
    tables[name] = { columns: [], primaryKey: [], unique: [], foreignKeys: [], checks: 0 }
  const columns = await sql<
    {
      table: string
      name: string
      type: string
      nullable: string
      default: string | null
      identity: string
    }[]
  >`
    SELECT table_name AS table, column_name AS name, data_type AS type, is_nullable AS nullable,
           column_default AS default, is_identity AS identity
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name <> 'iron_schema'
    ORDER BY table_name, ordinal_position`
  for (const c of columns) {
    tables[c.table]?.columns.push({
      name: c.name,
      type: c.type,
      notNull: c.nullable === 'NO',
      default: normalDefault(c.default),
      identity: c.identity === 'YES',
    })
  }
  const constraints = await sql<
    { table: string; type: string; columns: string[]; ref_table: string | null; ref_columns: string[] }[]
  >`
    SELECT t.relname AS table, k.contype AS type,
      ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o)::text[] AS columns,
      r.relname AS ref_table,
      ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o)
            JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o)::text[] AS ref_columns
    FROM pg_constraint k
    JOIN pg_class t ON t.oid = k.conrelid
    LEFT JOIN pg_class r ON r.oid = k.confrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> 'iron_schema'`
  for (const k of constraints) {
    const table = tables[k.table]!
    if (k.type === 'p') table.primaryKey = k.columns
    else if (k.type === 'u') table.unique.push(k.columns.join(','))
    else if (k.type === 'c') table.checks++
    else if (k.type === 'f')
      table.foreignKeys.push(`${k.columns.join(',')} → ${k.ref_table}.${k.ref_columns.join(',')}`)
    else throw new Error(`unexpected constraint type ${k.type} on ${k.table}`)
  }
  for (const table of Object.values(tables)) {
    table.unique.sort()
    table.foreignKeys.sort()
  }
  const indexes: Record<string, Index> = {}
  const rows = await sql<
    { name: string; table: string; unique: boolean; partial: boolean; columns: (string | null)[] }[]
  >`
    SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique, x.indpred IS NOT NULL AS partial,
      ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS u(n, o)
            LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n ORDER BY u.o)::text[] AS columns
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> 'iron_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                      WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u'))`
  for (const r of rows)
    indexes[r.name] = { table: r.table, unique: r.unique, partial: r.partial, columns: r.columns }
  const triggers = await sql<{ t: string }[]>`
    SELECT c.relname || '.' || g.tgname AS t FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
    WHERE NOT g.tgisinternal AND c.relnamespace = current_schema()::regnamespace`
  return {
    tables,
    indexes: sortKeys(indexes),
    triggers: triggers
      .map((r) => r.t)
      .filter((t) => !POSTGRES_ONLY_TRIGGERS.has(t))
      .sort(),
  }
}

const sortKeys = <T>(record: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))

describe('the PostgreSQL schema', () => {
  let cluster: PostgresCluster
  let admin: Sql
  let root: string
  let databases = 0
  const clients: Sql[] = []

  beforeAll(async () => {
    cluster = await startPostgres()
    admin = postgres(cluster.url, { max: 2, onnotice: () => {}, connect_timeout: 5 })
    root = tempDir('iron-pg-schema')
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((sql) => sql.end({ timeout: 1 })))
  })
  afterAll(async () => {
    await admin?.end({ timeout: 1 })
    await cluster?.stop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  /** A new, empty database; `connect()` opens a client of its own on it (closed after the test). */
  async function freshDatabase() {
    const name = `iron_${++databases}`
    await admin.unsafe(`CREATE DATABASE ${name}`)
    const url = cluster.url.replace(/\/postgres$/, `/${name}`)
    return {
      connect: (max = 4) => {
        const sql = postgres(url, { max, onnotice: () => {}, connect_timeout: 5 })
        clients.push(sql)
        return sql
      },
    }
  }

  /** A fresh SQLite store with the first `version` migrations, as iron opens it. */
  function sqliteStore(version = LATEST_SCHEMA_VERSION): Db {
    return openDb(join(root, `v${version}-${++databases}.db`), { migrations: MIGRATIONS.slice(0, version) })
  }

  function sqliteExpected(version = LATEST_SCHEMA_VERSION): Schema {
    const db = sqliteStore(version)
    try {
      return sqliteSchema(db)
    } finally {
      db.close()
    }
  }

  it('migrates a fresh database to the latest version, table by table as a fresh SQLite store', async () => {
    const sql = (await freshDatabase()).connect()
    expect(await postgresSchemaVersion(sql)).toBe(0)
    const result = await migratePostgres(sql)
    expect(result).toEqual({
      from: 0,
      to: LATEST_SCHEMA_VERSION,
      applied: MIGRATIONS.map((m) => m.version),
    })
    expect(await postgresSchemaVersion(sql)).toBe(LATEST_SCHEMA_VERSION)
    const expected = sqliteExpected()
    expect(Object.keys(expected.tables).length).toBeGreaterThan(20)
    expect(Object.keys(expected.indexes).length).toBeGreaterThan(15)
    expect(expected.triggers.length).toBeGreaterThan(15)
    const actual = await postgresSchema(sql)
    // Table by table first, for a readable failure; then the whole.
    expect(Object.keys(actual.tables)).toEqual(Object.keys(expected.tables))
    for (const table of Object.keys(expected.tables))
      expect(actual.tables[table], table).toEqual(expected.tables[table])
    expect(actual).toEqual(expected)
    const recorded = await sql<{ version: number; name: string; applied_at: string }[]>`
      SELECT version, name, applied_at FROM iron_schema ORDER BY version`
    expect(recorded.map((r) => [r.version, r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]))
    for (const r of recorded) expect(Math.abs(Number(r.applied_at) - Date.now())).toBeLessThan(60_000)
  })

  it('migrating again changes nothing', async () => {
    const sql = (await freshDatabase()).connect()
    await migratePostgres(sql)
    const schema = await postgresSchema(sql)
    const recorded = await sql`SELECT * FROM iron_schema ORDER BY version`
    const counters = await sql`SELECT * FROM change_counters ORDER BY domain`
    expect(await migratePostgres(sql)).toEqual({
      from: LATEST_SCHEMA_VERSION,
      to: LATEST_SCHEMA_VERSION,
      applied: [],
    })
    expect(await migratePostgres(sql, { target: 3 })).toEqual({
      from: LATEST_SCHEMA_VERSION,
      to: LATEST_SCHEMA_VERSION,
      applied: [],
    })
    expect(await postgresSchema(sql)).toEqual(schema)
    expect(await sql`SELECT * FROM iron_schema ORDER BY version`).toEqual(recorded)
    expect(await sql`SELECT * FROM change_counters ORDER BY domain`).toEqual(counters)
  })

  it('several processes migrating at once apply each version once', async () => {
    const database = await freshDatabase()
    const replicas = [database.connect(), database.connect(), database.connect(), database.connect()]
    const results = await Promise.all(replicas.map((sql) => migratePostgres(sql)))
    const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b)
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version))
    for (const r of results) expect(r.to).toBe(LATEST_SCHEMA_VERSION)
    const sql = replicas[0]!
    const rows = await sql<{ version: number }[]>`SELECT version FROM iron_schema ORDER BY version`
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
    // Version 5 seeds the change counters: seeded once.
    const [seeded] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM change_counters`
    expect(Number(seeded!.n)).toBe(6)
    expect(await postgresSchema(sql)).toEqual(sqliteExpected())
  })

  it('migrated version by version, matches SQLite at every version', async () => {
    const sql = (await freshDatabase()).connect()
    for (const { version } of MIGRATIONS) {
      const result = await migratePostgres(sql, { target: version })
      expect(result).toEqual({ from: version - 1, to: version, applied: [version] })
      expect(await postgresSchemaVersion(sql)).toBe(version)
      expect(await postgresSchema(sql), `v${version}`).toEqual(sqliteExpected(version))
    }
  })

  it('refuses a database migrated by a newer iron, and leaves it untouched', async () => {
    const sql = (await freshDatabase()).connect()
    await migratePostgres(sql, { target: 4 })
    const newer = LATEST_SCHEMA_VERSION + 1
    await sql`INSERT INTO iron_schema (version, name, applied_at) VALUES (${newer}, 'from the future', 1)`
    const schema = await postgresSchema(sql)
    const error = await migratePostgres(sql).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(IronError)
    expect(error).toMatchObject({ code: 'STORE_TOO_NEW' })
    const message = (error as IronError).message
    expect(message).toContain(`schema v${newer}`)
    expect(message).toContain(`knows up to v${LATEST_SCHEMA_VERSION}`)
    expect(message).toMatch(/PostgreSQL database 127\.0\.0\.1:\d+\/iron_\d+/)
    expect((error as IronError).hint).toMatch(/Upgrade iron/)
    await expect(migratePostgres(sql, { target: 2 })).rejects.toMatchObject({ code: 'STORE_TOO_NEW' })
    expect(await postgresSchemaVersion(sql)).toBe(newer)
    expect(await postgresSchema(sql)).toEqual(schema)
  })

  it('rolls back a failing version whole and keeps the ones before it; refuses an unknown target', async () => {
    const sql = (await freshDatabase()).connect()
    const broken = [
      ...MIGRATIONS.slice(0, 2),
      { version: 3, name: 'broken', postgres: 'CREATE TABLE half (x bigint); SELECT * FROM missing_table;' },
    ]
    await expect(migratePostgres(sql, { migrations: broken })).rejects.toMatchObject({
      code: 'STORE_MIGRATION_FAILED',
      message: expect.stringMatching(/to schema v3 \(broken\) failed: .*missing_table/),
    })
    expect(await postgresSchemaVersion(sql)).toBe(2)
    const [half] = await sql<{ found: boolean }[]>`SELECT to_regclass('half') IS NOT NULL AS found`
    expect(half!.found).toBe(false)
    await expect(migratePostgres(sql, { target: LATEST_SCHEMA_VERSION + 1 })).rejects.toMatchObject({
      code: 'SCHEMA_VERSION_UNKNOWN',
    })
  })

  it('refuses what SQLite refuses (CHECK, UNIQUE, foreign keys, NOT NULL, append-only), with the same trigger effects', async () => {
    const sql = (await freshDatabase()).connect()
    await migratePostgres(sql)
    const db = sqliteStore()
    type Outcome = 'ok' | 'check' | 'unique' | 'foreign key' | 'not null' | 'trigger'
    const agent = (id: string, name: string, extra = '', values = '') =>
      `INSERT INTO agents (id, name, status, created_at, updated_at${extra}) VALUES ('${id}', '${name}', 'active', 1, 1${values})`
    const token = (id: string, agentId: string, hash: string, kind = 'agent') =>
      `INSERT INTO ic_tokens (id, agent_id, token_hash, prefix, created_at, kind) VALUES ('${id}', '${agentId}', '${hash}', 'p', 1, '${kind}')`
    const budget = (agentId: string, limit: string) =>
      `INSERT INTO budgets (agent_id, limit_micros, period, on_insufficient, period_start, created_at, updated_at) VALUES ('${agentId}', ${limit}, 'daily', 'reject', 0, 1, 1)`
    const ledger = (kind: string, reservation: string, lease = 'NULL', agentId = 'a1') =>
      `INSERT INTO ledger (agent_id, kind, reservation_id, lease_id, counted_at, at) VALUES ('${agentId}', '${kind}', '${reservation}', ${lease}, 1, 1)`
    const lease = (id: string, runtime: string, meteredOnly: number, closeReason = 'NULL') =>
      `INSERT INTO remote_leases (lease_id, agent_id, token_id, runtime_id, runtime_version, metered_only, counted_at, created_at, renewed_at, expires_at, close_reason) VALUES ('${id}', 'a1', 't1', '${runtime}', '1', ${meteredOnly}, 1, 1, 1, 9, ${closeReason})`
    const event = (seq: number, id: string) =>
      `INSERT INTO audit_events (seq, id, at, actor, action, outcome, data, prev_hash, hash) VALUES (${seq}, '${id}', 1, 'me', 'x.y', 'success', '{"b":1,"a":2}', 'p', 'h')`
    const steps: [string, Outcome][] = [
      [agent('a1', 'alpha'), 'ok'],
      [
        "INSERT INTO agents (id, name, status, created_at, updated_at) VALUES ('a2', 'beta', 'paused', 1, 1)",
        'check',
      ],
      [agent('a2', 'alpha'), 'unique'],
      [agent('a3', 'alpha', ', deleted_at', ', 2'), 'ok'],
      [agent('a4', 'delta', ', rpm_limit', ', 0'), 'check'],
      ["INSERT INTO agents (id, name, status, created_at) VALUES ('a5', 'eps', 'active', 1)", 'not null'],
      [agent('a1', 'again'), 'unique'],
      ["UPDATE agents SET description = 'first' WHERE id = 'a1'", 'ok'],
      [token('t1', 'a1', 'h1'), 'ok'],
      [token('t2', 'nobody', 'h2'), 'foreign key'],
      [token('t3', 'a3', 'h1', 'run'), 'unique'],
      [token('t4', 'a1', 'h4'), 'unique'],
      [token('t5', 'a1', 'h5', 'run'), 'ok'],
      [token('t6', 'a1', 'h6', 'other'), 'check'],
      ["UPDATE ic_tokens SET last_used_at = 5 WHERE id = 't1'", 'ok'],
      ["UPDATE ic_tokens SET revoked_at = 6 WHERE id = 't1'", 'ok'],
      [token('t4', 'a1', 'h4'), 'ok'],
      [budget('a1', '100'), 'ok'],
      [budget('a3', '-1'), 'check'],
      [budget('nobody', '1'), 'foreign key'],
      ["UPDATE budgets SET spent_micros = 10, reserved_micros = 5 WHERE agent_id = 'a1'", 'ok'],
      ["UPDATE budgets SET limit_micros = 200 WHERE agent_id = 'a1'", 'ok'],
      ["UPDATE budgets SET limit_micros = NULL WHERE agent_id = 'a1'", 'ok'],
      ["UPDATE budgets SET period = 'hourly' WHERE agent_id = 'a1'", 'check'],
      [ledger('reserve', 'r1'), 'ok'],
      [ledger('lease_grant', 'r1'), 'unique'],
      [ledger('commit', 'r1'), 'ok'],
      [ledger('release', 'r1'), 'unique'],
      [ledger('commit', 'r1', "'l1'"), 'ok'],
      [ledger('commit', 'r1', "'l1'"), 'ok'],
      [ledger('refund', 'r2'), 'check'],
      [ledger('reserve', 'r3', 'NULL', 'nobody'), 'foreign key'],
      [ledger('reserve', 'r4'), 'ok'],
      [
        "INSERT INTO providers (id, name, kind, created_at, updated_at) VALUES ('p1', 'openai', 'openai', 1, 1)",
        'ok',
      ],
      [
        "INSERT INTO providers (id, name, kind, created_at, updated_at) VALUES ('p2', 'openai', 'mock', 1, 1)",
        'unique',
      ],
      [
        "INSERT INTO providers (id, name, kind, created_at, updated_at) VALUES ('p3', 'x', 'bogus', 1, 1)",
        'check',
      ],
      ["UPDATE providers SET last_test_ok = 1, last_test_at = 2 WHERE id = 'p1'", 'ok'],
      [
        "INSERT INTO price_overrides (model, provider, kind, input_micros_per_mtok, output_micros_per_mtok, max_output_tokens, context_window, updated_at) VALUES ('m', 'openai', 'chat', 1, 2, 10, 100, 1)",
        'ok',
      ],
      [
        "INSERT INTO price_overrides (model, provider, kind, input_micros_per_mtok, output_micros_per_mtok, max_output_tokens, context_window, updated_at) VALUES ('n', 'openai', 'chat', 1, 2, 0, 100, 1)",
        'check',
      ],
      ["UPDATE price_overrides SET input_micros_per_mtok = 3 WHERE model = 'm'", 'ok'],
      ["DELETE FROM price_overrides WHERE model = 'm'", 'ok'],
      ["INSERT INTO meta (key, value) VALUES ('k', 'v')", 'ok'],
      ["UPDATE meta SET value = 'w' WHERE key = 'k'", 'ok'],
      ["INSERT INTO meta (key, value) VALUES ('k', 'again')", 'unique'],
      [
        "INSERT INTO holders (holder, kind, host, pid, started_at, renewed_at, expires_at) VALUES ('g1', 'gateway', 'h', 1, 1, 1, 2)",
        'ok',
      ],
      [
        "INSERT INTO holders (holder, kind, host, pid, started_at, renewed_at, expires_at) VALUES ('g2', 'daemon', 'h', 1, 1, 1, 2)",
        'check',
      ],
      ["UPDATE holders SET ended_at = 3, end_reason = 'crashed' WHERE holder = 'g1'", 'check'],
      [
        "INSERT INTO lease_holds (lease_id, agent_id, holder, held_micros, updated_at) VALUES ('l1', 'a1', 'g1', -1, 1)",
        'check',
      ],
      [lease('rl1', 'rt1', 2), 'check'],
      [lease('rl1', 'rt1', 1), 'ok'],
      [lease('rl2', 'rt1', 0), 'unique'],
      [lease('rl3', 'rt2', 0, "'nope'"), 'check'],
      [lease('rl3', 'rt2', 0, "'returned'"), 'ok'],
      ["UPDATE remote_leases SET drawn_micros = NULL WHERE lease_id = 'rl1'", 'not null'],
      ["INSERT INTO remote_lease_tokens (lease_id, token_id) VALUES ('rl1', 't1')", 'ok'],
      ["INSERT INTO remote_lease_tokens (lease_id, token_id) VALUES ('rl1', 't1')", 'unique'],
      ["INSERT INTO reported_requests (request_id, lease_id, reported_at) VALUES ('q1', 'rl1', 1)", 'ok'],
      ["INSERT INTO reported_requests (request_id, lease_id, reported_at) VALUES ('q1', 'rl1', 2)", 'unique'],
      [
        "INSERT INTO users (id, name, role, status, created_at, updated_at) VALUES ('u1', 'ann', 'root', 'active', 1, 1)",
        'check',
      ],
      [
        "INSERT INTO users (id, name, role, status, created_at, updated_at) VALUES ('u1', 'ann', 'admin', 'active', 1, 1)",
        'ok',
      ],
      [
        "INSERT INTO sessions (id, user_id, token_hash, prefix, created_at, expires_at) VALUES ('s1', 'nobody', 'sh', 'p', 1, 2)",
        'foreign key',
      ],
      [
        "INSERT INTO api_tokens (id, user_id, name, role, token_hash, prefix, created_at) VALUES ('k1', 'u1', 'ci', 'owner', 'kh', 'p', 1)",
        'check',
      ],
      [
        "INSERT INTO budget_requests (id, agent_id, requested_by, reason, status, created_at) VALUES ('b1', 'a1', 'u1', 'more', 'open', 1)",
        'check',
      ],
      ["INSERT INTO rate_limits (key, tat_ms) VALUES ('ip:1', 5)", 'ok'],
      ["INSERT INTO rate_limits (key, tat_ms) VALUES ('ip:1', 6)", 'unique'],
      [
        "INSERT INTO webhook_deliveries (event_id, url, payload, status, next_attempt_at, created_at) VALUES ('e1', 'u', '{}', 'pending', 1, 1)",
        'ok',
      ],
      [
        "INSERT INTO webhook_deliveries (event_id, url, payload, status, next_attempt_at, created_at) VALUES ('e2', 'u', '{}', 'sent', 1, 1)",
        'check',
      ],
      [event(1, 'ev1'), 'ok'],
      [event(2, 'ev2'), 'ok'],
      [event(3, 'ev1'), 'unique'],
      [event(2, 'ev3'), 'unique'],
      ["UPDATE audit_events SET outcome = 'failure' WHERE seq = 1", 'trigger'],
      ['DELETE FROM audit_events WHERE seq = 1', 'trigger'],
      ['INSERT INTO audit_prune_window (through_seq) VALUES (1)', 'ok'],
      ['DELETE FROM audit_events WHERE seq = 1', 'ok'],
      ['DELETE FROM audit_events WHERE seq = 2', 'trigger'],
      ['DELETE FROM audit_prune_window', 'ok'],
      [
        "INSERT INTO audit_checkpoints (through_seq, head_hash, pruned, created_at, actor, signature) VALUES (1, 'h', 1, 1, 'me', 's')",
        'ok',
      ],
      ["UPDATE audit_checkpoints SET signature = 'forged'", 'trigger'],
      ['DELETE FROM audit_checkpoints', 'trigger'],
    ]
    const sqliteOutcome = (text: string): Outcome => {
      try {
        db.exec(text)
        return 'ok'
      } catch (error) {
        const code = String((error as { code?: string }).code)
        if (code === 'SQLITE_CONSTRAINT_CHECK') return 'check'
        if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique'
        if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign key'
        if (code === 'SQLITE_CONSTRAINT_NOTNULL') return 'not null'
        if (code === 'SQLITE_CONSTRAINT_TRIGGER') return 'trigger'
        throw error
      }
    }
    const postgresOutcome = async (text: string): Promise<Outcome> => {
      try {
        await sql.unsafe(text)
        return 'ok'
      } catch (error) {
        const code = String((error as { code?: string }).code)
        if (code === '23514') return 'check'
        if (code === '23505') return 'unique'
        if (code === '23503') return 'foreign key'
        if (code === '23502') return 'not null'
        if (code === 'P0001') return 'trigger'
        throw error
      }
    }
    const outcomes: [string, Outcome, Outcome, Outcome][] = []
    for (const [text, expected] of steps)
      outcomes.push([text, expected, sqliteOutcome(text), await postgresOutcome(text)])
    // Each step: what was expected, what SQLite did, what PostgreSQL did.
    expect(outcomes.filter(([, want, lite, pg]) => lite !== want || pg !== want)).toEqual([])

    // The same rows in both, change counters included (the triggers bumped them alike). Identity values are
    // left out: PostgreSQL spends one on a refused insert, SQLite's rowid does not.
    const identity = new Map([...IDENTITY].map((c) => c.split('.') as [string, string]))
    const text = (value: unknown) =>
      value === null ? null : Buffer.isBuffer(value) ? value.toString('hex') : String(value)
    for (const table of Object.keys(sqliteSchema(db).tables)) {
      const skip = identity.get(table)
      const strip = (rows: Record<string, unknown>[]) =>
        rows
          .map((row) => Object.entries(row).filter(([column]) => column !== skip))
          .map((entries) => entries.map(([column, value]) => `${column}=${text(value)}`).join(' '))
          .sort()
      const lite = strip(db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[])
      const pg = strip(await sql.unsafe(`SELECT * FROM ${table}`))
      expect(pg, table).toEqual(lite)
    }
    const counters = db.prepare('SELECT domain, version FROM change_counters ORDER BY domain').all()
    expect(counters).toEqual([
      { domain: 'agents', version: 3 },
      { domain: 'budgets', version: 3 },
      { domain: 'prices', version: 3 },
      { domain: 'providers', version: 2 },
      { domain: 'settings', version: 2 },
      { domain: 'tokens', version: 4 },
    ])
    // The audit data is the text as written, not JSON reordered.
    const [data] = await sql<{ data: string }[]>`SELECT data FROM audit_events WHERE seq = 2`
    expect(data!.data).toBe('{"b":1,"a":2}')
    // TRUNCATE, which SQLite does not have, does not get around the append-only rule either.
    await expect(sql`TRUNCATE audit_events`).rejects.toMatchObject({ code: 'P0001' })
    await expect(sql`TRUNCATE audit_checkpoints`).rejects.toMatchObject({ code: 'P0001' })
    db.close()
  })
})
