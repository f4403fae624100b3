// One OS process hammering one agent's budget through the control plane, for the concurrency test
// and the ledger benchmark. Prints one JSON line: what it reserved, committed and was refused.
//   node --import tsx test/helpers/ledger-worker.ts <config-dir> <data-dir> <agent-id> <pairs> <amount>
import { IronConfig } from '../../src/config/config.js'
import { MemoryVault } from '../../src/config/vault.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'

const [configDir, dataDir, agentId, pairs, amount] = process.argv.slice(2)
const config = await IronConfig.load({ configDir: configDir!, dataDir: dataDir! }, {})
const ctx = new LocalContext({ config, env: {}, vault: new MemoryVault() })
const { budgets } = createLocalControlPlane(ctx)
let reserved = 0
let committed = 0
let refused = 0
let charged = 0
for (let i = 0; i < Number(pairs); i++) {
  const r = budgets.reserveSync({
    agent_id: agentId!,
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
  charged += budgets.commitSync({ reservation_id: r.reservation_id, actual_micros: actual }).charged_micros
  committed++
}
ctx.close()
process.stdout.write(`${JSON.stringify({ reserved, committed, refused, charged })}\n`)
