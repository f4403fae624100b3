import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations.js'
import { freePort, type PostgresCluster, startPostgres } from '../../src/testing/postgres.js'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { spawnListening } from '../helpers/spawned-gateway.js'
import { tempDir } from '../helpers/temp.js'

let home: string
let env: Record<string, string>
const iron = (args: string[], extra: Record<string, string | undefined> = {}) =>
  runIron(args, { env: { ...env, ...extra } })
const json = (result: CliResult) => JSON.parse(result.stdout)
const ALL_VERSIONS = Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1)
const STACK = /\bat .*\.js:\d+/

beforeEach(() => {
  home = tempDir('iron-e2e')
  env = homeEnv(home)
})

describe('iron db migrate on a SQLite store', () => {
  it('creates and migrates the file, then finds nothing to apply', async () => {
    const path = join(home, 'team.db')
    const first = await iron(['db', 'migrate', '--db', path, '--json'])
    expect(first.code).toBe(0)
    expect(json(first)).toEqual({
      store: 'sqlite',
      location: path,
      version: expect.stringMatching(/^3\.\d+\.\d+$/),
      from: 0,
      to: LATEST_SCHEMA_VERSION,
      applied: ALL_VERSIONS,
    })
    expect(existsSync(path)).toBe(true)

    const again = await iron(['db', 'migrate', '--db', path])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(
      new RegExp(
        `^SQLite 3\\.\\d+\\.\\d+ at ${path}: schema v${LATEST_SCHEMA_VERSION} \\(current, nothing to apply\\)\\n$`,
      ),
    )
  })
})

