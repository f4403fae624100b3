import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { ROOT } from '../helpers/cli.js'
import { tempControlPlane } from '../helpers/control-plane.js'

interface WorkerResult {
  admitted: number
  settled: number
  refused: number
  failed: number
  charged: number
  stderr: string
}

function worker(args: string[]): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bench/lib/ledger-worker.js', ...args], { cwd: ROOT })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) =>
      code === 0
        ? resolve({ ...(JSON.parse(out) as WorkerResult), stderr: err })
        : reject(new Error(`worker exited ${code}: ${err}`)),
    )
  })
}

// Each worker is a gateway's admission from the compiled build (npm test builds first): its LeaseBook over
// LocalGatewayControl, admitting and settling requests with their records, then returning its lease.
describe('ledger under several gateway processes', () => {
  it('never overspends, loses no row, strands nothing and surfaces no SQLITE_BUSY', async () => {
    const { cp, ctx, dirs } = await tempControlPlane(Date.now())
    const agent = await cp.agents.create({ name: 'hammered' })
    const limit = 2_000_000
    await cp.budgets.set('hammered', { limit_micros: limit })
    ctx.close()
    // Two gateways one request at a time, two with 16 in flight (group commits), all on one agent, asking
    // for about twice what the budget holds.
    const results = await Promise.all(
      [1, 1, 16, 16].map((inflight) =>
        worker([dirs.configDir, dirs.dataDir, agent.id, '600', '2500', String(inflight)]),
      ),
    )
    const db = ctx.db()
    const after = createLocalControlPlane(ctx)
    const rows = db.prepare('SELECT kind, count(*) AS n FROM ledger GROUP BY kind').all() as {
      kind: string
      n: number
    }[]
    const count = Object.fromEntries(rows.map((r) => [r.kind, r.n]))
    const settled = results.reduce((s, r) => s + r.settled, 0)
    const charged = results.reduce((s, r) => s + r.charged, 0)
    for (const r of results) {
      expect(r.failed, r.stderr).toBe(0)
      expect(r.settled).toBe(r.admitted)
    }
    expect(settled).toBeGreaterThan(0)
    expect(count.commit).toBe(settled)
    expect(count.reserve).toBeUndefined()
    // At the edge of the budget, some requests are refused.
    expect(results.reduce((s, r) => s + r.refused, 0)).toBeGreaterThan(0)
    const check = await after.budgets.check('hammered', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.spent_micros).toBe(charged)
    expect(check.budget.spent_micros).toBeLessThanOrEqual(limit)
    // Every gateway flushed: its leases went back and its registration ended.
    expect(check.budget).toMatchObject({ leased_micros: 0, reserved_micros: 0, in_flight_micros: 0 })
    expect(after.budgets.releaseOpen()).toBe(0)
    expect(db.prepare('SELECT count(*) FROM holders WHERE ended_at IS NULL').pluck().get()).toBe(0)
  })
})
