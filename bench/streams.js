#!/usr/bin/env node
// 1,000 concurrent streams through iron's gateway, each a one-second stream from the mock provider:
// added p99 (whole stream and time to first byte) against the same load sent directly, interleaved
// (direct, gateway, direct, gateway), and the gateway's peak resident memory. The bare node:http
// pass-through runs the same load as the floor: what any proxy in one Node process on the same core adds
// (when the floor itself misses a target, the machine cannot show it met).
// Targets (SPEC §11): added p99 ≤ 5 ms, resident memory ≤ 200 MB.
//   npm run build && node bench/streams.js [--streams 1000] [--rounds 2] [--no-floor]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runLoad } from '../dist/src/testing/load.js'
import { compareAB, printCompare } from './lib/compare.js'
import { prepareIronStore } from './lib/iron-store.js'
import {
  cpuCount,
  hasTaskset,
  spawnIronGateway,
  spawnMockProvider,
  spawnPassthrough,
} from './lib/spawn-pinned.js'

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    'no-floor': { type: 'boolean', default: false },
  },
})
const streams = Number(values.streams)
const pin = hasTaskset() && cpuCount() >= 2
// 20 chunks 50 ms apart: each stream lasts about a second.
const mock = await spawnMockProvider({
  args: ['--chunk-delay', '50', '--output-tokens', '20'],
  cpu: pin ? 0 : null,
})
const floor = values['no-floor']
  ? undefined
  : await spawnPassthrough({ upstream: /** @type {string} */ (mock.url), cpu: pin ? 1 : null })
const iron = await prepareIronStore(/** @type {string} */ (mock.url))
const gateway = await spawnIronGateway({ env: iron.env, cpu: pin ? 1 : null })

/** Peak resident set (VmHWM) of a process, in MB. */
const peakRss = (pid = gateway.pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

try {
  const body = {
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'Stream me a short answer.' }],
  }
  const endsWithDone = (_status, buf) => buf.subarray(-14).toString() === 'data: [DONE]\n\n'
  const load = {
    path: '/v1/chat/completions',
    body,
    headers: { authorization: 'Bearer sk-mock-provider-key' },
    concurrency: streams,
    requests: streams * 2,
    stream: true,
    timeoutMs: 60_000,
    check: endsWithDone,
  }
  // Warm up both paths (JIT, connection pools) with a smaller wave.
  for (const target of [
    { url: mock.url },
    ...(floor ? [{ url: floor.url }] : []),
    { url: gateway.url, headers: { authorization: `Bearer ${iron.token}` } },
  ]) {
    await runLoad({
      ...load,
      url: /** @type {string} */ (target.url),
      headers: { ...load.headers, ...target.headers },
      requests: 400,
      concurrency: 200,
    })
  }
  const result = await compareAB({
    name: `${streams} concurrent 1 s streams`,
    direct: { url: /** @type {string} */ (mock.url) },
    candidates: [
      ...(floor ? [{ name: 'passthrough', url: /** @type {string} */ (floor.url) }] : []),
      {
        name: 'iron',
        url: /** @type {string} */ (gateway.url),
        headers: { authorization: `Bearer ${iron.token}` },
      },
    ],
    rounds: Number(values.rounds),
    load,
  })
  printCompare([result])
  const c = result.candidates[result.candidates.length - 1]
  const base = result.candidates.find((x) => x.name === 'passthrough')
  const rss = peakRss()
  console.log(`\niron gateway, ${streams} concurrent streams of about 1 s:`)
  console.log(
    `  ${c.added.p99 <= 5 ? 'met   ' : 'MISSED'}  added p99 ≤ 5 ms: ${c.added.p99.toFixed(3)} ms (TTFB p99 added ${c.added.ttfbP99.toFixed(3)} ms)`,
  )
  console.log(`  ${rss <= 200 ? 'met   ' : 'MISSED'}  peak resident memory ≤ 200 MB: ${rss.toFixed(1)} MB`)
  console.log(`  errors: ${c.errors} through iron, ${c.directErrors} direct`)
  if (base && floor) {
    console.log(
      `  floor: the bare pass-through adds ${base.added.p99.toFixed(3)} ms p99 (TTFB ${base.added.ttfbP99.toFixed(3)} ms) ` +
        `at ${base.candidate.rps.toFixed(0)} streams/s, peak resident memory ${peakRss(floor.pid).toFixed(1)} MB`,
    )
  }
} finally {
  await floor?.stop()
  await gateway.stop()
  await mock.stop()
}
