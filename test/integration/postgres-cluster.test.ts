import { existsSync } from 'node:fs'
import postgres, { PostgresError, type Sql } from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PostgresCluster, startPostgres } from '../../src/testing/postgres.js'

/** Polls `check` until it holds, for at most `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A promise and the function that settles it, to hold one transaction at a point until another acts. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return { open, opened }
}

// The ground the PostgreSQL store will stand on: a real server of our own, row locks that make concurrent
// read-modify-writes exact, serializable conflicts that surface as 40001 for a retry, and LISTEN/NOTIFY
// between two connections (as between two `iron serve` replicas).
describe('a throwaway PostgreSQL cluster', () => {
  let cluster: PostgresCluster
  let sql: Sql

  beforeAll(async () => {
    cluster = await startPostgres()
    sql = postgres(cluster.url, { max: 4, onnotice: () => {}, connect_timeout: 5 })
  })
  afterAll(async () => {
    await sql?.end({ timeout: 1 })
    await cluster?.stop()
  })

  it('is PostgreSQL 15 or later', async () => {
    const [row] = await sql<{ server_version_num: string }[]>`show server_version_num`
    expect(Number(row?.server_version_num)).toBeGreaterThanOrEqual(150_000)
  })

  it('serializes two read-modify-write transactions on one row with SELECT … FOR UPDATE', async () => {
    await sql`create table budget (id int primary key, spent_micros bigint not null)`
    await sql`insert into budget values (1, 0)`
    const locked = gate()
    const release = gate()
    const charge = (micros: number, hold?: { locked: () => void; release: Promise<void> }) =>
      sql.begin(async (tx) => {
        const [row] = await tx<{ spent_micros: string }[]>`
          select spent_micros from budget where id = 1 for update`
        hold?.locked()
        await hold?.release
        await tx`update budget set spent_micros = ${Number(row!.spent_micros) + micros} where id = 1`
      })
    const first = charge(100, { locked: locked.open, release: release.opened })
    await locked.opened
    const second = charge(250)
    try {
      // The second must be waiting on the first's row lock, not merely running after it.
      await until('the second transaction to wait on the row lock', async () => {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like '%for update%'`
        return row?.n === 1
      })
    } finally {
      release.open()
    }
    await Promise.all([first, second])
    const [row] = await sql<{ spent_micros: string }[]>`select spent_micros from budget where id = 1`
    expect(Number(row?.spent_micros)).toBe(350)
  })

  it('fails one of two conflicting serializable transactions with 40001, and its retry succeeds', async () => {
    await sql`create table grants (agent text not null, micros bigint not null)`
    // Each grants only if the total stays within 100: write skew that only serializable isolation stops.
    const bothRead = { a: gate(), b: gate() }
    const aCommitted = gate()
    const grant = (mine: keyof typeof bothRead, attempt: { n: number }) =>
      sql.begin('isolation level serializable', async (tx) => {
        attempt.n++
        const [row] = await tx<{ total: number }[]>`select coalesce(sum(micros), 0)::int as total from grants`
        if (attempt.n === 1) {
          bothRead[mine].open()
          await Promise.all([bothRead.a.opened, bothRead.b.opened])
          if (mine === 'b') await aCommitted.opened
        }
        if (row!.total + 60 > 100) return false
        await tx`insert into grants values (${mine}, 60)`
        return true
      })
    const withRetry = async (mine: keyof typeof bothRead) => {
      const attempt = { n: 0 }
      for (;;) {
        try {
          return { granted: await grant(mine, attempt), attempts: attempt.n }
        } catch (error) {
          if (!(error instanceof PostgresError) || error.code !== '40001' || attempt.n >= 3) throw error
        }
      }
    }
    const a = withRetry('a').finally(aCommitted.open)
    const b = withRetry('b')
    const [ra, rb] = await Promise.all([a, b])
    expect(ra).toEqual({ granted: true, attempts: 1 })
    // b read before a committed, so its insert conflicts; on retry it sees a's grant and declines.
    expect(rb).toEqual({ granted: false, attempts: 2 })
    const [row] = await sql<{ total: number }[]>`select sum(micros)::int as total from grants`
    expect(row?.total).toBe(60)
  })

  it('delivers a NOTIFY from one connection to a LISTEN on another', async () => {
    const listener = postgres(cluster.url, { max: 1, onnotice: () => {} })
    const notifier = postgres(cluster.url, { max: 1, onnotice: () => {} })
    try {
      const received: string[] = []
      await listener.listen('iron_events', (payload) => received.push(payload))
      const payload = JSON.stringify({ type: 'budget.changed', agent: 'agent_01' })
      // Sent from inside a transaction, as a write and its event would be: delivered once it commits.
      await notifier.begin(async (tx) => {
        await tx`select pg_notify('iron_events', ${payload})`
      })
      await until('the notification', async () => received.length > 0)
      expect(received).toEqual([payload])
    } finally {
      await Promise.all([listener.end({ timeout: 1 }), notifier.end({ timeout: 1 })])
    }
  })

  it('stop() ends the server and removes its directory', async () => {
    await sql.end({ timeout: 1 })
    expect(existsSync(cluster.dir)).toBe(true)
    await cluster.stop()
    expect(existsSync(cluster.dir)).toBe(false)
    const after = postgres(cluster.url, { max: 1, connect_timeout: 2, onnotice: () => {} })
    await expect(after`select 1`).rejects.toThrow()
    await after.end({ timeout: 0 })
  })
})
