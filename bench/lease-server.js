#!/usr/bin/env node
// The lease protocol on `iron serve` (issue 14): handshakes and reports per second, one server process on
// its own CPU, against its own cheapest route (GET /api/health: HTTP, routing and JSON, nothing else)
// measured in the same run at the same concurrency, so the ratio says what the protocol's work costs.
//   handshake: a new lease for a new gateway runtime each time (a ledger grant, the agent's view, every
//              provider key sealed for the lease, the price table), 64 agents in turn;
//   report:    batches of 50 requests (each a draw on the lease with its audit record, charged once by
//              request_id) from 16 gateways' leases; and empty reports (the heartbeat every gateway sends
//              each second per lease).
//   npm run build && node bench/lease-server.js [--seconds 5] [--json]
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { IronConfig } from '../dist/src/config/config.js'
import { newId } from '../dist/src/core/ids.js'
import { newRecord } from '../dist/src/gateway/record.js'
import { LocalContext } from '../dist/src/services/context.js'
import { createLocalControlPlane } from '../dist/src/services/local/index.js'
import { loadMeter } from './lib/machine.js'
import { cpuCount, pinProcess, spawnPinned } from './lib/spawn-pinned.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}
const SECONDS = Number(arg('--seconds', '5'))
const JSON_OUT = process.argv.includes('--json')
const BATCH = 50
const GATEWAYS = 16
/** Agents the handshake case goes round (each new lease counts toward its agent's cap of 1,000 open leases). */
const HANDSHAKE_AGENTS = 64
const log = (line) => process.stderr.write(`${line}\n`)

async function freshStore() {
  const root = mkdtempSync(join(tmpdir(), 'iron-bench-lease-'))
  const dirs = { configDir: join(root, 'config'), dataDir: join(root, 'data') }
  const env = { IRON_MASTER_KEY: randomBytes(32).toString('base64') }
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

function event() {
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

/** Run `call` from `concurrency` loops for SECONDS; each call resolves to what it did (1 for a call). */
async function measure(concurrency, call) {
  const deadline = performance.now() + SECONDS * 1000
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
  const seconds = (performance.now() - started) / 1000
  return { calls: done, units, failed, seconds }
}

const { dirs, env, token, tokens } = await freshStore()
const cpus = cpuCount()
const server = await spawnPinned({
  command: process.execPath,
  args: [new URL('./lib/lease-server-worker.js', import.meta.url).pathname, dirs.configDir, dirs.dataDir],
  cpu: cpus >= 2 ? 1 : null,
  env: { ...process.env, ...env },
})
if (cpus >= 2) pinProcess(0)
const pool = new Pool(server.url, { connections: 64, pipelining: 1 })
const post = async (path, body, bearer = token) => {
  const res = await pool.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ protocol: 1, ...body }),
  })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`)
  return JSON.parse(text)
}
const health = async () => {
  const res = await pool.request({ method: 'GET', path: '/api/health' })
  await res.body.text()
  if (res.statusCode !== 200) throw new Error(`health: ${res.statusCode}`)
  return 1
}
let runtimes = 0
const handshake = async () => {
  const n = ++runtimes
  await post(
    '/api/v1/budget/handshake',
    {
      runtime_id: `gw:bench:${process.pid}:${n}`,
      runtime_version: 'bench',
      host: 'bench',
      min_micros: 1_000,
    },
    tokens[n % tokens.length],
  )
  return 1
}
const leases = []
for (let i = 0; i < GATEWAYS; i++)
  leases.push(
    (
      await post('/api/v1/budget/handshake', {
        runtime_id: `gw:bench-reporter:${i}`,
        runtime_version: 'bench',
        requested_micros: 100_000_000,
      })
    ).lease_id,
  )
const report = async (worker) => {
  const events = Array.from({ length: BATCH }, event)
  const reply = await post('/api/v1/budget/report', { lease_id: leases[worker % GATEWAYS], events })
  if (reply.accepted !== BATCH) throw new Error(`accepted ${reply.accepted} of ${BATCH}`)
  return BATCH
}
const heartbeat = async (worker) => {
  await post('/api/v1/budget/report', { lease_id: leases[worker % GATEWAYS], events: [] })
  return 1
}

const rows = []
const cases = [
  ['GET /api/health (the floor)', health],
  ['handshake (a new lease each)', handshake],
  [`report, ${BATCH} requests each`, report],
  ['report, empty (heartbeat)', heartbeat],
]
for (const concurrency of [1, 16]) {
  const floor = []
  for (const [name, call] of cases) {
    for (let i = 0; i < 20; i++) await call(i).catch(() => {}) // warm-up
    const meter = loadMeter({ pids: [process.pid], groups: [server.pid] })
    const r = await measure(concurrency, call)
    const load = meter.stop()
    const perSecond = r.calls / r.seconds
    if (floor.length === 0) floor.push(perSecond)
    rows.push({
      case: name,
      concurrency,
      'calls/s': Math.round(perSecond),
      'requests/s': name.startsWith('report, 5') ? Math.round(r.units / r.seconds) : '',
      'ms/call': ((1000 * concurrency) / perSecond).toFixed(2),
      'vs floor': `${(perSecond / floor[0]).toFixed(3)}×`,
      failed: r.failed,
      'other load': load ? `${(load.others * 100).toFixed(0)}%` : 'n/a',
    })
  }
}
await pool.close()
await server.stop()

if (JSON_OUT)
  console.log(JSON.stringify({ node: process.versions.node, cpus, seconds: SECONDS, rows }, null, 2))
else {
  console.log(
    `lease-server: the lease protocol on iron serve (node ${process.versions.node}, ${cpus} CPUs, ${SECONDS} s a case)`,
  )
  console.table(rows)
}
const busiest = Math.max(...rows.map((r) => Number.parseInt(r['other load'], 10) || 0))
if (busiest > 5)
  log(`warning: other processes used up to ${busiest}% of the CPUs during a case; figures are low`)
const failed = rows.reduce((s, r) => s + r.failed, 0)
if (failed > 0) log(`FAILED: ${failed} calls failed`)
process.exitCode = failed === 0 ? 0 : 1
