import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/migrations.js'
import { SEEDED_BY_MIGRATIONS } from '../../src/store/postgres-copy.js'
import { migratePostgres } from '../../src/store/postgres-migrate.js'
import { freePort, type PostgresCluster, startPostgres } from '../../src/testing/postgres.js'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const STACK = /\bat .*\.js:\d+/
const PROVIDER_KEY = 'sk-live-copy-test-0123456789abcdef'
const PASSWORD = 'correct horse battery staple'
const json = (result: CliResult) => JSON.parse(result.stdout)

// One throwaway cluster for the file; each test copies into a database of its own. The cluster trusts its
// `iron` role, so the password in the URLs is never asked for: it is there to check no output shows it.
let cluster: PostgresCluster
let home: string
let env: Record<string, string>
let source: string
let port: string
const iron = (args: string[], input?: string) => runIron(args, { env, input })
const urlOf = (database: string) => `postgres://iron:hunter2@127.0.0.1:${port}/${database}`
const noSecret = (result: CliResult) => {
  expect(result.stdout + result.stderr).not.toContain('hunter2')
  expect(result.stdout + result.stderr).not.toContain(PROVIDER_KEY)
}

async function createDatabase(name: string): Promise<void> {
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
}

async function withDatabase<T>(name: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(cluster.url.replace(/\/postgres$/, `/${name}`), { max: 1, onnotice: () => {} })
  try {
    return await fn(sql)
  } finally {
    await sql.end()
  }
}

/** Row counts of every table of a SQLite store. */
function sqliteCounts(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true })
  try {
    const names = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[]
    return Object.fromEntries(
      names.map((n) => [n, db.prepare(`SELECT count(*) FROM "${n}"`).pluck().get() as number]),
    )
  } finally {
    db.close()
  }
}

