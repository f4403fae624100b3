#!/usr/bin/env node
// Whether the gateway's streaming throughput holds over a long run: rounds of 64 concurrent streams through
// one gateway on one store, each round's requests/s and p99 beside the store's size and its WAL. A figure
// that falls as the store grows would point at something that grows with it (the WAL not being
// checkpointed, a query that is not an index search, a cache that grows).
//   npm run build && node bench/steady-streams.js [--rounds 12] [--requests 6000]
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runLoad } from '../dist/src/testing/load.js'
import { prepareIronStore } from './lib/iron-store.js'
import { cpuCount, hasTaskset, spawnIronGateway, spawnMockProvider } from './lib/spawn-pinned.js'

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '12' }, requests: { type: 'string', default: '6000' } },
})
const pin = hasTaskset() && cpuCount() >= 2
const mock = await spawnMockProvider({ cpu: pin ? 0 : null })
const iron = await prepareIronStore(/** @type {string} */ (mock.url))
const gateway = await spawnIronGateway({ env: iron.env, cpu: pin ? 1 : null })
const body = {
  model: 'gpt-4o-mini',
  max_tokens: 16,
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'Say something short about benchmarks.' }],
}
const store = join(iron.dirs.dataDir, 'iron.db')
const size = (path) => {
  try {
    return statSync(path).size / 1e6
  } catch {
    return 0
  }
}
const rows = []
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    const result = await runLoad({
      url: /** @type {string} */ (gateway.url),
      path: '/v1/chat/completions',
      body,
      headers: { authorization: `Bearer ${iron.token}` },
      concurrency: 64,
      requests: Number(values.requests),
      stream: true,
    })
    rows.push({
      round,
      'requests/s': Math.round(result.rps),
      'p99 ms': Number(result.latency.p99.toFixed(1)),
      errors: result.errors,
      'store MB': Number(size(store).toFixed(1)),
      'WAL MB': Number(size(`${store}-wal`).toFixed(1)),
    })
    console.error(`round ${round}: ${Math.round(result.rps)} streams/s`)
  }
} finally {
  process.kill(/** @type {number} */ (gateway.pid), 'SIGINT')
  process.kill(/** @type {number} */ (mock.pid), 'SIGTERM')
}
console.table(rows)
const steady = rows.slice(1)
const rates = steady.map((r) => r['requests/s'])
console.log(
  `after the first (warm-up) round: ${Math.min(...rates)}–${Math.max(...rates)} streams/s; ` +
    `the last round at ${((rates.at(-1) / Math.max(...rates)) * 100).toFixed(0)} % of the best`,
)
process.exit(0)
