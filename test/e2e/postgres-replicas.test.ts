import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { encodeMasterKey, MASTER_KEY_ENV } from '../../src/config/master-key.js'
import { MemoryVault } from '../../src/config/vault.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { freePort, type PostgresCluster, startMigratedPostgres } from '../../src/testing/postgres.js'
import { homeEnv, runIron } from '../helpers/cli.js'
import { UPSTREAM_KEY } from '../helpers/gateway.js'
import { type SpawnedIron, spawnListening, waitUntil } from '../helpers/spawned-gateway.js'
import { costOf, PRICE, startTeamGateway } from '../helpers/team.js'
import { tempDir, tempDirs } from '../helpers/temp.js'

// Issue 15: several `iron serve` replicas (the real binary) on one PostgreSQL behind a load balancer, team
// gateways leasing from them under load, one replica killed with SIGKILL in the middle.

const ADMIN_PASSWORD = 'replica admin password'
const MASTER_KEY = encodeMasterKey(Buffer.alloc(32, 7))

type Replica = SpawnedIron

const spawnReplica = (dbUrl: string, port: number): Promise<Replica> =>
  spawnListening(['serve', '--port', String(port)], {
    ...homeEnv(tempDir('iron-replica')),
    IRON_DB: dbUrl,
    [MASTER_KEY_ENV]: MASTER_KEY,
    IRON_SERVE_LEASE_TTL: '10',
  })

/**
 * A round-robin load balancer, as an operator puts in front of replicas: a request goes to the next
 * replica, and to the one after when a replica refuses the connection or dies before answering.
 */
async function startBalancer(backends: () => string[]) {
  let next = 0
  const forward = (target: string, req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const url = new URL(req.url ?? '/', target)
      const out = request(url, { method: req.method, headers: req.headers }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(parts) }),
        )
        res.on('error', reject)
      })
      out.on('error', reject)
      out.end(body)
    })
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', async () => {
      const body = Buffer.concat(parts)
      const targets = backends()
      for (let tries = 0; tries < targets.length; tries++) {
        const target = targets[next++ % targets.length]!
        try {
          const answer = await forward(target, req, body)
          res.writeHead(answer.status, answer.headers).end(answer.body)
          return
        } catch {
          // Dead replica: the next one.
        }
      }
      res.writeHead(502).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** What an agent spent, what it holds in leases and reservations, and its settled requests, from the database. */
async function agentFigures(sql: postgres.Sql, name: string) {
  const [row] = await sql<
    { spent: string; limit: string; leased: string; reserved: string; commits: string; total: string }[]
  >`
    SELECT b.spent_micros AS spent, b.limit_micros AS limit, b.leased_micros AS leased, b.reserved_micros AS reserved,
      (SELECT count(*) FROM ledger l WHERE l.agent_id = a.id AND l.kind = 'commit') AS commits,
      (SELECT coalesce(sum(spent_delta), 0) FROM ledger l WHERE l.agent_id = a.id AND l.kind = 'commit') AS total
    FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE a.name = ${name}`
  return {
    spent: Number(row!.spent),
    limit: Number(row!.limit),
    held: Number(row!.leased) + Number(row!.reserved),
    commits: Number(row!.commits),
    total: Number(row!.total),
  }
}

