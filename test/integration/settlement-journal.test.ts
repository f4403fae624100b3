import { spawn } from 'node:child_process'
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { newRecord } from '../../src/gateway/record.js'
import { LocalGatewayControl } from '../../src/services/local/gateway-control.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { recoverSettlements } from '../../src/services/local/settlements.js'
import { Journal, journalDirOf } from '../../src/store/journal.js'
import { tempControlPlane } from '../helpers/control-plane.js'
import { tempDir } from '../helpers/temp.js'

const ROOT = join(import.meta.dirname, '..', '..')

function settleAndDie(args: string[]): Promise<{ ids: string[]; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/fixtures/settle-and-die.mjs', ...args], { cwd: ROOT })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('exit', (_code, signal) => {
      try {
        resolve({ ids: JSON.parse(out) as string[], signal, stderr: err })
      } catch {
        reject(new Error(`the child printed no ids: ${err}`))
      }
    })
  })
}

// The child runs the compiled build (npm test builds first), as ledger-concurrency.test.ts's workers do.
describe('the settlement journal of a local gateway', () => {
  it('a gateway killed right after answering loses nothing: the next process to open the store writes it, once', async () => {
    const { cp, ctx, dirs } = await tempControlPlane(Date.now())
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000_000 })
    const db = ctx.db()
    const commits = () =>
      db.prepare("SELECT reservation_id FROM ledger WHERE kind = 'commit'").pluck().all() as string[]
    const requestEvents = () =>
      db
        .prepare("SELECT resource_id FROM audit_events WHERE action = 'gateway.request'")
        .pluck()
        .all() as string[]

    const died = await settleAndDie([dirs.configDir, dirs.dataDir, agent.id, '12'])
    expect(died.signal, died.stderr).toBe('SIGKILL')
    expect(died.ids).toHaveLength(12)
    // Answered, but not all in the store: the last settlements were still waiting for their group commit.
    expect(commits().length).toBeLessThan(12)

    const after = createLocalControlPlane(ctx)
    expect(commits().sort()).toEqual([...died.ids].sort())
    expect(requestEvents().sort()).toEqual([...died.ids].sort())
    const check = await after.budgets.check('bot', { verify: true })
    expect(check.verify?.ok, check.verify?.problems.join('; ')).toBe(true)
    expect(check.budget.spent_micros).toBe(died.ids.reduce((sum, _id, i) => sum + 700 + i, 0))
    expect((await after.audit.verify()).ok).toBe(true)

    // A journal whose owner died between its commit and clearing the file: nothing is written twice.
    const dir = journalDirOf(ctx.dbPath)
    const left = readdirSync(dir).filter((name) => name.endsWith('.log'))
    expect(left.length).toBeGreaterThan(0)
    const row = db
      .prepare("SELECT lease_id, counted_at FROM ledger WHERE kind = 'commit' AND reservation_id = ?")
      .get(died.ids[0]) as { lease_id: string | null; counted_at: number }
    expect(row.lease_id).toMatch(/^lease_/)
    const again = {
      draw: { ...row, reservation_id: died.ids[0], agent_id: agent.id, actual_micros: 700, room_micros: 700 },
      record: { id: died.ids[0], agent_id: agent.id },
    }
    writeFileSync(join(dir, 'slot-40.log'), `${JSON.stringify(again)}\n`)
    expect(recoverSettlements(ctx.dbPath, after)).toBe(1)
    expect(commits()).toHaveLength(12)
    expect(requestEvents()).toHaveLength(12)
    ctx.close()
  })

  it('a settlement the store refuses stays in the journal, alone, while the others are written and cleared', async () => {
    const { cp, ctx } = await tempControlPlane(Date.now())
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000_000 })
    const control = new LocalGatewayControl(ctx)
    const draw = (id: string, agentId: string) =>
      ({
        reservation_id: id,
        agent_id: agentId,
        lease_id: null,
        counted_at: 0,
        room_micros: 0,
        actual_micros: 10,
      }) as const
    const record = (id: string, agentId: string) => ({
      ...newRecord('chat', 'gw:test'),
      id,
      agent_id: agentId,
    })
    const good = await control.settle(
      draw('req_01kbz00000000000000000good', agent.id),
      record('req_01kbz00000000000000000good', agent.id),
    )
    const bad = await control.settle(
      draw('req_01kbz000000000000000000bad', 'agt_gone'),
      record('req_01kbz000000000000000000bad', 'agt_gone'),
    )
    await good.written
    await expect(bad.written).rejects.toThrow()
    await control.settled()
    const journal = readdirSync(journalDirOf(ctx.dbPath)).filter((name) => name.endsWith('.log'))
    const kept = journal.flatMap((name) =>
      readFileSync(join(journalDirOf(ctx.dbPath), name), 'utf8')
        .split('\n')
        .filter(Boolean),
    )
    const keptIds = () =>
      readdirSync(journalDirOf(ctx.dbPath))
        .filter((name) => name.endsWith('.log'))
        .flatMap((name) =>
          readFileSync(join(journalDirOf(ctx.dbPath), name), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line).record.id as string),
        )
    expect(kept).toHaveLength(1)
    expect(keptIds()).toEqual(['req_01kbz000000000000000000bad'])
    expect((await cp.budgets.get('bot')).spent_micros).toBe(10)
    // Tried again at the next heartbeat: refused again, still kept once.
    await control.reclaimExpired()
    await control.settled()
    await new Promise((resolve) => setImmediate(resolve))
    expect(keptIds()).toEqual(['req_01kbz000000000000000000bad'])
    await control.close()
    ctx.close()
  })

  it('answers what the budget has left before the store has the settlement: its balance less what waits beyond leases', async () => {
    const { cp, ctx } = await tempControlPlane(Date.now())
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 1_000_000 })
    const control = new LocalGatewayControl(ctx)
    // Draws on a lease the ledger does not know: all of each is charged beyond it.
    const settle = (id: string) =>
      control.settle(
        {
          reservation_id: id,
          agent_id: agent.id,
          lease_id: 'lease_01kbz000000000000000000gone',
          counted_at: Date.now(),
          room_micros: 0,
          actual_micros: 300,
        },
        { ...newRecord('chat', 'gw:test'), id, agent_id: agent.id },
      )
    const first = await settle('req_01kbz0000000000000000first')
    expect(first.remaining_micros).toBe(999_700)
    const second = await settle('req_01kbz000000000000000second')
    // Read when asked: what is left now, with every settlement still on its way.
    expect([first.remaining_micros, second.remaining_micros]).toEqual([999_400, 999_400])
    // The store's own figures, once written, are the same.
    expect([(await first.written)?.remaining_micros, (await second.written)?.remaining_micros]).toEqual([
      999_700, 999_400,
    ])
    await control.close()
    ctx.close()
  })

  it('each running process holds a journal of its own; what a dead one left goes to whoever opens the store next', () => {
    const dir = tempDir('iron-journal')
    const seen: unknown[][] = []
    const first = Journal.open<{ n: number }>(dir, (left) => seen.push(left))
    const second = Journal.open<{ n: number }>(dir, (left) => seen.push(left))
    expect(second.path).not.toBe(first.path)
    first.append({ n: 1 })
    first.append({ n: 2 })
    // Held by a running process: not another's to recover.
    expect(Journal.recoverOrphans(dir, (left) => seen.push(left))).toBe(0)
    first.close()
    expect(Journal.orphans(dir)).toBe(2)
    // A line cut short (a crash of the machine mid-write) is skipped.
    appendFileSync(first.path, '{"n": 3')
    expect(Journal.recoverOrphans(dir, (left) => seen.push(left))).toBe(2)
    expect(seen).toEqual([[{ n: 1 }, { n: 2 }]])
    expect(Journal.recoverOrphans(dir, (left) => seen.push(left))).toBe(0)
    // A recovery that fails leaves the file as it was, for the next one.
    second.append({ n: 4 })
    second.close()
    expect(() =>
      Journal.recoverOrphans(dir, () => {
        throw new Error('the store is busy')
      }),
    ).toThrow('the store is busy')
    expect(Journal.recoverOrphans(dir, (left) => seen.push(left))).toBe(1)
    expect(seen.at(-1)).toEqual([{ n: 4 }])
  })
})
