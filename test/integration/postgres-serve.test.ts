import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from '../../src/server/server.js'
import type { LocalContext } from '../../src/services/context.js'
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations.js'
import { type PostgresCluster, startMigratedPostgres } from '../../src/testing/postgres.js'
import { tempContext } from '../helpers/temp.js'

// Two iron serve replicas (in this process) on one PostgreSQL: what one commits reaches the other's event
// stream through NOTIFY, long before its poll (set to a minute here) would read it.

const PASSWORD = 'replica events password'
let pg: PostgresCluster
const contexts: LocalContext[] = []
const servers: RunningServer[] = []

beforeAll(async () => {
  pg = await startMigratedPostgres()
  const key = Buffer.alloc(32, 3).toString('base64url')
  for (let i = 0; i < 2; i++) {
    const { ctx } = await tempContext({ IRON_DB: pg.url, IRON_MASTER_KEY: key })
    contexts.push(ctx)
    servers.push(
      await startServer({
        ctx,
        host: '127.0.0.1',
        port: 0,
        version: '0.0.0-test',
        drainMs: 100,
        events: { pollMs: 60_000 },
        log: () => {},
      }),
    )
  }
  await servers[0]!.cp.users.create({ name: 'admin', role: 'admin', password: PASSWORD })
})

afterAll(async () => {
  for (const s of servers) await s.close()
  for (const c of contexts) c.close()
  await pg?.stop()
})

describe('iron serve on PostgreSQL', () => {
  it('says in /api/health that its store is PostgreSQL, at the current schema', async () => {
    const health = await (await fetch(`${servers[1]!.url}/api/health`)).json()
    expect(health).toMatchObject({ status: 'ok', store: 'postgresql', schema_version: LATEST_SCHEMA_VERSION })
  })

  it("a session from one replica holds on the other; a change made on one reaches the other's event stream at once (LISTEN/NOTIFY)", async () => {
    // Signed in on replica A (the session is in the database), following A's events.
    const { token } = await servers[0]!.cp.auth.login({
      name: 'admin',
      password: PASSWORD,
      ip: '127.0.0.1',
      user_agent: 'test',
    })
    // The session is the database's: replica B knows it too.
    const me = await fetch(`${servers[1]!.url}/api/v1/auth/me`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ role: 'admin', via: 'session' })
    const abort = new AbortController()
    const response = await fetch(`${servers[0]!.url}/api/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    })
    expect(response.status).toBe(200)
    let text = ''
    const reading = (async () => {
      const decoder = new TextDecoder()
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>)
          text += decoder.decode(chunk, { stream: true })
      } catch {
        // Aborted at the end of the test.
      }
    })()
    // The change is made on replica B.
    const started = Date.now()
    await servers[1]!.cp.agents.create({ name: 'made-on-b' })
    while (!text.includes('made-on-b') && Date.now() - started < 20_000)
      await new Promise((r) => setTimeout(r, 20))
    abort.abort()
    await reading
    // Within 20 s, while A's poll (one minute) has not read the trail: NOTIFY woke it.
    expect(text).toContain('made-on-b')
  })

  it('failed sign-ins on one replica count on the other: the account locks across replicas', async () => {
    await servers[1]!.cp.users.create({ name: 'bob', role: 'user', password: 'bob the right password' })
    // Two wrong passwords on each replica, then the fifth: the account's count is the database's.
    for (let i = 0; i < 5; i++) {
      const replica = servers[i % 2]!
      await expect(
        replica.cp.auth.login({ name: 'bob', password: 'wrong', ip: `10.0.0.${i}`, user_agent: 'test' }),
      ).rejects.toMatchObject({ code: i < 4 ? 'INVALID_CREDENTIALS' : 'ACCOUNT_LOCKED' })
    }
    // Even the right password is refused now, on either replica: by the lock, or by the per-account limit on
    // attempts (5 a minute), both kept in the database.
    await expect(
      servers[1]!.cp.auth.login({
        name: 'bob',
        password: 'bob the right password',
        ip: '10.0.0.9',
        user_agent: 'test',
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^(ACCOUNT_LOCKED|RATE_LIMITED)$/) })
  })
})
