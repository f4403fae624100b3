#!/usr/bin/env node
// The floor of gateway overhead: latency a bare Node pass-through proxy adds over calling the provider
// directly, for OpenAI chat completions (JSON, and streaming with include_usage) at 1, 16 and 64 concurrent
// requests. The mock provider and the pass-through run as child processes; with `taskset` the proxy gets a CPU
// of its own (3+ CPUs: driver 0, mock 1, proxy 2; 2 CPUs: driver and mock share 0, proxy 1). Runs are
// interleaved (direct, pass-through, direct, ...) for `--rounds` rounds after a JIT warm-up of every process,
// and the added latency is the median of the per-round differences.
//
//   node bench/proxy-floor.js [--quick] [--rounds 5] [--requests N] [--concurrency 1,16,64] [--chunk-delay MS]
//                             [--prompt-chars N]   (the user message padded to N characters of prose)
//                             [--cpus driver,mock,proxy] [--no-pin] [--json]
//                             [--gateway '<command>' --gateway-header 'name: value' ...] [--iron]
//
// --iron-without audit (or firewall) adds the same gateway with that part off, to measure what it costs.
// --iron adds iron's gateway (`iron gateway start`, from the build) as a candidate, on a fresh store whose
// provider is the mock, with auth, reservation, metering and usage writes all on, and checks SPEC §11's
// targets: at c=1 added p50 ≤ 0.3 ms and p99 ≤ 1 ms (JSON), streaming TTFB added ≤ 0.3 ms; ≥ 5,000 req/s at c=64.
//
// --requests N fixes the measured requests per run (default 2000 at c=1, 4000 above; --quick: 800/1600).
// --gateway runs an extra candidate: the command (run with sh -c, in its own process group, pinned to the
// proxy CPU) must print `listening on <url>`; it gets MOCK_PROVIDER_URL (and IRON_BENCH_UPSTREAM) in its
// environment, and {upstream} in the command is replaced with the mock's URL. --gateway-header adds request
// headers for it only (e.g. its own virtual key); everyone else sends `authorization: Bearer sk-mock-provider-key`.
import { parseArgs } from 'node:util'
import { runLoad } from '../dist/src/testing/load.js'
import { compareAB, printCompare } from './lib/compare.js'
import { prepareIronStore } from './lib/iron-store.js'
import { loadMeter } from './lib/machine.js'
import {
  cpuCount,
  hasTaskset,
  pinProcess,
  spawnIronGateway,
  spawnMockProvider,
  spawnPassthrough,
  spawnPinned,
} from './lib/spawn-pinned.js'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    requests: { type: 'string' },
    concurrency: { type: 'string', default: '1,16,64' },
    cpus: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    'chunk-delay': { type: 'string', default: '0' },
    'prompt-chars': { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    gateway: { type: 'string' },
    'gateway-header': { type: 'string', multiple: true, default: [] },
    iron: { type: 'boolean', default: false },
    'iron-without': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log(
    'usage: node bench/proxy-floor.js [--quick] [--rounds N] [--requests N] [--concurrency 1,16,64]\n' +
      '       [--chunk-delay MS] [--cpus driver,mock,proxy] [--no-pin] [--json]\n' +
      "       [--gateway '<cmd>' --gateway-header 'k: v']",
  )
  process.exit(0)
}

const rounds = Number(values.rounds ?? (values.quick ? 3 : 5))
const concurrencies = values.concurrency.split(',').map(Number)
/** Measured requests per run: enough for a stable p99, small enough to keep the default run under a minute. */
const requestsFor = (c) => Number(values.requests ?? (values.quick ? 800 : 2000) * (c === 1 ? 1 : 2))
const warmupFor = (c) => Math.max(200, c * 10)
/** Share of all CPUs' time used by other processes above which a case's figures are flagged. */
const BUSY = 0.05

// CPU layout [driver, mock, proxy]. The proxy (later the gateway) always gets a CPU of its own: it is what is
// measured, and in production it shares the machine with the client, not with the (remote) provider. With 3+
// CPUs each process has its own; with 2 the driver and the mock share CPU 0 (both sides of the baseline, so
// the direct runs are as CPU-bound as the proxied ones); with 1 nothing is pinned.
const n = cpuCount()
const pin = !values['no-pin'] && hasTaskset()
/** @type {(number | null)[]} */
let layout = [null, null, null]
if (values.cpus) layout = values.cpus.split(',').map((v) => (v === '' ? null : Number(v)))
else if (n >= 3) layout = [0, 1, 2]
else if (n === 2) layout = [0, 0, 1]
if (!pin) layout = [null, null, null]
const [driverCpu, mockCpu, proxyCpu] = layout

