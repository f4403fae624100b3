import { type ChildProcess, spawn } from 'node:child_process'
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
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { UPSTREAM_KEY } from '../helpers/gateway.js'
import { freePort, type PostgresCluster, startMigratedPostgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/spawned-gateway.js'
import { costOf, PRICE, startTeamGateway } from '../helpers/team.js'
import { tempDir, tempDirs } from '../helpers/temp.js'

// Issue 15: several `iron serve` replicas (the real binary) on one PostgreSQL behind a load balancer, team
// gateways leasing from them under load, one replica killed with SIGKILL in the middle.

const ADMIN_PASSWORD = 'replica admin password'
const MASTER_KEY = encodeMasterKey(Buffer.alloc(32, 7))

interface Replica {
  child: ChildProcess
  url: string
  err: () => string
}

function spawnReplica(dbUrl: string, port: number): Promise<Replica> {
  const env = {
    ...homeEnv(tempDir('iron-replica')),
    IRON_DB: dbUrl,
    [MASTER_KEY_ENV]: MASTER_KEY,
    IRON_SERVE_LEASE_TTL: '10',
  }
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`a replica did not start: ${err}`)), 30_000)
    child.stderr!.on('data', (d) => {
      err += d
      const match = /listening on (http:\/\/\S+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1]!, err: () => err })
      }
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`a replica exited (${code ?? signal}) before listening: ${err}`))
    })
  })
}

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

describe('iron serve replicas on one PostgreSQL', { timeout: 240_000 }, () => {
  let pg: PostgresCluster
  let mock: Awaited<ReturnType<typeof startMockProvider>>
  let token: string
  const replicas: Replica[] = []
  const LIMIT = 60_000

  beforeAll(async () => {
    pg = await startMigratedPostgres()
    mock = await startMockProvider({ latencyMs: 2 })
    // The team's setup, done once on the database (as an admin's commands would).
    const env = { IRON_DB: pg.url, [MASTER_KEY_ENV]: MASTER_KEY }
    const ctx = new LocalContext({
      config: await IronConfig.load(tempDirs(), env),
      env,
      vault: new MemoryVault(),
    })
    const cp = createLocalControlPlane(ctx)
    await cp.users.create({ name: 'admin', role: 'admin', password: ADMIN_PASSWORD })
    await cp.providers.add({
      name: 'openai',
      kind: 'openai',
      base_url: `${mock.url}/v1`,
      api_key: UPSTREAM_KEY,
    })
    await cp.pricing.set({ model: 'gpt-4o-mini', provider: 'openai', ...PRICE, max_output_tokens: 64 })
    await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: LIMIT })
    token = (await cp.tokens.issue('bot')).token
    ctx.close()
    for (let i = 0; i < 3; i++) replicas.push(await spawnReplica(pg.url, await freePort()))
  })

  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL')
    await mock?.close()
    await pg?.stop()
  })

  it('gateways lease from all three under load, one replica dies: spent ≤ limit, nothing lost or counted twice, one chain', async () => {
    const alive = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null)
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
    // 3 gateways × 4 concurrent × 25 requests; the budget fits a fraction of them.
    const load = gateways.flatMap((g) =>
      [0, 1, 2, 3].map(async () => {
        for (let i = 0; i < 25; i++) await send(g.url)
      }),
    )
    await waitUntil(() => outcomes.length >= 60, 120_000)
    replicas[0]!.child.kill('SIGKILL')
    await Promise.all(load)
    // The gateways give back what they hold and deliver every report (to a replica still alive).
    for (const g of gateways) await g.close()

    const served = outcomes.filter((s) => s === 200).length
    expect(served).toBeGreaterThan(0)
    expect(outcomes.filter((s) => s !== 200 && s !== 402)).toEqual([])
    expect(outcomes.filter((s) => s === 402).length).toBeGreaterThan(0)

    const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
    try {
      // What the provider served is what the ledger counts, once each; spent never passed the limit.
      const [budget] = await sql<{ spent: string; limit: string }[]>`
        SELECT spent_micros AS spent, limit_micros AS limit FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE a.name = 'bot'`
      let providerCost = 0
      for (const s of Object.values(mock.stats().served))
        providerCost += costOf(s.input_tokens, s.output_tokens)
      expect(Number(budget!.spent)).toBe(providerCost)
      expect(Number(budget!.spent)).toBeLessThanOrEqual(LIMIT)
      const [commits] = await sql<{ n: string; total: string }[]>`
        SELECT count(*) AS n, coalesce(sum(spent_delta), 0) AS total FROM ledger WHERE kind = 'commit'`
      expect(Number(commits!.n)).toBe(served)
      expect(Number(commits!.total)).toBe(providerCost)
      // No lease granted twice (a top-up is a grant row of its own, naming its lease).
      const twice = await sql`
        SELECT reservation_id FROM ledger WHERE kind = 'lease_grant' AND lease_id IS NULL GROUP BY 1 HAVING count(*) > 1`
      expect(twice).toHaveLength(0)
      // Nothing stranded: every lease was given back, or (one granted by the killed replica whose answer
      // never reached its gateway) reclaimed by a live replica once its TTL passed.
      let held = ''
      await waitUntil(
        async () => {
          const [row] = await sql<{ leased: string; reserved: string }[]>`
            SELECT leased_micros AS leased, reserved_micros AS reserved FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE a.name = 'bot'`
          held = `leased ${row!.leased}, reserved ${row!.reserved}`
          return Number(row!.leased) === 0 && Number(row!.reserved) === 0
        },
        40_000,
        () => held,
      )
      const [after] = await sql<{ spent: string }[]>`
        SELECT spent_micros AS spent FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE a.name = 'bot'`
      expect(Number(after!.spent)).toBe(providerCost)
    } finally {
      await sql.end()
    }
    // One chain, verified by the CLI on the database.
    const verify = await runIron(['audit', 'verify', '--json'], {
      env: { ...homeEnv(tempDir('iron-verify')), IRON_DB: pg.url, [MASTER_KEY_ENV]: MASTER_KEY },
    })
    expect(verify.code, verify.stderr).toBe(0)
    await balancer.close()
  })
})
