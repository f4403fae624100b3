#!/usr/bin/env node
import { BATCH, freshStore, leaseLoad, log, measure } from './lib/lease-load.js'
// The lease protocol on `iron serve` (issue 14): handshakes and reports per second, one server process on
// its own CPU, against its own cheapest route (GET /api/health: HTTP, routing and JSON, nothing else)
// measured in the same run at the same concurrency, so the ratio says what the protocol's work costs.
//   handshake: a new lease for a new gateway runtime each time (a ledger grant, the agent's view, every
//              provider key sealed for the lease, the price table), 64 agents in turn;
//   report:    batches of 50 requests (each a draw on the lease with its audit record, charged once by
//              request_id) from 16 gateways' leases; and empty reports (the heartbeat every gateway sends
//              each second per lease).
//   npm run build && node bench/lease-server.js [--seconds 5] [--json]
import { loadMeter } from './lib/machine.js'
import { cpuCount, pinProcess, spawnPinned } from './lib/spawn-pinned.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}
const SECONDS = Number(arg('--seconds', '5'))
const JSON_OUT = process.argv.includes('--json')

const store = await freshStore()
const { dirs, env } = store
const cpus = cpuCount()
const server = await spawnPinned({
  command: process.execPath,
  args: [new URL('./lib/lease-server-worker.js', import.meta.url).pathname, dirs.configDir, dirs.dataDir],
  cpu: cpus >= 2 ? 1 : null,
  env: { ...process.env, ...env },
})
if (cpus >= 2) pinProcess(0)
const load = leaseLoad([server.url], store)
await load.prepare()

const rows = []
const cases = [
  ['GET /api/health (the floor)', load.health],
  ['handshake (a new lease each)', load.handshake],
  [`report, ${BATCH} requests each`, load.report],
  ['report, empty (heartbeat)', load.heartbeat],
]
for (const concurrency of [1, 16]) {
  const floor = []
  for (const [name, call] of cases) {
    for (let i = 0; i < 20; i++) await call(i).catch(() => {}) // warm-up
    const meter = loadMeter({ pids: [process.pid], groups: [server.pid] })
    const r = await measure(SECONDS, concurrency, call)
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
await load.close()
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