describe('iron serve replicas on one PostgreSQL', { timeout: 300_000 }, () => {
  let pg: PostgresCluster
  let appUrl: string
  let mock: Awaited<ReturnType<typeof startMockProvider>>
  let cp: ReturnType<typeof createLocalControlPlane>
  let setup: LocalContext
  const replicas: Replica[] = []
  // About a third of the 300 requests of a test fit (each costs about 17,000 µ$ at the test prices).
  const LIMIT = 1_500_000

  const servedCost = () => {
    let total = 0
    for (const s of Object.values(mock.stats().served)) total += costOf(s.input_tokens, s.output_tokens)
    return total
  }
  const alive = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null)

  /** An agent of its own for a test, with a budget that fits a fraction of its requests. */
  const newAgent = async (name: string) => {
    await cp.agents.create({ name })
    await cp.budgets.set(name, { limit_micros: LIMIT })
    return (await cp.tokens.issue(name)).token
  }

  /** 3 gateways (through the balancer) × 4 concurrent × 25 requests; `during` runs once 60 have answered. */
  async function load(token: string, during: () => Promise<void>) {
    const balancer = await startBalancer(() => alive().map((r) => r.url))
    const gateways = await Promise.all([0, 1, 2].map(() => startTeamGateway(balancer.url)))
    const outcomes: number[] = []
    const send = async (gateway: string) => {
      const res = await fetch(`${gateway}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          max_tokens: 32,
          messages: [{ role: 'user', content: 'replicas' }],
        }),
      })
      await res.arrayBuffer()
      outcomes.push(res.status)
    }
    const running = gateways.flatMap((g) =>
      [0, 1, 2, 3].map(async () => {
        for (let i = 0; i < 25; i++) await send(g.url)
      }),
    )
    await waitUntil(() => outcomes.length >= 60, 120_000)
    await during()
    await Promise.all(running)
    // The gateways give back what they hold and deliver every report (to a replica that is up).
    for (const g of gateways) await g.close()
    await balancer.close()
    return outcomes
  }

  /** What the provider served for this test is what the ledger counts, once each; spent ≤ limit; nothing stranded. */
  async function expectExact(name: string, servedBefore: number, outcomes: number[]) {
    // No replica failed on a bug (a conflict it did not run again, a duplicate key, a stack trace).
    for (const r of replicas) expect(r.stderr()).not.toMatch(/INTERNAL|TypeError|duplicate key|at .*\.js:\d+/)
    const served = outcomes.filter((s) => s === 200).length
    expect(served).toBeGreaterThan(0)
    expect(outcomes.filter((s) => s === 402).length).toBeGreaterThan(0)
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      let figures = await agentFigures(sql, name)
      // A lease granted by a replica whose answer never reached its gateway (killed, or the database
      // restarted under it) is reclaimed by a live replica once its TTL passes.
      await waitUntil(
        async () => {
          figures = await agentFigures(sql, name)
          return figures.held === 0
        },
        40_000,
        () => JSON.stringify(figures),
      )
      expect(figures.spent).toBe(servedCost() - servedBefore)
      expect(figures.total).toBe(figures.spent)
      expect(figures.commits).toBe(served)
      expect(figures.spent).toBeLessThanOrEqual(figures.limit)
      // No lease granted twice (a top-up is a grant row of its own, naming its lease).
      const twice = await sql`
        SELECT reservation_id FROM ledger WHERE kind = 'lease_grant' AND lease_id IS NULL GROUP BY 1 HAVING count(*) > 1`
      expect(twice).toHaveLength(0)
    } finally {
      await sql.end()
    }
    // One chain, verified by the CLI on the database.
    const verify = await runIron(['audit', 'verify', '--json'], {
      env: { ...homeEnv(tempDir('iron-verify')), IRON_DB: pg.url, [MASTER_KEY_ENV]: MASTER_KEY },
    })
    expect(verify.code, verify.stderr).toBe(0)
  }

  beforeAll(async () => {
    pg = await startMigratedPostgres()
    mock = await startMockProvider({ latencyMs: 2 })
    // The replicas run as a role that may read and write the tables, not change the schema (no superuser).
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`
        CREATE ROLE iron_app LOGIN;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO iron_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO iron_app;`)
    } finally {
      await admin.end()
    }
    appUrl = pg.url.replace('//iron@', '//iron_app@')
    // The team's setup, done once on the database (as an admin's commands would).
    const env = { IRON_DB: appUrl, [MASTER_KEY_ENV]: MASTER_KEY }
    setup = new LocalContext({
      config: await IronConfig.load(tempDirs(), env),
      env,
      vault: new MemoryVault(),
    })
    cp = createLocalControlPlane(setup)
    await cp.users.create({ name: 'admin', role: 'admin', password: ADMIN_PASSWORD })
    await cp.providers.add({
      name: 'openai',
      kind: 'openai',
      base_url: `${mock.url}/v1`,
      api_key: UPSTREAM_KEY,
    })
    await cp.pricing.set({ model: 'gpt-4o-mini', provider: 'openai', ...PRICE, max_output_tokens: 64 })
    for (let i = 0; i < 3; i++) replicas.push(await spawnReplica(appUrl, await freePort()))
  })

  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL')
    setup?.close()
    await mock?.close()
    await pg?.stop()
  })

  it('gateways lease from all three under load, one replica killed: spent ≤ limit, nothing lost or counted twice, one chain', async () => {
    const token = await newAgent('bot')
    const before = servedCost()
    const outcomes = await load(token, async () => {
      replicas[0]!.child.kill('SIGKILL')
    })
    expect(outcomes.filter((s) => s !== 200 && s !== 402)).toEqual([])
    await expectExact('bot', before, outcomes)
  })

  it('PostgreSQL restarts under load: replicas say 503 meanwhile, gateways carry on; nothing lost or counted twice', async () => {
    while (alive().length < 3) replicas.push(await spawnReplica(appUrl, await freePort()))
    const token = await newAgent('bot-2')
    const before = servedCost()
    const outcomes = await load(token, () => pg.restart())
    // A gateway that could not reach a replica while the database was down refuses with 402 or 503, never
    // anything else; no replica failed on a bug.
    expect(outcomes.filter((s) => s !== 200 && s !== 402 && s !== 503)).toEqual([])
    await expectExact('bot-2', before, outcomes)
  })
})
