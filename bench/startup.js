#!/usr/bin/env node
// Times whole `iron` processes (median of several runs), against a bare `node -e 0` in the same run.
// Targets (SPEC §11): `iron --version` ≤ 200 ms; a listing command ≤ 350 ms.
//   node bench/startup.js [--runs 15]
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, summarize } from '../dist/src/testing/stats.js'

const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'iron-bench-'))
const env = {
  ...process.env,
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  XDG_DATA_HOME: join(home, 'data'),
  IRON_CREDENTIAL_STORE: 'file',
}

function time(args) {
  const samples = []
  for (let i = 0; i < RUNS + 2; i++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`)
    if (i >= 2) samples.push(ms) // the first runs warm the compile cache and the page cache
  }
  return summarize(samples)
}

spawnSync(process.execPath, [bin, 'init'], { env, stdio: 'ignore' })
const cases = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'iron --version', args: [bin, '--version'], target: 200 },
  { name: 'iron config list', args: [bin, 'config', 'list'], target: 350 },
  { name: 'iron doctor', args: [bin, 'doctor'], target: 350 },
]
const baseline = time(cases[0].args)
const rows = []
let failed = false
for (const c of cases) {
  const s = c === cases[0] ? baseline : time(c.args)
  const ok = c.target === undefined || s.p50 <= c.target
  failed ||= !ok
  rows.push({
    case: c.name,
    median: fmt(s.p50),
    min: fmt(s.min),
    max: fmt(s.max),
    'vs node': `${(s.p50 / baseline.p50).toFixed(2)}x`,
    target: c.target ? `≤ ${c.target} ms ${ok ? 'ok' : 'MISSED'}` : '',
  })
}
console.log(`startup, median of ${RUNS} runs (node ${process.versions.node})`)
console.table(rows)
process.exitCode = failed ? 1 : 0
