#!/usr/bin/env node
// iron serve on PostgreSQL (issue 15): handshakes and reports of the lease protocol per second with 1 and 3
// replicas on one PostgreSQL, against iron serve on SQLite, in one run, each at the same total concurrency
// (the replicas taken in turn, as a round-robin load balancer would). GET /api/health on each setup is its
// floor. PostgreSQL is a throwaway cluster on loopback (the Debian package; fsync off, as in the tests).
//   npm run build && node bench/postgres-replicas.js [--seconds 5] [--concurrency 16] [--json]
import { startMigratedPostgres } from '../dist/src/testing/postgres.js'
import { BATCH, freshStore, leaseLoad, log, measure } from './lib/lease-load.js'
import { loadMeter } from './lib/machine.js'
import { cpuCount, spawnPinned } from './lib/spawn-pinned.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}
const SECONDS = Number(arg('--seconds', '5'))
const CONCURRENCY = Number(arg('--concurrency', '16'))
const JSON_OUT = process.argv.includes('--json')

const startServe = (store) =>
  spawnPinned({
    command: process.execPath,
    args: [
      new URL('./lib/lease-server-worker.js', import.meta.url).pathname,
      store.dirs.configDir,
      store.dirs.dataDir,
    ],
    cpu: null,
    env: { ...process.env, ...store.env },
  })

const rows = []
const baseline = {}
async function run(label, servers, store) {
  const load = leaseLoad(
    servers.map((s) => s.url),
    store,
  )
  await load.prepare()
  const cases = [
    ['GET /api/health (floor)', load.health],
    ['handshake', load.handshake],
    [`report, ${BATCH} requests`, load.report],
  ]
  for (const [name, call] of cases) {
    for (let i = 0; i < 20; i++) await call(i).catch(() => {}) // warm-up
    const meter = loadMeter({ pids: [process.pid], groups: servers.map((s) => s.pid) })
    const r = await measure(SECONDS, CONCURRENCY, call)
    const load = meter.stop()
    const perSecond = r.calls / r.seconds
    baseline[name] ??= perSecond
    rows.push({
      setup: label,
      case: name,
      'calls/s': Math.round(perSecond),
      'requests/s': name.startsWith('report') ? Math.round(r.units / r.seconds) : '',
      'vs SQLite': `${(perSecond / baseline[name]).toFixed(2)}×`,
      failed: r.failed,
      'other load': load ? `${(load.others * 100).toFixed(0)}%` : 'n/a',
    })
    log(`${label}: ${name}: ${Math.round(perSecond)}/s`)
  }
  await load.close()
}

// SQLite first: the figures the PostgreSQL setups are compared with.
const sqlite = await freshStore()
const single = await startServe(sqlite)
await run('iron serve on SQLite', [single], sqlite)
await single.stop()

const pg = await startMigratedPostgres()
try {
  const store = await freshStore(pg.url)
  const replicas = [await startServe(store)]
  await run('1 replica on PostgreSQL', replicas, store)
  replicas.push(await startServe(store), await startServe(store))
  await run('3 replicas on PostgreSQL', replicas, store)
  for (const r of replicas) await r.stop()
} finally {
  await pg.stop()
}

if (JSON_OUT) {
  console.log(
    JSON.stringify(
      { node: process.versions.node, cpus: cpuCount(), seconds: SECONDS, concurrency: CONCURRENCY, rows },
      null,
      2,
    ),
  )
} else {
  console.log(
    `postgres-replicas: the lease protocol on iron serve (node ${process.versions.node}, ${cpuCount()} CPUs, ${SECONDS} s a case, ${CONCURRENCY} in flight)`,
  )
  console.table(rows)
}
const failed = rows.reduce((s, r) => s + r.failed, 0)
if (failed > 0) log(`FAILED: ${failed} calls failed`)
process.exitCode = failed === 0 ? 0 : 1
