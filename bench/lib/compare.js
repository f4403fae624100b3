// A/B comparison against a direct baseline, interleaved so that machine noise hits both sides alike: each
// round runs direct, candidate A, direct, candidate B, ... and the added latency of a candidate is the median,
// over rounds, of its difference with the direct run just before it.
//
//   const result = await compareAB({
//     name: 'chat json c=16', direct: { url: mock.url }, candidates: [{ name: 'passthrough', url: proxy.url }],
//     load: { path: '/v1/chat/completions', body, concurrency: 16, requests: 4000, warmup: 200 }, rounds: 5,
//   })
//   printCompare(result)
import { runLoad } from '../../dist/src/testing/load.js'

/**
 * @typedef {object} Target
 * @property {string} name
 * @property {string} url Base URL (origin, optionally with a path prefix).
 * @property {Record<string, string>} [headers] Merged over load.headers for this target (e.g. its own key).
 */

/**
 * @typedef {object} CompareOptions
 * @property {string} name
 * @property {{ url: string, headers?: Record<string, string> }} direct
 * @property {Target[]} candidates
 * @property {Omit<import('../../src/testing/load.js').LoadOptions, 'url'>} load Passed to runLoad for every run.
 * @property {number} [rounds] Default 5.
 * @property {(run: { round: number, target: string, result: import('../../src/testing/load.js').LoadResult }) => void} [onRun]
 */

const median = (values) => {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  // The mean of the two middle values for an even count.
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
}

/** The figures kept from one run. */
const brief = (r) => ({
  p50: r.latency.p50,
  p99: r.latency.p99,
  ttfbP50: r.ttfb.p50,
  ttfbP99: r.ttfb.p99,
  rps: r.rps,
  count: r.count,
  errors: r.errors,
  statusCounts: r.statusCounts,
  errorSamples: r.errorSamples,
})

/**
 * Runs the interleaved comparison.
 * @param {CompareOptions} options
 */
export async function compareAB(options) {
  const rounds = Math.max(1, Math.floor(options.rounds ?? 5))
  const load = options.load
  /** @type {Map<string, { direct: ReturnType<typeof brief>, candidate: ReturnType<typeof brief> }[]>} */
  const pairs = new Map(options.candidates.map((c) => [c.name, []]))
  const run = async (round, name, target) => {
    const result = await runLoad({
      ...load,
      url: target.url,
      headers: { ...load.headers, ...target.headers },
    })
    options.onRun?.({ round, target: name, result })
    return brief(result)
  }
  for (let round = 0; round < rounds; round++) {
    for (const candidate of options.candidates) {
      const direct = await run(round, 'direct', options.direct)
      const result = await run(round, candidate.name, candidate)
      pairs.get(candidate.name)?.push({ direct, candidate: result })
    }
  }

  const candidates = options.candidates.map((c) => {
    const list = pairs.get(c.name) ?? []
    const of = (side, key) => median(list.map((p) => p[side][key]))
    const diff = (key) => list.map((p) => p.candidate[key] - p.direct[key])
    const ratio = (key) => median(list.map((p) => p.candidate[key] / p.direct[key]))
    const addedP50 = diff('p50')
    return {
      name: c.name,
      url: c.url,
      direct: {
        p50: of('direct', 'p50'),
        p99: of('direct', 'p99'),
        ttfbP50: of('direct', 'ttfbP50'),
        ttfbP99: of('direct', 'ttfbP99'),
        rps: of('direct', 'rps'),
      },
      candidate: {
        p50: of('candidate', 'p50'),
        p99: of('candidate', 'p99'),
        ttfbP50: of('candidate', 'ttfbP50'),
        ttfbP99: of('candidate', 'ttfbP99'),
        rps: of('candidate', 'rps'),
      },
      added: {
        p50: median(addedP50),
        p99: median(diff('p99')),
        ttfbP50: median(diff('ttfbP50')),
        ttfbP99: median(diff('ttfbP99')),
        /** Spread of the per-round p50 differences: how much to trust `added.p50`. */
        p50Min: Math.min(...addedP50),
        p50Max: Math.max(...addedP50),
      },
      ratio: { p50: ratio('p50'), p99: ratio('p99'), rps: ratio('rps') },
      errors: list.reduce((n, p) => n + p.candidate.errors, 0),
      directErrors: list.reduce((n, p) => n + p.direct.errors, 0),
      errorSamples: list.flatMap((p) => [...p.direct.errorSamples, ...p.candidate.errorSamples]).slice(0, 5),
      rounds: list,
    }
  })
  return {
    name: options.name,
    rounds,
    concurrency: load.concurrency ?? 1,
    stream: load.stream === true,
    requests: load.requests,
    durationMs: load.durationMs,
    candidates,
  }
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(3) : '-')
const signed = (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(3)}` : '-')

/**
 * Table rows (one per candidate) for console.table; times in ms.
 * @param {Awaited<ReturnType<typeof compareAB>>} result
 */
export function compareRows(result) {
  return result.candidates.map((c) => ({
    case: result.name,
    candidate: c.name,
    'direct p50/p99': `${ms(c.direct.p50)} / ${ms(c.direct.p99)}`,
    'cand p50/p99': `${ms(c.candidate.p50)} / ${ms(c.candidate.p99)}`,
    'added p50': `${signed(c.added.p50)} [${signed(c.added.p50Min)}, ${signed(c.added.p50Max)}]`,
    'added p99': signed(c.added.p99),
    ...(result.stream
      ? { 'added ttfb p50/p99': `${signed(c.added.ttfbP50)} / ${signed(c.added.ttfbP99)}` }
      : {}),
    'rps direct/cand': `${Math.round(c.direct.rps)} / ${Math.round(c.candidate.rps)}`,
    'rps ratio': Number.isFinite(c.ratio.rps) ? c.ratio.rps.toFixed(2) : '-',
    errors: c.errors + c.directErrors,
  }))
}

/**
 * Prints a comparison (or several) as one table.
 * @param {Awaited<ReturnType<typeof compareAB>> | Awaited<ReturnType<typeof compareAB>>[]} results
 */
export function printCompare(results) {
  const list = Array.isArray(results) ? results : [results]
  console.table(list.flatMap(compareRows))
}

export { median }
