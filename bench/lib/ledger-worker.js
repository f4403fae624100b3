// One OS process driving one agent's budget through the control plane (the compiled build), for the
// ledger benchmark and the multi-process ledger test. Prints one JSON line with its counts and timing.
//   node bench/lib/ledger-worker.js <config-dir> <data-dir> <agent-id> <pairs> <amount-micros> [in-flight]
// With in-flight 1, pairs run one after another; with more, that many run at once, as gateway requests do
// (movements of the same turn of the event loop then share one transaction: group commit).
import { IronConfig } from '../../dist/src/config/config.js'
import { MemoryVault } from '../../dist/src/config/vault.js'
import { LocalContext } from '../../dist/src/services/context.js'
import { createLocalControlPlane } from '../../dist/src/services/local/index.js'

const [configDir, dataDir, agentId, pairs, amount, inflight = '1'] = process.argv.slice(2)
const config = await IronConfig.load({ configDir, dataDir }, {})
const ctx = new LocalContext({ config, env: {}, vault: new MemoryVault() })
const { budgets } = createLocalControlPlane(ctx)
let reserved = 0
let committed = 0
let refused = 0
let charged = 0
const started = process.hrtime.bigint()
let next = 0
async function lane() {
  while (next < Number(pairs)) {
    next++
    const r = await budgets.reserve({
      agent_id: agentId,
      amount_micros: Number(amount),
      holder: `pid-${process.pid}`,
    })
    if (!r.ok) {
      refused++
      continue
    }
    reserved++
    // Actual cost between half and all of the reservation, as real requests are.
    const actual = Math.floor(Number(amount) * (0.5 + Math.random() / 2))
    // Awaited first: `charged += await …` would read charged before the await and lose other lanes' adds.
    const settled = await budgets.commit({ reservation_id: r.reservation_id, actual_micros: actual })
    charged += settled.charged_micros
    committed++
  }
}
await Promise.all(Array.from({ length: Number(inflight) }, lane))
const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
ctx.close()
process.stdout.write(`${JSON.stringify({ reserved, committed, refused, charged, elapsedMs })}\n`)
