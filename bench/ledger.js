#!/usr/bin/env node
// Reserve+commit pairs per second on one store file: one process, then four processes at once.
// Target: ≥ 20,000 pairs/s in one process, so that the ledger is never what limits the gateway.
//   npm run build && node bench/ledger.js [--pairs 50000]
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { IronConfig } from '../dist/src/config/config.js'
import { MemoryVault } from '../dist/src/config/vault.js'
import { LocalContext } from '../dist/src/services/context.js'
import { createLocalControlPlane } from '../dist/src/services/local/index.js'

const pairsArg = process.argv.indexOf('--pairs')
const PAIRS = pairsArg > 0 ? Number(process.argv[pairsArg + 1]) : 50_000
const worker = fileURLToPath(new URL('./lib/ledger-worker.js', import.meta.url))

async function freshAgent() {
  const root = mkdtempSync(join(tmpdir(), 'iron-bench-ledger-'))
  const dirs = { configDir: join(root, 'config'), dataDir: join(root, 'data') }
  const ctx = new LocalContext({ config: await IronConfig.load(dirs, {}), env: {}, vault: new MemoryVault() })
  const cp = createLocalControlPlane(ctx)
  const agent = await cp.agents.create({ name: 'bench' })
  // A limit no run can reach, so every pair is a real reserve + commit.
  await cp.budgets.set('bench', { limit_micros: 1_000_000_000_000 })
  ctx.close()
  return { dirs, agentId: agent.id }
}

function run(dirs, agentId, pairs, inflight) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      worker,
      dirs.configDir,
      dirs.dataDir,
      agentId,
      String(pairs),
      '1000',
      String(inflight),
    ])
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))))
  })
}

const rows = []
for (const inflight of [1, 64]) {
  const { dirs, agentId } = await freshAgent()
  await run(dirs, agentId, 2_000, inflight) // warm-up
  const r = await run(dirs, agentId, PAIRS, inflight)
  const rate = Math.round(r.committed / (r.elapsedMs / 1000))
  rows.push({
    case: `1 process, ${inflight} in flight`,
    pairs: r.committed,
    seconds: (r.elapsedMs / 1000).toFixed(2),
    'pairs/s': rate,
  })
}
for (const inflight of [1, 64]) {
  const { dirs, agentId } = await freshAgent()
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: 4 }, () => run(dirs, agentId, Math.round(PAIRS / 2), inflight)),
  )
  const elapsed = (performance.now() - started) / 1000
  const total = results.reduce((s, r) => s + r.committed, 0)
  rows.push({
    case: `4 processes, one agent, ${inflight} in flight each`,
    pairs: total,
    seconds: elapsed.toFixed(2),
    'pairs/s': Math.round(total / elapsed),
  })
}
console.log(
  `ledger: reserve+commit pairs, each its own BEGIN IMMEDIATE transaction (node ${process.versions.node})`,
)
console.table(rows)
const best = Math.max(rows[0]['pairs/s'], rows[1]['pairs/s'])
const ok = best >= 20_000
console.log(`target ≥ 20,000 pairs/s in one process (gateway-like, many in flight): ${ok ? 'met' : 'MISSED'}`)
process.exitCode = ok ? 0 : 1