// Against a real PostgreSQL of our own. The cluster trusts its `iron` role, so the password in these URLs is
// never asked for: it is there to check that no output shows it.
describe('iron db migrate and doctor on a PostgreSQL store', () => {
  let cluster: PostgresCluster
  let url: string
  let safeUrl: string
  let label: string

  beforeAll(async () => {
    cluster = await startPostgres()
    const { port } = new URL(cluster.url)
    url = `postgres://iron:hunter2@127.0.0.1:${port}/postgres`
    safeUrl = `postgres://iron@127.0.0.1:${port}/postgres`
    label = `127.0.0.1:${port}/postgres`
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  const noSecret = (result: CliResult) => expect(result.stdout + result.stderr).not.toContain('hunter2')

  it('doctor says an empty database is not migrated, and what to run', async () => {
    const doctor = await iron(['doctor', '--db', url, '--json'])
    noSecret(doctor)
    expect(doctor.code).toBe(1)
    const store = json(doctor).checks.find((c: { name: string }) => c.name === 'store')
    expect(store).toEqual({
      name: 'store',
      status: 'fail',
      detail: expect.stringMatching(
        new RegExp(
          `^PostgreSQL \\d+\\.\\d+ at ${label}, schema v0 \\(v${LATEST_SCHEMA_VERSION} is current; not migrated\\)$`,
        ),
      ),
      hint: `Run: iron db migrate --db ${safeUrl}`,
    })
  })

  it('migrates from v0 to the latest version, then has nothing to apply; doctor then passes', async () => {
    const first = await iron(['db', 'migrate', '--db', url, '--json'])
    noSecret(first)
    expect(first.code).toBe(0)
    expect(json(first)).toEqual({
      store: 'postgresql',
      location: label,
      version: expect.stringMatching(/^\d+\.\d+/),
      from: 0,
      to: LATEST_SCHEMA_VERSION,
      applied: ALL_VERSIONS,
    })

    // From IRON_DB this time, without --db.
    const again = await iron(['db', 'migrate'], { IRON_DB: url })
    noSecret(again)
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(
      new RegExp(
        `^PostgreSQL \\d+\\.\\d+ at ${label}: schema v${LATEST_SCHEMA_VERSION} \\(current, nothing to apply\\)\\n$`,
      ),
    )
    const asJson = await iron(['db', 'migrate', '--db', url, '--json'])
    expect(json(asJson)).toMatchObject({
      from: LATEST_SCHEMA_VERSION,
      to: LATEST_SCHEMA_VERSION,
      applied: [],
    })

    const doctor = await iron(['doctor', '--db', url, '--json'])
    noSecret(doctor)
    expect(doctor.code).toBe(0)
    const result = json(doctor)
    expect(result.ok).toBe(true)
    expect(result.checks.find((c: { name: string }) => c.name === 'store')).toEqual({
      name: 'store',
      status: 'ok',
      detail: expect.stringMatching(
        new RegExp(`^PostgreSQL \\d+\\.\\d+ at ${label}, schema v${LATEST_SCHEMA_VERSION} \\(current\\)$`),
      ),
    })
    // The master key is checked against the database (none yet: iron init makes it); no agents yet; no
    // check looked for a file named after the URL.
    expect(result.checks.find((c: { name: string }) => c.name === 'master key')).toEqual({
      name: 'master key',
      status: 'warn',
      detail: 'Not created yet',
      hint: 'Run: iron init',
    })
    expect(result.checks.map((c: { name: string }) => c.name)).not.toContain('agents')
    expect(JSON.stringify(result)).not.toContain('does not exist')

    const human = await iron(['doctor', '--db', url])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/✓ store: PostgreSQL \d+\.\d+ at /)
    expect(human.stdout).toMatch(/master key: Not created yet/)
  })

  it('refuses a database migrated by a newer iron, and leaves it as it is', async () => {
    const admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe('CREATE DATABASE newer')
      const newer = postgres(cluster.url.replace(/\/postgres$/, '/newer'), { max: 1, onnotice: () => {} })
      try {
        await newer.unsafe(
          'CREATE TABLE iron_schema (version integer PRIMARY KEY, name text, applied_at bigint)',
        )
        await newer`INSERT INTO iron_schema VALUES (${LATEST_SCHEMA_VERSION + 1}, 'future', 0)`
      } finally {
        await newer.end()
      }
    } finally {
      await admin.end()
    }
    const newerUrl = url.replace(/\/postgres$/, '/newer')
    const migrate = await iron(['db', 'migrate', '--db', newerUrl, '--json'])
    noSecret(migrate)
    expect(migrate.code).toBe(1)
    expect(json(migrate).error).toMatchObject({ code: 'STORE_TOO_NEW', exit_code: 1 })
    const check = postgres(cluster.url.replace(/\/postgres$/, '/newer'), { max: 1, onnotice: () => {} })
    try {
      const tables = await check<{ name: string }[]>`
        SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`
      expect(tables.map((t) => t.name)).toEqual(['iron_schema'])
    } finally {
      await check.end()
    }

    // iron serve (and any command) refuses it too, before listening.
    const serve = await iron(['serve', '--db', newerUrl, '--port', '0', '--json'])
    noSecret(serve)
    expect(serve.code).toBe(1)
    expect(json(serve).error).toMatchObject({ code: 'STORE_TOO_NEW', exit_code: 1 })

    const doctor = await iron(['doctor', '--db', newerUrl, '--json'])
    expect(doctor.code).toBe(1)
    expect(json(doctor).checks.find((c: { name: string }) => c.name === 'store')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`schema v${LATEST_SCHEMA_VERSION + 1}: migrated by a newer iron`),
    })
  })

  it('says a database that cannot be reached is unreachable, with a hint, exit 1 and no stack', async () => {
    const port = await freePort()
    const down = `postgresql://iron:hunter2@127.0.0.1:${port}/iron`
    const migrate = await iron(['db', 'migrate', '--db', down])
    noSecret(migrate)
    expect(migrate.code).toBe(1)
    expect(migrate.stderr).toBe(
      `Error (STORE_UNREACHABLE): Cannot reach the PostgreSQL database 127.0.0.1:${port}/iron: connection refused (nothing listens on that port)\n` +
        `Try this: Check that PostgreSQL is running there and the URL is right (--db or IRON_DB: postgresql://iron@127.0.0.1:${port}/iron)\n`,
    )
    expect(migrate.stderr).not.toMatch(STACK)

    const asJson = await iron(['db', 'migrate', '--db', down, '--json'])
    expect(asJson.code).toBe(1)
    expect(json(asJson).error).toMatchObject({ code: 'STORE_UNREACHABLE', exit_code: 1 })

    const doctor = await iron(['doctor', '--db', down])
    noSecret(doctor)
    expect(doctor.code).toBe(1)
    expect(doctor.stdout).toContain(`✗ store: Cannot reach the PostgreSQL database 127.0.0.1:${port}/iron`)
    expect(doctor.stdout).not.toMatch(STACK)
  })

  it('commands run on a migrated PostgreSQL store; a local gateway refuses it in one line; no file is named after it', async () => {
    // The database was migrated by the tests above; init fills in the master key (in this home's vault).
    const init = await iron(['init', '--db', url, '--json'])
    noSecret(init)
    expect(init.code).toBe(0)
    expect(json(init).store).toEqual({ path: safeUrl, created: false, schema_version: LATEST_SCHEMA_VERSION })
    for (const extra of [{ args: ['--db', url] }, { args: [], env: { IRON_DB: url } }]) {
      const list = await iron(['providers', 'list', '--json', ...extra.args], extra.env)
      noSecret(list)
      expect(list.code).toBe(0)
    }
    const add = await iron(['providers', 'add', 'mock', '--kind', 'mock', '--json'], { IRON_DB: url })
    expect(add.code).toBe(0)
    const create = await iron(['agents', 'create', 'on-pg', '--provider', 'mock', '--json'], { IRON_DB: url })
    expect(create.code).toBe(0)
    const list = await iron(['agents', 'list', '--json', '--db', url])
    expect(json(list).map((a: { name: string }) => a.name)).toContain('on-pg')
    // doctor now finds the master key iron init made, the one the database's provider keys are sealed under.
    const doctor = await iron(['doctor', '--db', url, '--json'])
    expect(json(doctor).checks.find((c: { name: string }) => c.name === 'master key')).toMatchObject({
      status: 'ok',
    })
    // The rows are in PostgreSQL, read by another client.
    const check = postgres(cluster.url, { max: 1, onnotice: () => {} })
    try {
      expect(await check`SELECT name FROM agents WHERE name = 'on-pg'`).toHaveLength(1)
    } finally {
      await check.end()
    }

    for (const args of [
      ['gateway', 'start', '--db', url],
      ['gateway', 'status', '--db', url],
    ]) {
      const refused = await iron(args)
      noSecret(refused)
      expect(refused.code).toBe(2)
      expect(refused.stderr.split('\n')[0]).toBe(
        `Error (STORE_UNSUPPORTED): A local gateway runs on the embedded SQLite store (its file and journal); ${safeUrl} is PostgreSQL`,
      )
      expect(refused.stderr).not.toMatch(STACK)
    }
    expect(existsSync(join(process.cwd(), 'postgres:'))).toBe(false)
    expect(readdirSync(home).sort()).not.toContain('data')
  })

  it('a command on a database that cannot be reached says so, exit 1 and no stack', async () => {
    const port = await freePort()
    const down = `postgresql://iron:hunter2@127.0.0.1:${port}/iron`
    const list = await iron(['agents', 'list', '--db', down])
    noSecret(list)
    expect(list.code).toBe(1)
    expect(list.stderr.split('\n')[0]).toBe(
      `Error (STORE_UNREACHABLE): Cannot reach the PostgreSQL database postgresql://iron@127.0.0.1:${port}/iron: connection refused (nothing listens on that port)`,
    )
    expect(list.stderr).not.toMatch(STACK)
  })

  it('iron serve refuses a database it has not migrated; with --migrate it migrates it, then serves on it', async () => {
    const admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe('CREATE DATABASE serving')
    } finally {
      await admin.end()
    }
    const servingUrl = url.replace(/\/postgres$/, '/serving')
    const refused = await iron(['serve', '--db', servingUrl, '--port', '0'])
    noSecret(refused)
    expect(refused.code).toBe(1)
    expect(refused.stderr.split('\n')[0]).toBe(
      `Error (STORE_NOT_MIGRATED): The PostgreSQL database ${safeUrl.replace(/\/postgres$/, '/serving')} is at schema v0; this iron needs v${LATEST_SCHEMA_VERSION}`,
    )
    expect(refused.stderr).not.toMatch(STACK)

    const serving = await spawnListening(
      ['serve', '--db', servingUrl, '--migrate', '--port', '0', '--init-admin-from-env'],
      {
        ...env,
        IRON_ADMIN_NAME: 'admin',
        IRON_ADMIN_PASSWORD: 'an admin password',
      },
    )
    try {
      expect(serving.stderr()).toContain(
        `Migrated ${label.replace(/\/postgres$/, '/serving')} to schema v${LATEST_SCHEMA_VERSION}`,
      )
      expect(serving.stderr()).not.toContain('hunter2')
      const health = await (await fetch(`${serving.url}/api/health`)).json()
      expect(health).toMatchObject({
        status: 'ok',
        store: 'postgresql',
        schema_version: LATEST_SCHEMA_VERSION,
      })
    } finally {
      serving.child.kill('SIGTERM')
      await serving.exited
    }
  })

  it('config set, get and list show a database URL without its password', async () => {
    const withSecret = 'postgresql://iron:hunter2@db.internal:5432/iron?sslmode=require'
    const set = await iron(['config', 'set', 'db', withSecret, '--json'])
    expect(set.code).toBe(0)
    for (const result of [
      set,
      await iron(['config', 'set', 'db', withSecret]),
      await iron(['config', 'get', 'db']),
      await iron(['config', 'get', 'db', '--json']),
      await iron(['config', 'list']),
      await iron(['config', 'list', '--json']),
      await iron(['config', 'get', 'db'], { IRON_DB: withSecret }),
    ]) {
      const printed = `${result.stdout}${result.stderr}`
      expect(printed).not.toContain('hunter2')
      expect(printed).toContain('postgresql://iron@db.internal:5432/iron?sslmode=require')
    }
  })
})
