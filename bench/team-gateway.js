#!/usr/bin/env node
// What team mode adds on the request path (issue 14): the same gateway (`iron gateway start`, from the build)
// in local mode (its store on this machine) and in team mode (`--server`: budget leased from an `iron serve`,
// each request written to its outbox and reported in batches), against the mock provider, in one run.
// Interleaved rounds: direct, local, direct, team, ... (added latency of each over the provider), then
// local, team, local, team, ... (team mode's difference from local mode, the median of per-round differences).
// SPEC's bar for team mode: nothing measurable on the request path, i.e. within 0.05 ms of local mode at p50.
//
//   npm run build && node bench/team-gateway.js [--quick] [--rounds 5] [--requests N] [--json]
//
// CPU layout (with taskset): the gateway under test has a CPU of its own; the driver, the mock provider and
// iron serve share the other (iron serve is off the request path: it only receives the reports, at nice 19).
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { compareAB, printCompare } from './lib/compare.js'
import { prepareIronStore, tempIronHome } from './lib/iron-store.js'
import { loadMeter } from './lib/machine.js'
import {
  cpuCount,
  hasTaskset,
  pinProcess,
  spawnIronGateway,
  spawnMockProvider,
  spawnPinned,
} from './lib/spawn-pinned.js'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    requests: { type: 'string' },
    json: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
  },
})
const rounds = Number(values.rounds ?? (values.quick ? 3 : 7))
const requests = Number(values.requests ?? (values.quick ? 800 : 2000))
const BAR_MS = 0.05
const BUSY = 0.05
const log = (line) => process.stderr.write(`${line}\n`)
const signed = (ms) => `${ms >= 0 ? '+' : ''}${ms.toFixed(3)}`

const pin = !values['no-pin'] && hasTaskset() && cpuCount() >= 2
const [sharedCpu, gatewayCpu] = pin ? [0, 1] : [null, null]

const mock = await spawnMockProvider({ cpu: sharedCpu })
const children = [mock]
const stopAll = () => Promise.all(children.map((c) => c.stop()))
process.once('SIGINT', () => stopAll().then(() => process.exit(130)))

