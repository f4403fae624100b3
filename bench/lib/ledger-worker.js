// One OS process standing for one gateway on a shared store, for the ledger benchmark and the multi-process
// ledger test: the gateway's own admission (a Gateway's LeaseBook over LocalGatewayControl, from the build)
// admits and settles requests for one agent, without HTTP or a provider around them. Prints one JSON line:
// {admitted, settled, refused, failed, charged, elapsedMs}; a settlement that fails (a gateway would answer
// 500, and the request's cost would be missing from the ledger) is counted in `failed`, its error on stderr.
//   node bench/lib/ledger-worker.js <config-dir> <data-dir> <agent-id> <requests> <worst-micros> [in-flight]
// With in-flight 1, requests run one after another; with more, that many run at once, as gateway requests do
// (settlements of the same turn of the event loop then share one transaction: group commit).
import { randomBytes } from 'node:crypto'
import { IronConfig } from '../../dist/src/config/config.js'
import { MemoryVault } from '../../dist/src/config/vault.js'
import { Gateway } from '../../dist/src/gateway/gateway.js'
import { newRecord } from '../../dist/src/gateway/record.js'
import { LocalContext } from '../../dist/src/services/context.js'
import { LocalGatewayControl } from '../../dist/src/services/local/gateway-control.js'

const [configDir, dataDir, agentId, requests, worstArg, inflight = '1'] = process.argv.slice(2)
const worst = Number(worstArg)
const config = await IronConfig.load({ configDir, dataDir }, {})
const ctx = new LocalContext({ config, env: {}, vault: new MemoryVault() })
const control = new LocalGatewayControl(ctx)
const holder = `gw:ledger-worker:${process.pid}:${Date.now()}:${randomBytes(3).toString('hex')}`
const gateway = new Gateway({ control, holder })
// Registers this holder's heartbeat (and reclaims what dead gateways left), as a starting gateway does.
await gateway.start()
let admitted = 0
let settled = 0
let refused = 0
let failed = 0
let charged = 0
const started = process.hrtime.bigint()
let next = 0
async function lane() {
  while (next < Number(requests)) {
    next++
    const admission = await gateway.leases.admit(agentId, worst)
    if ('ok' in admission) {
      refused++
      continue
    }
    admitted++
    // Actual cost between half and all of the worst case, as real requests are.
    const actual = Math.floor(worst * (0.5 + Math.random() / 2))
    const record = newRecord('chat', holder)
    Object.assign(record, {
      agent_id: agentId,
      model: 'mock-small',
      provider: 'mock',
      status: 200,
      outcome: 'ok',
      reserved_micros: admission.amount,
    })
    // Awaited first: `charged += await …` would read charged before the await and lose other lanes' adds.
    const result = await gateway.leases
      .settle(
        admission,
        { reservation_id: record.id, actual_micros: actual, model: 'mock-small', provider: 'mock' },
        record,
      )
      .catch((error) => {
        if (failed++ === 0) process.stderr.write(`settlement failed: ${error.stack ?? error}\n`)
      })
    if (!result) continue
    charged += result.charged_micros
    settled++
  }
}
await Promise.all(Array.from({ length: Number(inflight) }, lane))
// Returns the lease and ends the registration: part of the run, as a gateway's shutdown is.
await gateway.flush()
const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
await control.close()
ctx.close()
process.stdout.write(`${JSON.stringify({ admitted, settled, refused, failed, charged, elapsedMs })}\n`)