/** Row counts of every iron table of a PostgreSQL database, and its change counters. */
async function postgresState(sql: postgres.Sql) {
  const names = (
    await sql<{ name: string }[]>`
      SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'iron_schema'
      ORDER BY 1`
  ).map((r) => r.name)
  const counts: Record<string, number> = {}
  for (const n of names) {
    const [row] = await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM "${n}"`)
    counts[n] = Number(row!.n)
  }
  const counters = await sql`SELECT domain, version FROM change_counters ORDER BY domain`
  return { counts, counters: counters.map((r) => `${r.domain}=${r.version}`) }
}

beforeAll(async () => {
  cluster = await startPostgres()
  port = new URL(cluster.url).port
  home = tempDir('iron-e2e-copy')
  source = join(home, 'team.db')
  env = { ...homeEnv(home), IRON_DB: source, PROVIDER_KEY }
  // A team's store, made as a team makes it: agents, budgets with spend in the ledger, tokens, a provider
  // with an encrypted key, users and an API token; each of these is an audit event too.
  for (const [args, input] of [
    [['init']],
    [['agents', 'create', 'bot']],
    [['agents', 'create', 'helper']],
    [['budget', 'set', 'bot', '--limit', '5']],
    [['budget', 'set', 'helper', '--limit', '20', '--period', 'monthly']],
    [['budget', 'adjust', 'bot', '--amount', '1.25', '--reason', 'usage billed outside iron']],
    [['budget', 'adjust', 'bot', '--amount=-0.05', '--reason', 'provider refund']],
    [['budget', 'adjust', 'helper', '--amount', '3.5', '--reason', 'batch API usage']],
    [['tokens', 'issue', 'bot']],
    [['tokens', 'issue', 'helper']],
    [['providers', 'add', 'openai', '--kind', 'openai', '--api-key-env', 'PROVIDER_KEY']],
    [['users', 'create', 'ada', '--admin', '--password-stdin'], `${PASSWORD}\n`],
    [['users', 'create', 'bob', '--no-password']],
  ] as [string[], string?][]) {
    const result = await iron(args, input)
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
  }
}, 120_000)

afterAll(async () => {
  await cluster?.stop()
})

describe('iron db copy (spawned, against a real PostgreSQL)', () => {
  it('copies every table in one go, verifies it on the target, and never prints the password', async () => {
    await createDatabase('team')
    const copy = await iron(['db', 'copy', '--from', source, '--to', urlOf('team')])
    noSecret(copy)
    expect(copy.code, copy.stderr).toBe(0)
    const counts = sqliteCounts(source)
    expect(counts.agents).toBe(2)
    expect(counts.ledger).toBeGreaterThanOrEqual(3)
    expect(counts.audit_events).toBeGreaterThanOrEqual(10)
    const lines = copy.stdout.split('\n')
    expect(lines[0]).toMatch(
      new RegExp(
        `^Copied ${source} \\(schema v${LATEST_SCHEMA_VERSION}\\) to PostgreSQL \\d+\\.\\d+ at 127\\.0\\.0\\.1:${port}/team$`,
      ),
    )
    expect(lines[1]).toBe('TABLE\tROWS')
    for (const [table, rows] of Object.entries(counts)) expect(lines).toContain(`${table}\t${rows}`)
    // Parents before the tables that point at them.
    expect(lines.indexOf(`agents\t2`)).toBeLessThan(lines.findIndex((l) => l.startsWith('ledger\t')))
    expect(copy.stdout).toMatch(
      new RegExp(
        `✓ verified: ${Object.keys(counts).length} tables, ledger balances of 2 budgets, audit chain of ${counts.audit_events} events \\(head ${counts.audit_events}:[0-9a-f]{12}\\)\\n$`,
      ),
    )

    await withDatabase('team', async (sql) => {
      const state = await postgresState(sql)
      expect(state.counts).toEqual(counts)
      // The seeded counters are the source's, not the source's bumped again by the copy's inserts.
      const db = new Database(source, { readonly: true })
      try {
        const counters = db.prepare('SELECT domain, version FROM change_counters ORDER BY domain').all() as {
          domain: string
          version: number
        }[]
        expect(state.counters).toEqual(counters.map((r) => `${r.domain}=${r.version}`))
        // Secrets are the same bytes: the sealed key, the token hashes.
        const sealed = db.prepare('SELECT sealed_key FROM providers').pluck().get() as Buffer
        const [provider] = await sql<{ sealed_key: Buffer }[]>`SELECT sealed_key FROM providers`
        expect(Buffer.compare(provider!.sealed_key, sealed)).toBe(0)
        const hashes = db.prepare('SELECT token_hash FROM ic_tokens ORDER BY id').pluck().all()
        expect((await sql`SELECT token_hash FROM ic_tokens ORDER BY id`).map((r) => r.token_hash)).toEqual(
          hashes,
        )
        const maxSeq = db.prepare('SELECT max(seq) FROM ledger').pluck().get() as number
        // The identity continues after the copied rows.
        const [next] = await sql<{ seq: string }[]>`
          SELECT nextval(pg_get_serial_sequence('ledger', 'seq')) AS seq`
        expect(Number(next!.seq)).toBe(maxSeq + 1)
      } finally {
        db.close()
      }
    })

    // A second copy into the same database is refused, and changes nothing there.
    const before = await withDatabase('team', postgresState)
    const again = await iron(['db', 'copy', '--from', source, '--to', urlOf('team')])
    noSecret(again)
    expect(again.code).toBe(2)
    expect(again.stdout).toBe('')
    expect(again.stderr).toMatch(
      new RegExp(
        `^Error \\(STORE_NOT_EMPTY\\): the PostgreSQL database 127\\.0\\.0\\.1:${port}/team already holds iron data \\(agents: 2, .*rows\\); nothing was copied\\n`,
      ),
    )
    expect(again.stderr).not.toMatch(STACK)
    expect(await withDatabase('team', postgresState)).toEqual(before)
    const againJson = await iron(['db', 'copy', '--from', source, '--to', urlOf('team'), '--json'])
    expect(againJson.code).toBe(2)
    expect(json(againJson).error).toMatchObject({ code: 'STORE_NOT_EMPTY', exit_code: 2 })
  })

  it('--json gives the same as an object', async () => {
    await createDatabase('asjson')
    const copy = await iron(['db', 'copy', '--from', source, '--to', urlOf('asjson'), '--json'])
    noSecret(copy)
    expect(copy.code, copy.stderr).toBe(0)
    const counts = sqliteCounts(source)
    const result = json(copy)
    expect(result).toEqual({
      from: source,
      to: `127.0.0.1:${port}/asjson`,
      version: expect.stringMatching(/^\d+\.\d+/),
      schema: LATEST_SCHEMA_VERSION,
      tables: expect.any(Array),
      verified: {
        ok: true,
        tables: Object.keys(counts).length,
        budgets: 2,
        audit_events: counts.audit_events,
        audit_head: { seq: counts.audit_events, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        problems: [],
      },
    })
    expect(
      Object.fromEntries(result.tables.map((t: { name: string; rows: number }) => [t.name, t.rows])),
    ).toEqual(counts)
    expect(result.tables.at(-1).name).toBe('change_counters')
    // The head is the source's, as `iron audit verify` prints it.
    const verify = await iron(['audit', 'verify', '--json'])
    expect(json(verify).head).toEqual(result.verified.audit_head)
  })

  it('only the seeded tables hold rows in a freshly migrated database', async () => {
    await createDatabase('fresh')
    await withDatabase('fresh', async (sql) => {
      await migratePostgres(sql)
      const { counts } = await postgresState(sql)
      expect(Object.keys(counts).filter((t) => counts[t]! > 0)).toEqual([...SEEDED_BY_MIGRATIONS])
    })
  })

  it('exits 1 and says what differs when the copy does not verify (a corrupted source)', async () => {
    const corrupt = join(home, 'corrupt.db')
    const original = new Database(source, { readonly: true })
    await original.backup(corrupt)
    original.close()
    const db = new Database(corrupt)
    try {
      db.exec('DROP TRIGGER audit_events_no_update')
      db.prepare("UPDATE audit_events SET actor = 'local:mallory' WHERE seq = 3").run()
      db.prepare(
        "UPDATE budgets SET spent_micros = spent_micros + 1 WHERE agent_id = (SELECT id FROM agents WHERE name = 'bot')",
      ).run()
    } finally {
      db.close()
    }
    await createDatabase('corrupt')
    const copy = await iron(['db', 'copy', '--from', corrupt, '--to', urlOf('corrupt')])
    noSecret(copy)
    expect(copy.code).toBe(1)
    expect(copy.stdout).toContain('✗ the copy does not match the source:')
    expect(copy.stdout).toMatch(
      /✗ budget of agent bot \(agent_\w+\): spent balance 1200001 micro-USD but its ledger rows sum to 1200000\n/,
    )
    expect(copy.stdout).toMatch(/✗ audit chain: event 3 \(aud_\w+\): its content does not match its hash/)
    expect(copy.stdout).not.toContain('verified:')
    await createDatabase('corrupt2')
    const asJson = await iron(['db', 'copy', '--from', corrupt, '--to', urlOf('corrupt2'), '--json'])
    expect(asJson.code).toBe(1)
    expect(json(asJson).verified).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^budget of agent /), expect.stringMatching(/^audit chain: event 3 /)],
    })
  })

  it('refuses a source at an older schema, saying to migrate it first', async () => {
    const old = join(home, 'old.db')
    openDb(old, { migrations: MIGRATIONS.slice(0, -1) }).close()
    await createDatabase('old')
    const copy = await iron(['db', 'copy', '--from', old, '--to', urlOf('old')])
    noSecret(copy)
    expect(copy.code).toBe(2)
    expect(copy.stderr).toBe(
      `Error (STORE_NOT_CURRENT): ${old} is at schema v${LATEST_SCHEMA_VERSION - 1}; this iron copies stores at v${LATEST_SCHEMA_VERSION}\n` +
        `Try this: Run: iron db migrate --db ${old}, then copy again\n`,
    )
    // Nothing was done to the target: not even migrated.
    await withDatabase('old', async (sql) => {
      expect(await sql`SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`).toEqual([])
    })
  })

  it('refuses a source whose dead gateway left answered requests in its journal until an iron command writes them', async () => {
    const left = join(home, 'left.db')
    openDb(left).close()
    mkdirSync(`${left}.pending`, { recursive: true })
    // What a killed gateway left: a request of an agent this store does not have (it cannot be written).
    const entry = {
      draw: {
        reservation_id: 'req_01kbz0000000000000000000aa',
        agent_id: 'agt_gone',
        lease_id: null,
        actual_micros: 5,
      },
      record: { id: 'req_01kbz0000000000000000000aa', agent_id: 'agt_gone' },
    }
    writeFileSync(join(`${left}.pending`, 'slot-1.log'), `${JSON.stringify(entry)}\n`)
    await createDatabase('leftover')
    const copy = await iron(['db', 'copy', '--from', left, '--to', urlOf('leftover')])
    noSecret(copy)
    expect(copy.code).toBe(2)
    expect(copy.stderr).toBe(
      `Error (STORE_PENDING): 1 request a gateway answered before it stopped is not yet in ${left}\n` +
        `Try this: Run any iron command on it first (e.g. iron audit verify --db ${left}), then copy again\n`,
    )
    const verify = await iron(['audit', 'verify', '--db', left])
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stderr).toContain(
      'req_01kbz0000000000000000000aa, left by a gateway that stopped, cannot be written',
    )
    const again = await iron(['db', 'copy', '--from', left, '--to', urlOf('leftover'), '--json'])
    expect(again.code, again.stderr).toBe(0)
  })

  it('says an unreachable target is unreachable, without a stack or the password', async () => {
    const down = `postgresql://iron:hunter2@127.0.0.1:${await freePort()}/iron`
    const copy = await iron(['db', 'copy', '--from', source, '--to', down])
    noSecret(copy)
    expect(copy.code).toBe(1)
    expect(copy.stderr).toMatch(
      /^Error \(STORE_UNREACHABLE\): Cannot reach the PostgreSQL database 127\.0\.0\.1:\d+\/iron: connection refused/,
    )
    expect(copy.stderr).toContain('postgresql://iron@127.0.0.1:')
    expect(copy.stderr).not.toMatch(STACK)

    const notPostgres = await iron(['db', 'copy', '--from', source, '--to', join(home, 'other.db'), '--json'])
    expect(notPostgres.code).toBe(2)
    expect(json(notPostgres).error.code).toBe('COPY_TARGET_INVALID')
  })
})
