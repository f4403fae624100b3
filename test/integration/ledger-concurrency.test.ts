import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { ROOT } from '../helpers/cli.js'
import { tempControlPlane } from '../helpers/control-plane.js'

interface WorkerResult {
  reserved: number
  committed: number
  refused: number
  charged: number
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
        ? resolve(JSON.parse(out) as WorkerResult)
        : reject(new Error(`worker exited ${code}: ${err}`)),
    )
  })
}

// The workers run the compiled build (npm test builds first), the same code the gateway runs.
describe('ledger under several processes', () => {
  it('never overspends, loses no row and surfaces no SQLITE_BUSY', async () => {
    const { cp, ctx, dirs } = await tempControlPlane(Date.now())
    const agent = await cp.agents.create({ name: 'hammered' })
    const limit = 2_000_000
    await cp.budgets.set('hammered', { limit_micros: limit })
    ctx.close()
    // Two processes one request at a time, two with 16 in flight (group commits), all on one agent.
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
    const reserved = results.reduce((s, r) => s + r.reserved, 0)
    const committed = results.reduce((s, r) => s + r.committed, 0)
    const charged = results.reduce((s, r) => s + r.charged, 0)
    expect(count.reserve).toBe(reserved)
    expect(count.commit).toBe(committed)
    expect(results.reduce((s, r) => s + r.refused, 0)).toBeGreaterThan(0)
    const check = await after.budgets.check('hammered', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.spent_micros).toBe(charged)
    expect(check.budget.spent_micros).toBeLessThanOrEqual(limit)
    expect(check.budget.reserved_micros).toBe(0)
  })
})