try {
  const store = await prepareIronStore(/** @type {string} */ (mock.url))
  const server = await spawnPinned({
    command: process.execPath,
    args: [
      new URL('./lib/lease-server-worker.js', import.meta.url).pathname,
      store.dirs.configDir,
      store.dirs.dataDir,
    ],
    cpu: sharedCpu,
    // Off the request path (in a team, on another machine): the reports it takes must not slow the driver
    // and the mock provider it shares a CPU with here, or team mode would pay for the server's work.
    nice: 19,
    env: store.env,
  })
  children.push(server)
  const local = await spawnIronGateway({ env: store.env, cpu: gatewayCpu })
  children.push(local)
  const teamHome = tempIronHome('iron-bench-team-')
  const team = await spawnIronGateway({
    env: teamHome.env,
    cpu: gatewayCpu,
    flags: ['--server', /** @type {string} */ (server.url)],
  })
  children.push(team)
  if (pin) pinProcess(/** @type {number} */ (sharedCpu))

  const auth = { authorization: `Bearer ${store.token}` }
  const body = {
    model: 'gpt-4o-mini',
    max_tokens: 64,
    messages: [
      { role: 'user', content: 'Summarise the ticket: the customer cannot log in since the update.' },
    ],
  }
  const gateways = [
    { name: 'local', url: /** @type {string} */ (local.url), headers: auth },
    { name: 'team', url: /** @type {string} */ (team.url), headers: auth },
  ]
  /** User + system CPU a process has used so far, in µs (Linux /proc; null elsewhere). */
  const cpuMicros = (pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
    } catch {
      return null
    }
  }
  const cpuBefore = { local: cpuMicros(local.pid), team: cpuMicros(team.pid) }
  const WARMUP = 300
  let served = 0
  const results = []
  const loads = []
  for (const stream of [false, true]) {
    const load = {
      path: '/v1/chat/completions',
      method: 'POST',
      body: stream ? { ...body, stream: true } : body,
      stream,
      concurrency: 1,
      // A stream comes in 4 pieces a millisecond apart, so that its first byte is its first token: sent all
      // at once, a stream's first and last bytes leave together and TTFB would time the settlement.
      requests: stream ? Math.ceil(requests / 2) : requests,
      warmup: WARMUP,
      headers: {
        authorization: 'Bearer sk-mock-provider-key',
        ...(stream ? { 'x-mock-chunk-delay-ms': '1', 'x-mock-chunks': '4' } : {}),
      },
    }
    const kind = stream ? 'stream' : 'json'
    for (const [name, direct, candidates] of [
      [`chat ${kind} c=1, over the provider`, { url: /** @type {string} */ (mock.url) }, gateways],
      [`chat ${kind} c=1, team over local`, gateways[0], [gateways[1]]],
    ]) {
      log(`${name}…`)
      const meter = loadMeter({ pids: [process.pid], groups: children.map((c) => c.pid) })
      results.push(await compareAB({ name, direct, candidates, load, rounds }))
      loads.push(meter.stop())
      // Each gateway answers every round's warm-up and measured requests once per case.
      served += rounds * (requests + WARMUP)
    }
  }

  const cpuPerRequest = (name, pid) => {
    const now = cpuMicros(pid)
    return now === null || cpuBefore[name] === null ? null : (now - cpuBefore[name]) / served
  }
  const cpu = { local: cpuPerRequest('local', local.pid), team: cpuPerRequest('team', team.pid) }
  const delta = (kind) => results.find((r) => r.name === `chat ${kind} c=1, team over local`).candidates[0]
  const json = delta('json')
  const stream = delta('stream')
  const verdict = {
    bar_ms: BAR_MS,
    json_added_p50_ms: json.added.p50,
    cpu_us_per_request: cpu,
    stream_added_p50_ms: stream.added.p50,
    stream_added_ttfb_p50_ms: stream.added.ttfbP50,
    pass: json.added.p50 <= BAR_MS && stream.added.p50 <= BAR_MS && stream.added.ttfbP50 <= BAR_MS,
  }
  const busiest = Math.max(...loads.map((l) => (l ? l.others : 0)))
  if (values.json) {
    console.log(
      JSON.stringify(
        { node: process.versions.node, cpus: cpuCount(), pinned: pin, results, verdict, busiest },
        null,
        2,
      ),
    )
  } else {
    console.log(
      `team-gateway: the gateway in team mode vs local mode (node ${process.versions.node}, ${cpuCount()} CPUs, ${rounds} rounds of ${requests})`,
    )
    printCompare(results)
    if (cpu.local !== null && cpu.team !== null)
      console.log(
        `gateway CPU per request (whole run, background reports included): local ${cpu.local.toFixed(0)} µs, team ${cpu.team.toFixed(0)} µs`,
      )
    console.log(
      `team mode over local mode at p50: JSON ${signed(json.added.p50)} ms [${json.added.p50Min.toFixed(3)}, ${json.added.p50Max.toFixed(3)}], ` +
        `stream ${signed(stream.added.p50)} ms [${stream.added.p50Min.toFixed(3)}, ${stream.added.p50Max.toFixed(3)}], ` +
        `stream TTFB ${signed(stream.added.ttfbP50)} ms; bar ≤ ${BAR_MS} ms: ${verdict.pass ? 'PASS' : 'FAIL'}`,
    )
  }
  if (busiest > BUSY)
    log(
      `warning: other processes used up to ${Math.round(busiest * 100)}% of the CPUs during a case; rerun on a quiet machine`,
    )
  const errors = results.reduce(
    (n, r) => n + r.candidates.reduce((m, c) => m + c.errors + c.directErrors, 0),
    0,
  )
  if (errors > 0) log(`FAILED: ${errors} requests failed`)
  process.exitCode = errors === 0 ? 0 : 1
} finally {
  await stopAll()
}
