// The load of the lease protocol on `iron serve`, shared by bench/lease-server.js and
// bench/postgres-replicas.js: a store set up for it, report events, a timed loop, and a client that goes
// round one or several servers (replicas behind a load balancer).
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { IronConfig } from '../../dist/src/config/config.js'
import { newId } from '../../dist/src/core/ids.js'
import { newRecord } from '../../dist/src/gateway/record.js'
import { LocalContext } from '../../dist/src/services/context.js'
import { createLocalControlPlane } from '../../dist/src/services/local/index.js'

export const BATCH = 50
export const GATEWAYS = 16
/** Agents the handshake case goes round (each new lease counts toward its agent's cap of 1,000 open leases). */
export const HANDSHAKE_AGENTS = 64
export const log = (line) => process.stderr.write(`${line}\n`)

/**
 * A store with three providers and HANDSHAKE_AGENTS agents, each with a limit no run reaches and an IC token.
 * `db` is a SQLite path or a postgres:// URL (migrated); default: a file in a fresh temporary directory.
 */
export async function freshStore(db) {
  const root = mkdtempSync(join(tmpdir(), 'iron-bench-lease-'))
  const dirs = { configDir: join(root, 'config'), dataDir: join(root, 'data') }
  const env = { IRON_MASTER_KEY: randomBytes(32).toString('base64'), ...(db ? { IRON_DB: db } : {}) }
  const ctx = new LocalContext({ config: await IronConfig.load(dirs, env), env })
  const cp = createLocalControlPlane(ctx)
  await cp.providers.add({ name: 'openai', kind: 'openai', api_key: `sk-bench-${'x'.repeat(40)}` })
  await cp.providers.add({ name: 'claude', kind: 'anthropic', api_key: `sk-ant-bench-${'y'.repeat(40)}` })
  await cp.providers.add({ name: 'mock', kind: 'mock' })
  // Agents enough that the handshake case, a new lease each call, stays far below the server's cap of
  // open leases per agent (1,000) however fast the machine: the handshakes go round them.
  const tokens = []
  for (let i = 0; i < HANDSHAKE_AGENTS; i++) {
    const name = i === 0 ? 'bench' : `bench-${i}`
    await cp.agents.create({ name })
    // A limit no run reaches: every handshake lends, every report draws.
    await cp.budgets.set(name, { limit_micros: 1_000_000_000_000 })
    tokens.push((await cp.tokens.issue(name)).token)
  }
  ctx.close()
  return { dirs, env, token: tokens[0], tokens }
}

/** One request of a report, as a team gateway sends it. */
export function event() {
  const id = newId('req')
  const record = newRecord('chat', 'gw:bench:1:1:000000')
  Object.assign(record, {
    id,
    status: 200,
    outcome: 'ok',
    model: 'gpt-4o-mini',
    provider: 'openai',
    latency_ms: 120,
  })
  return {
    request_id: id,
    at: Date.now(),
    model: 'gpt-4o-mini',
    provider: 'openai',
    input_tokens: 800,
    output_tokens: 200,
    cached_tokens: 0,
    cost_micros: 240,
    cost_known: true,
    room_micros: 1_000,
    record,
  }
}

/** Run `call` from `concurrency` loops for `seconds`; each call resolves to what it did (1 for a call). */
export async function measure(seconds, concurrency, call) {
  const deadline = performance.now() + seconds * 1000
  let done = 0
  let units = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        try {
          const n = await call(worker)
          units += n
          done++
        } catch (error) {
          failed++
          if (failed <= 3) log(`failed: ${error.message}`)
        }
      }
    }),
  )
  return { calls: done, units, failed, seconds: (performance.now() - started) / 1000 }
}

/**
 * The protocol's calls against `urls` (one server, or replicas taken in turn, as a round-robin balancer
 * would): the floor (GET /api/health), a handshake for a new gateway runtime each time, a report of BATCH
 * requests, an empty report (heartbeat). `prepare()` takes the leases the reports go to.
 */
export function leaseLoad(urls, store) {
  const pools = urls.map((url) => new Pool(url, { connections: 64, pipelining: 1 }))
  let turn = 0
  const next = () => pools[turn++ % pools.length]
  const post = async (path, body, bearer = store.token) => {
    const res = await next().request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ protocol: 1, ...body }),
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`)
    return JSON.parse(text)
  }
  let runtimes = 0
  const leases = []
  return {
    async prepare() {
      for (let i = 0; i < GATEWAYS; i++)
        leases.push(
          (
            await post('/api/v1/budget/handshake', {
              runtime_id: `gw:bench-reporter:${process.pid}:${i}:${Date.now()}`,
              runtime_version: 'bench',
              requested_micros: 100_000_000,
            })
          ).lease_id,
        )
    },
    async health() {
      const res = await next().request({ method: 'GET', path: '/api/health' })
      await res.body.text()
      if (res.statusCode !== 200) throw new Error(`health: ${res.statusCode}`)
      return 1
    },
    async handshake() {
      const n = ++runtimes
      await post(
        '/api/v1/budget/handshake',
        {
          runtime_id: `gw:bench:${process.pid}:${n}`,
          runtime_version: 'bench',
          host: 'bench',
          min_micros: 1_000,
        },
        store.tokens[n % store.tokens.length],
      )
      return 1
    },
    async report(worker) {
      const events = Array.from({ length: BATCH }, event)
      const reply = await post('/api/v1/budget/report', { lease_id: leases[worker % GATEWAYS], events })
      if (reply.accepted !== BATCH) throw new Error(`accepted ${reply.accepted} of ${BATCH}`)
      return BATCH
    },
    async heartbeat(worker) {
      await post('/api/v1/budget/report', { lease_id: leases[worker % GATEWAYS], events: [] })
      return 1
    },
    close: () => Promise.all(pools.map((p) => p.close())),
  }
}
