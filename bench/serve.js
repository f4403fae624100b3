#!/usr/bin/env node
// iron serve under load, the real binary on a temporary store:
//   1. authenticated reads (GET /api/v1/agents/{ref}) and writes (PATCH /api/v1/agents/{ref}, each an audited
//      change) per second at 16 concurrent, signed in with a session;
//   2. the p99 of that read, one at a time, alone and while a 1,000,000-event audit export streams
//      (GET /api/v1/audit/export, read as fast as the client can), beside the export's own rate.
//   npm run build && node bench/serve.js [--seconds 10] [--events 1000000] [--concurrency 16]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { IronConfig } from '../dist/src/config/config.js'
import { LocalContext } from '../dist/src/services/context.js'
import { createLocalControlPlane } from '../dist/src/services/local/index.js'
import { seedAuditEvents, tempIronHome } from './lib/iron-store.js'
import { loadMeter } from './lib/machine.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    events: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '16' },
  },
})
const SECONDS = Number(values.seconds)
const EVENTS = Number(values.events)
const CONCURRENCY = Number(values.concurrency)
const PASSWORD = 'bench password, long enough'

// ---- The store: an admin, an agent, and the audit trail an export will stream --------------------------------
const { env, dirs } = tempIronHome('iron-bench-serve-')
env.IRON_MASTER_KEY = randomBytes(32).toString('base64url')
const setupStarted = performance.now()
const ctx = new LocalContext({ config: await IronConfig.load(dirs, env), env })
const cp = createLocalControlPlane(ctx)
await cp.users.create({ name: 'bench', role: 'admin', password: PASSWORD })
const agent = await cp.agents.create({ name: 'bench-bot', allowed_models: ['gpt-4o-mini'] })
seedAuditEvents(ctx.db(), EVENTS, agent.id)
ctx.close()
console.error(`set-up: ${EVENTS} audit events in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`)

// ---- The server --------------------------------------------------------------------------------------------
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const server = spawn(process.execPath, [bin, 'serve', '--port', '0'], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
})
const url = await new Promise((resolve, reject) => {
  let err = ''
  server.stderr.on('data', (d) => {
    err += d
    const match = /listening on (http:\/\/\S+)/.exec(err)
    if (match) resolve(match[1])
  })
  server.on('exit', (code) => reject(new Error(`iron serve exited (${code}): ${err}`)))
})
const pool = new Pool(url, { connections: CONCURRENCY + 2, pipelining: 1 })
const call = async (method, path, { token, body } = {}) => {
  const response = await pool.request({
    method,
    path,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`)
  return text
}
const { token } = JSON.parse(
  await call('POST', '/api/v1/auth/login', { body: { name: 'bench', password: PASSWORD } }),
)

/** CPU seconds the server process has used (user + system), from /proc; null where there is none. */
function serverCpu() {
  try {
    const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
const ms = (n) => `${n.toFixed(2)} ms`

/** `concurrency` loops of `request` for `seconds`: how many per second, and the latency percentiles. */
async function load(name, concurrency, seconds, request) {
  const latencies = []
  const end = performance.now() + seconds * 1000
  const meter = loadMeter({ pids: [process.pid, server.pid] })
  const cpu = serverCpu()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await request()
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const took = (performance.now() - started) / 1000
  const machine = meter.stop()
  const used = cpu === null ? null : serverCpu() - cpu
  latencies.sort((a, b) => a - b)
  return {
    name,
    cpu_ms: used === null ? null : (used * 1000) / latencies.length,
    concurrency,
    requests: latencies.length,
    per_second: Math.round(latencies.length / took),
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    others_cpu: machine?.others ?? null,
  }
}

const read = () => call('GET', `/api/v1/agents/${agent.name}`, { token })
let n = 0
const writeOne = () =>
  call('PATCH', `/api/v1/agents/${agent.name}`, { token, body: { description: `run ${++n}` } })

// Warm-up: JIT, prepared statements, the session row in cache.
await load('warm-up', 4, 2, read)

const results = []
results.push(await load('reads', CONCURRENCY, SECONDS, read))
results.push(await load('writes', CONCURRENCY, SECONDS, writeOne))
const alone = await load('read alone', 1, SECONDS, read)
results.push(alone)

// ---- A read while the export streams -----------------------------------------------------------------------
const exportStarted = performance.now()
let exported = 0
let bytes = 0
const exporting = (async () => {
  const response = await pool.request({
    method: 'GET',
    path: '/api/v1/audit/export?format=jsonl',
    headers: { authorization: `Bearer ${token}` },
  })
  if (response.statusCode !== 200) throw new Error(`export: ${response.statusCode}`)
  for await (const chunk of response.body) {
    bytes += chunk.length
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) exported++
  }
})()
const during = []
const meter = loadMeter({ pids: [process.pid, server.pid] })
const exportCpu = serverCpu()
let done = false
void exporting.finally(() => {
  done = true
})
while (!done) {
  const t0 = performance.now()
  await read()
  during.push(performance.now() - t0)
}
await exporting
const machine = meter.stop()
const exportSeconds = (performance.now() - exportStarted) / 1000
during.sort((a, b) => a - b)
results.push({
  name: 'read during the export',
  concurrency: 1,
  requests: during.length,
  per_second: Math.round(during.length / exportSeconds),
  p50_ms: percentile(during, 50),
  p99_ms: percentile(during, 99),
  others_cpu: machine?.others ?? null,
  cpu_ms: null,
})
const exportCpuSeconds = exportCpu === null ? null : serverCpu() - exportCpu

server.kill('SIGTERM')
await new Promise((resolve) => server.on('exit', resolve))
await pool.close()

console.log(`iron serve, ${CONCURRENCY} concurrent, ${SECONDS} s a case (node ${process.version})`)
console.log('case                      conc   requests     per s      p50       p99  server CPU/req  others')
for (const r of results) {
  console.log(
    `${r.name.padEnd(25)} ${String(r.concurrency).padStart(4)} ${String(r.requests).padStart(10)} ${String(
      r.per_second,
    ).padStart(9)} ${ms(r.p50_ms).padStart(9)} ${ms(r.p99_ms).padStart(9)} ${(
      r.cpu_ms === null ? 'n/a' : ms(r.cpu_ms)
    ).padStart(15)} ${r.others_cpu === null ? '   n/a' : `${(r.others_cpu * 100).toFixed(0).padStart(5)}%`}`,
  )
}
console.log(
  `export: ${exported} events, ${(bytes / 1_048_576).toFixed(0)} MB in ${exportSeconds.toFixed(1)} s (${Math.round(
    exported / exportSeconds,
  )} events/s, server CPU ${exportCpuSeconds === null ? 'n/a' : `${exportCpuSeconds.toFixed(1)} s`}); read p99 ${ms(
    alone.p99_ms,
  )} alone, ${ms(percentile(during, 99))} during it`,
)