const mock = await spawnMockProvider({
  args: ['--chunk-delay', values['chunk-delay']],
  cpu: mockCpu,
})
/** @type {import('./lib/spawn-pinned.js').PinnedProcess[]} */
const children = [mock]
const stopAll = () => Promise.all(children.map((c) => c.stop()))
process.once('SIGINT', () => stopAll().then(() => process.exit(130)))

try {
  const proxy = await spawnPassthrough({ upstream: /** @type {string} */ (mock.url), cpu: proxyCpu })
  children.push(proxy)
  /** @type {import('./lib/compare.js').Target[]} */
  const candidates = [{ name: 'passthrough', url: /** @type {string} */ (proxy.url) }]
  if (values.gateway) {
    const gateway = await spawnPinned({
      command: '/bin/sh',
      args: ['-c', values.gateway.replaceAll('{upstream}', /** @type {string} */ (mock.url))],
      cpu: proxyCpu,
      env: { ...process.env, MOCK_PROVIDER_URL: mock.url, IRON_BENCH_UPSTREAM: mock.url },
      timeoutMs: 30_000,
    })
    children.push(gateway)
    /** @type {Record<string, string>} */
    const headers = {}
    for (const h of values['gateway-header']) {
      const i = h.indexOf(':')
      if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim()
    }
    candidates.push({ name: 'gateway', url: /** @type {string} */ (gateway.url), headers })
  }

  // iron itself, then the same gateway with one part turned off (--iron-without audit), each on its own store.
  const ironRuns = values.iron ? [{ name: 'iron', flags: [] }] : []
  for (const part of values['iron-without'])
    ironRuns.push({ name: `iron without ${part}`, flags: [`--no-${part}`] })
  for (const run of ironRuns) {
    const iron = await prepareIronStore(/** @type {string} */ (mock.url))
    const gateway = await spawnIronGateway({ env: iron.env, cpu: proxyCpu, flags: run.flags })
    children.push(gateway)
    candidates.push({
      name: run.name,
      url: /** @type {string} */ (gateway.url),
      headers: { authorization: `Bearer ${iron.token}` },
    })
  }

  // Pinned last: children inherit the affinity mask of the process that spawns them.
  const driverPinned = driverCpu !== null && pinProcess(driverCpu)

  const body = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a terse assistant. Answer in one short sentence.' },
      { role: 'user', content: userPrompt(Number(values['prompt-chars'])) },
    ],
    max_tokens: 16,
  }
  const streamBody = { ...body, stream: true, stream_options: { include_usage: true } }
  const endsWithDone = (_status, buf) => buf.subarray(-14).toString() === 'data: [DONE]\n\n'
  const isJson = (_status, buf) => buf[0] === 0x7b && buf[buf.length - 1] === 0x7d

  const fmtCpu = (cpu, pinned) => (pinned && cpu !== null ? `cpu ${cpu}` : 'unpinned')
  console.error(
    `proxy-floor: node ${process.versions.node}, ${n} CPUs, taskset ${hasTaskset() ? 'yes' : 'no'}; ` +
      `driver ${fmtCpu(driverCpu, driverPinned)}, mock ${fmtCpu(mockCpu, mock.pinned)}, ` +
      `passthrough ${fmtCpu(proxyCpu, proxy.pinned)}; ${rounds} rounds`,
  )
  if (pin && n === 2 && !values.cpus)
    console.error('proxy-floor: 2 CPUs, so the driver and the mock share one')

  // Warm every process's JIT first (a cold Node server is several times slower for its first few thousand
  // requests), through each candidate (which also warms the mock) and directly.
  for (const stream of [false, true]) {
    for (const target of [{ url: mock.url }, ...candidates]) {
      await runLoad({
        url: /** @type {string} */ (target.url),
        path: '/v1/chat/completions',
        body: stream ? streamBody : body,
        headers: { authorization: 'Bearer sk-mock-provider-key', ...target.headers },
        concurrency: 8,
        requests: values.quick ? 3000 : 6000,
        stream,
      })
    }
  }

  const started = Date.now()
  const results = []
  for (const concurrency of concurrencies) {
    for (const stream of [false, true]) {
      const name = `chat ${stream ? 'stream' : 'json'} c=${concurrency}`
      const meter = loadMeter({ pids: [process.pid], groups: children.map((c) => c.pid) })
      const result = await compareAB({
        name,
        direct: { url: /** @type {string} */ (mock.url) },
        candidates,
        rounds,
        load: {
          path: '/v1/chat/completions',
          body: stream ? streamBody : body,
          headers: { authorization: 'Bearer sk-mock-provider-key' },
          concurrency,
          requests: requestsFor(concurrency),
          warmup: warmupFor(concurrency),
          stream,
          check: stream ? endsWithDone : isJson,
        },
      })
      const load = meter.stop()
      results.push({ ...result, otherLoad: load?.others ?? null })
      const c = result.candidates[0]
      const other = load ? `, other processes ${(load.others * 100).toFixed(0)}% of the CPUs` : ''
      console.error(
        `  ${name}: passthrough adds ${c.added.p50.toFixed(3)} ms p50, ${c.added.p99.toFixed(3)} ms p99` +
          ` (${((Date.now() - started) / 1000).toFixed(1)} s${other})`,
      )
    }
  }

  if (values.json) {
    const layoutInfo = {
      cpus: n,
      driver: driverPinned ? driverCpu : null,
      mock: mock.pinned ? mockCpu : null,
    }
    console.log(
      JSON.stringify(
        {
          node: process.versions.node,
          layout: { ...layoutInfo, proxy: proxy.pinned ? proxyCpu : null },
          rounds,
          results: results.map((r) => ({ ...r, candidates: r.candidates.map(({ rounds: _, ...c }) => c) })),
        },
        null,
        2,
      ),
    )
  } else {
    console.log(
      `\nAdded latency vs direct (ms; median over ${rounds} rounds of per-round differences, [min, max] of p50):`,
    )
    printCompare(results)
    const c1 = results.find((r) => r.concurrency === 1 && !r.stream)?.candidates[0]
    if (c1) {
      console.log(
        `pass-through floor at c=1 (JSON): +${c1.added.p50.toFixed(3)} ms p50 ` +
          `(the spec's reference for a bare Node pass-through: about 0.15 ms)`,
      )
    }
    if (values.iron) {
      const iron = (c, stream) =>
        results
          .find((r) => r.concurrency === c && r.stream === stream)
          ?.candidates.find((x) => x.name === 'iron')
      const checks = [
        ['JSON c=1 added p50 ≤ 0.3 ms', iron(1, false)?.added.p50, (v) => v <= 0.3],
        ['JSON c=1 added p99 ≤ 1 ms', iron(1, false)?.added.p99, (v) => v <= 1],
        ['stream c=1 added TTFB p50 ≤ 0.3 ms', iron(1, true)?.added.ttfbP50, (v) => v <= 0.3],
        ['JSON c=64 ≥ 5,000 req/s', iron(64, false)?.candidate.rps, (v) => v >= 5000],
      ]
      console.log('\niron gateway against SPEC §11 (auth, reservation, metering, usage writes on):')
      for (const [name, value, ok] of checks) {
        if (value === undefined) continue
        console.log(
          `  ${ok(value) ? 'met   ' : 'MISSED'}  ${name}: ${value.toFixed(name.includes('req/s') ? 0 : 3)}`,
        )
      }
    }
    const busy = results.filter((r) => (r.otherLoad ?? 0) > BUSY)
    if (busy.length > 0) {
      console.log(
        `WARNING: other processes used more than ${BUSY * 100}% of the CPUs during ${busy.map((r) => r.name).join(', ')}: ` +
          'those figures are unreliable; rerun on a quiet machine',
      )
    }
    const errors = results.reduce(
      (sum, r) => sum + r.candidates.reduce((s, c) => s + c.errors + c.directErrors, 0),
      0,
    )
    if (errors > 0) console.log(`errors: ${errors} (see --json for samples)`)
    console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
} finally {
  await stopAll()
}

/** The user message: a short question, or prose of about `chars` characters (varied words, like a real prompt). */
function userPrompt(chars) {
  const question = 'Say something short about benchmarks.'
  if (!(chars > question.length)) return question
  const words = (
    'the quarterly report shows revenue growth in three regions while costs stayed flat and the team ' +
    'expects demand to rise after the product launch so please summarise the main risks and the next steps'
  ).split(' ')
  let text = `${question} Context:`
  for (let i = 0; text.length < chars; i++) text += ` ${words[(i * 7) % words.length]}`
  return text.slice(0, chars)
}
