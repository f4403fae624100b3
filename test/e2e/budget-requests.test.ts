// Budget change requests through the built binary: ask, list, approve / reject / cancel, the refusals and
// their exit codes, and two processes deciding the same request at once (exactly one wins).
import { beforeAll, describe, expect, it } from 'vitest'
import type { BudgetRequest } from '../../src/services/api.js'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-breq')
const env = homeEnv(home)
const iron = (args: string[]) => runIron(args, { env })
const json = <T>(r: CliResult): T => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`)
  return JSON.parse(r.stdout) as T
}
const errorOf = (r: CliResult) => (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
const ask = async (agent: string, limit: string, reason = 'launch week') =>
  json<BudgetRequest>(
    await iron(['budget', 'request', agent, '--limit', limit, '--reason', reason, '--json']),
  )

describe('iron budget request / requests / approve / reject / cancel (spawned binary)', () => {
  beforeAll(async () => {
    expect((await iron(['init'])).code).toBe(0)
    for (const name of ['bot', 'racer']) {
      expect((await iron(['agents', 'create', name])).code).toBe(0)
      expect((await iron(['budget', 'set', name, '--limit', '10'])).code).toBe(0)
    }
  })

  it('asks, shows it pending, refuses a second one naming the first, and approving sets the limit', async () => {
    const asked = await iron(['budget', 'request', 'bot', '--limit', '$25.50', '--reason', 'launch week'])
    expect(asked.code).toBe(0)
    expect(asked.stderr).toMatch(
      /Asked for a new limit for bot; an admin decides with: iron budget approve breq_/,
    )
    const id = /breq_[0-9a-z]{26}/.exec(asked.stderr)![0]
    const shown = new Map(
      asked.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    )
    expect(shown.get('Status')).toBe('pending')
    expect(shown.get('Limit')).toBe('$25.50 (was $10.00)')
    expect(shown.get('Reason')).toBe('launch week')

    const second = await iron(['budget', 'request', 'bot', '--limit', '30', '--reason', 'more', '--json'])
    expect(second.code).toBe(1)
    expect(errorOf(second)).toMatchObject({ code: 'BUDGET_REQUEST_PENDING' })
    expect(errorOf(second).message).toContain(id)

    const listed = await iron(['budget', 'requests', '--status', 'pending'])
    expect(listed.code).toBe(0)
    const [agent, limit, was, status] = listed.stdout.trimEnd().split('\t')
    expect([agent, limit, was, status]).toEqual(['bot', '$25.50', '$10.00', 'pending'])
    expect(listed.stdout).toContain(id)

    const approved = json<BudgetRequest>(await iron(['budget', 'approve', id, '--note', 'ok', '--json']))
    expect(approved).toMatchObject({ id, status: 'approved', decision_note: 'ok', limit_micros: 25_500_000 })
    expect(json<{ limit_micros: number }>(await iron(['budget', 'show', 'bot', '--json'])).limit_micros).toBe(
      25_500_000,
    )
    const again = await iron(['budget', 'reject', id])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('BUDGET_REQUEST_DECIDED')
    expect(again.stderr).toContain(`Budget request ${id} was already approved`)
    const audit = json<{ events: { action: string }[] }>(
      await iron(['audit', 'list', '--action', 'budget_request', '--json']),
    )
    expect(audit.events.map((e) => e.action)).toEqual(['budget_request.approve', 'budget_request.create'])
  })

  it('reject and cancel leave the budget alone; none means no limit; bad input is a usage error', {
    timeout: 120_000,
  }, async () => {
    const rejected = await ask('bot', 'none')
    expect(rejected.limit_micros).toBeNull()
    expect(json<BudgetRequest>(await iron(['budget', 'reject', rejected.id, '--json'])).status).toBe(
      'rejected',
    )
    const cancelled = await ask('bot', '40')
    const out = await iron(['budget', 'cancel', cancelled.id.toUpperCase()])
    expect(out.code).toBe(0)
    expect(out.stderr).toContain(`Cancelled ${cancelled.id} for bot`)
    expect(json<{ limit_micros: number }>(await iron(['budget', 'show', 'bot', '--json'])).limit_micros).toBe(
      25_500_000,
    )
    const statuses = json<BudgetRequest[]>(
      await iron(['budget', 'requests', '--agent', 'bot', '--json']),
    ).map((r) => r.status)
    expect(statuses).toEqual(['cancelled', 'rejected', 'approved'])

    for (const [args, code] of [
      [['budget', 'request', 'bot', '--limit', '-5', '--reason', 'x'], 'INVALID_MONEY'],
      [['budget', 'request', 'bot', '--limit', '5', '--reason', ''], 'INVALID_REASON'],
      [['budget', 'approve', 'breq_nope'], 'INVALID_ID'],
    ] as const) {
      const r = await iron([...args, '--json'])
      expect(r.code, r.stdout).toBe(2)
      expect(errorOf(r).code).toBe(code)
    }
    const missing = await iron(['budget', 'approve', 'breq_01jd8x4k3m5n6p7q8r9s0t1v2w', '--json'])
    expect(missing.code).toBe(3)
    expect(errorOf(missing).code).toBe('BUDGET_REQUEST_NOT_FOUND')
    const noFlag = await iron(['budget', 'request', 'bot', '--limit', '5'])
    expect(noFlag.code).toBe(2)
    expect(noFlag.stderr).toContain('Missing required flag reason')
  })

  it('two processes approve and cancel the same request at once: exactly one wins, every time', async () => {
    for (let round = 0; round < 3; round++) {
      const request = await ask('racer', String(20 + round), `round ${round}`)
      const [approve, cancel] = await Promise.all([
        iron(['budget', 'approve', request.id, '--json']),
        iron(['budget', 'cancel', request.id, '--json']),
      ])
      const winners = [approve, cancel].filter((r) => r.code === 0)
      const losers = [approve, cancel].filter((r) => r.code !== 0)
      expect(winners).toHaveLength(1)
      expect(losers).toHaveLength(1)
      expect(losers[0]!.code).toBe(1)
      expect(errorOf(losers[0]!).code).toBe('BUDGET_REQUEST_DECIDED')
      const final = json<BudgetRequest[]>(await iron(['budget', 'requests', '--agent', 'racer', '--json']))
      const status = final[0]!.status
      const limit = json<{ limit_micros: number }>(
        await iron(['budget', 'show', 'racer', '--json']),
      ).limit_micros
      if (approve.code === 0) {
        expect(status).toBe('approved')
        expect(limit).toBe((20 + round) * 1_000_000)
      } else {
        expect(status).toBe('cancelled')
      }
      const decisions = json<{ events: { action: string; resource: { id: string } }[] }>(
        await iron(['audit', 'list', '--agent', 'racer', '--action', 'budget_request', '--json']),
      ).events.filter((e) => e.resource.id === request.id && e.action !== 'budget_request.create')
      expect(decisions).toHaveLength(1)
    }
  }, 240_000)
})
