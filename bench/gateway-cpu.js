#!/usr/bin/env node
// CPU time the gateway process spends per request (user + system, from /proc), for JSON and streaming
// chat completions: steadier than latency on a shared machine, so the figure to compare two builds with.
// `--root DIR` runs the gateway of another checkout's build (e.g. a worktree of the previous commit).
//   npm run build && node bench/gateway-cpu.js [--slow] [--rounds 3] [--root ../other-checkout]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runLoad } from '../dist/src/testing/load.js'
import { prepareIronStore } from './lib/iron-store.js'
import { cpuCount, hasTaskset, spawnIronGateway, spawnMockProvider } from './lib/spawn-pinned.js'

const { values } = parseArgs({
  options: {
    slow: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    root: { type: 'string' },
  },
})
if (process.platform !== 'linux') {
  console.error('gateway-cpu.js reads /proc: Linux only')
  process.exit(2)
}
const root = values.root
const pin = hasTaskset() && cpuCount() >= 2
// --slow: one-second streams of 20 events, to weigh the per-event path.
const mock = await spawnMockProvider({
  args: values.slow ? ['--chunk-delay', '50', '--output-tokens', '20'] : [],
  cpu: pin ? 0 : null,
})
const iron = await prepareIronStore(/** @type {string} */ (mock.url))
const gateway = await spawnIronGateway({ env: iron.env, cpu: pin ? 1 : null, root })
const clockTicks = 100 // USER_HZ on Linux
/** User + system CPU of the gateway so far, in µs. */
const cpuMicros = () => {
  const fields = readFileSync(`/proc/${gateway.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks
}

/** @type {Array<[string, boolean, number, number]>} name, stream, concurrency, requests per round */
const cases = values.slow
  ? [['stream of 20 events, 500 concurrent', true, 500, 3000]]
  : [
      ['JSON, 1 concurrent', false, 1, 8000],
      ['JSON, 16 concurrent', false, 16, 30000],
      ['stream, 16 concurrent', true, 16, 20000],
    ]
try {
  console.log(`gateway from ${root ?? 'this checkout'}; CPU µs per request, each round (lowest first):`)
  for (const [name, stream, concurrency, requests] of cases) {
    const load = {
      url: /** @type {string} */ (gateway.url),
      path: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        stream,
        messages: [{ role: 'user', content: 'Say hello in a short sentence please, with a few words.' }],
      },
      headers: { authorization: `Bearer ${iron.token}` },
      concurrency,
      requests,
      stream,
      timeoutMs: 60_000,
    }
    await runLoad({ ...load, requests: Math.min(requests, 3000) })
    const rounds = []
    for (let r = 0; r < Number(values.rounds); r++) {
      const before = cpuMicros()
      const result = await runLoad(load)
      rounds.push({ us: (cpuMicros() - before) / requests, rps: result.rps, errors: result.errors })
    }
    rounds.sort((a, b) => a.us - b.us)
    console.log(
      `  ${name.padEnd(38)} ${rounds.map((r) => r.us.toFixed(0).padStart(5)).join(' ')} µs` +
        `   (${rounds.map((r) => r.rps.toFixed(0)).join(' / ')} req/s, errors ${rounds.reduce((n, r) => n + r.errors, 0)})`,
    )
  }
} finally {
  await gateway.stop()
  await mock.stop()
}
