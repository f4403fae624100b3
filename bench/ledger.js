#!/usr/bin/env node
// Requests admitted and settled per second on one store file, by the code the gateway runs (its LeaseBook
// over LocalGatewayControl: admission in memory on a lease, one settlement write per request with its
// record): one process, then four processes on one agent at once.
// Target: ≥ 20,000 requests/s in one process, so that the ledger is never what limits the gateway.
//   npm run build && node bench/ledger.js [--requests 50000]
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { IronConfig } from '../dist/src/config/config.js'
import { MemoryVault } from '../dist/src/config/vault.js'
import { LocalContext } from '../dist/src/services/context.js'
import { createLocalControlPlane } from '../dist/src/services/local/index.js'
import { loadMeter } from './lib/machine.js'

const requestsArg = process.argv.indexOf('--requests')
const REQUESTS = requestsArg > 0 ? Number(process.argv[requestsArg + 1]) : 50_000
const worker = fileURLToPath(new URL('./lib/ledger-worker.js', import.meta.url))

async function freshAgent() {
  const root = mkdtempSync(join(tmpdir(), 'iron-bench-ledger-'))
  const dirs = { configDir: join(root, 'config'), dataDir: join(root, 'data') }
  const ctx = new LocalContext({ config: await IronConfig.load(dirs, {}), env: {}, vault: new MemoryVault() })
  const cp = createLocalControlPlane(ctx)
  const agent = await cp.agents.create({ name: 'bench' })
  // A limit no run can reach, so every request is admitted and settled.
  await cp.budgets.set('bench', { limit_micros: 1_000_000_000_000 })
  ctx.close()
  return { dirs, agentId: agent.id }
}

function run(dirs, agentId, requests, inflight) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      worker,
      dirs.configDir,
      dirs.dataDir,
      agentId,
      String(requests),
      '1000',
      String(inflight),
    ])
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(err))
      process.stderr.write(err)
      resolve(JSON.parse(out))
    })
  })
}

const rows = []
/** One line of the table; `load`: other processes' share of the CPUs during the case (exited workers count as ours). */
function row(name, results, seconds, load) {
  const settled = results.reduce((s, r) => s + r.settled, 0)
  rows.push({
    case: name,
    requests: settled,
    seconds: seconds.toFixed(2),
    'requests/s': Math.round(settled / seconds),
    failed: results.reduce((s, r) => s + r.failed, 0),
    'other load': load ? `${(load.others * 100).toFixed(0)}%` : 'n/a',
  })
}
for (const inflight of [1, 64]) {
  const { dirs, agentId } = await freshAgent()
  await run(dirs, agentId, 2_000, inflight) // warm-up
  const meter = loadMeter({ pids: [process.pid] })
  const r = await run(dirs, agentId, REQUESTS, inflight)
  row(`1 process, ${inflight} in flight`, [r], r.elapsedMs / 1000, meter.stop())
}
for (const inflight of [1, 64]) {
  const { dirs, agentId } = await freshAgent()
  const meter = loadMeter({ pids: [process.pid] })
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: 4 }, () => run(dirs, agentId, Math.round(REQUESTS / 2), inflight)),
  )
  const elapsed = (performance.now() - started) / 1000
  row(`4 processes, one agent, ${inflight} in flight each`, results, elapsed, meter.stop())
}
console.log(
  `ledger: requests admitted on a lease and settled with their record, through a gateway's LeaseBook (node ${process.versions.node})`,
)
console.table(rows)
const busiest = Math.max(...rows.map((r) => Number.parseInt(r['other load'], 10) || 0))
if (busiest > 10)
  console.log(`warning: other processes used up to ${busiest}% of the CPUs during a case; figures are low`)
const failed = rows.reduce((s, r) => s + r.failed, 0)
if (failed > 0)
  console.log(
    `FAILED: ${failed} settlements failed (errors on stderr); a gateway answers those 500, uncharged`,
  )
const best = Math.max(rows[0]['requests/s'], rows[1]['requests/s'])
const ok = best >= 20_000
console.log(
  `target ≥ 20,000 requests/s in one process (gateway-like, many in flight): ${ok ? 'met' : 'MISSED'}`,
)
process.exitCode = ok && failed === 0 ? 0 : 1
