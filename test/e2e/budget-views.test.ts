// What a new user sees after one tiny request through a gateway (issue 11): the gateway's lease is how it
// borrows the budget, never spend. The request is made in-process (a $2.50 lease and a $0.0004 draw on
// it, as a gateway writes them), then the commands run as the built binary on the same store.
import { beforeAll, describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { resolveDirs } from '../../src/config/paths.js'
import { parseMoney } from '../../src/core/money.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-budget')
const env = homeEnv(home)
const iron = (args: string[]) => runIron(args, { env })
/** A record printed when piped: one `label<TAB>value` line per field. */
const fields = (r: CliResult) =>
  new Map(
    r.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split('\t') as [string, string]),
  )

describe('budget views after one tiny request (spawned binary)', () => {
  beforeAll(async () => {
    expect((await iron(['init'])).code).toBe(0)
    expect((await iron(['agents', 'create', 'bot'])).code).toBe(0)
    // No period: the lease taken here and the commands below count in the same one, whatever the date.
    expect((await iron(['budget', 'set', 'bot', '--limit', '50'])).code).toBe(0)
    const ctx = new LocalContext({ config: await IronConfig.load(resolveDirs(env), env), env })
    try {
      const cp = createLocalControlPlane(ctx)
      const agent = await cp.agents.get('bot')
      // A live gateway (its heartbeat good for an hour), so no command reclaims its lease meanwhile.
      const holder = 'gw:e2e-host:1:1:abcdef'
      cp.holders.register({ holder, host: 'e2e-host', pid: 1, ttl_ms: 3_600_000 })
      const grant = cp.budgets.grantLeaseSync({
        agent_id: agent.id,
        min_micros: 2_000,
        want_micros: 2_500_000,
        holder,
      })
      if (!grant.ok || grant.lease_id === null) throw new Error('expected a lease')
      expect(grant.granted_micros).toBe(2_500_000)
      cp.budgets.drawSync({
        reservation_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w',
        agent_id: agent.id,
        lease_id: grant.lease_id,
        counted_at: grant.counted_at,
        room_micros: 2_000,
        actual_micros: 400,
        holder,
      })
    } finally {
      ctx.close()
    }
  })

  it('show: spent $0.0004, nothing in flight, $49.9996 available; the lease only with --verbose', async () => {
    const show = await iron(['budget', 'show', 'bot'])
    expect(show.code).toBe(0)
    const shown = fields(show)
    expect(shown.get('Spent')).toBe('$0.0004')
    expect(shown.get('In flight')).toBe('$0.00')
    expect(shown.get('Available')).toBe('$49.9996')
    expect(shown.get('Used')).toBe('<0.1%')
    expect(show.stdout).not.toContain('Leased')
    expect(show.stdout).not.toContain('2.49')

    const verbose = fields(await iron(['budget', 'show', 'bot', '--verbose']))
    expect(verbose.get('Leased')).toBe('$2.4996 held by gateways to admit requests (not spent)')
    expect(verbose.get('Available')).toBe('$49.9996')

    const json = JSON.parse((await iron(['budget', 'show', 'bot', '--json'])).stdout)
    expect(json).toMatchObject({
      spent_micros: 400,
      in_flight_micros: 0,
      leased_micros: 2_499_600,
      remaining_micros: 49_999_600,
      used_pct: 0,
    })
  })

  it('list: spent + in flight + available add up to the limit', async () => {
    const list = await iron(['budget', 'list'])
    expect(list.code).toBe(0)
    const [agent, limit, period, spent, inFlight, available] = list.stdout.trimEnd().split('\t')
    expect([agent, limit, period, spent, inFlight, available]).toEqual([
      'bot',
      '$50.00',
      'none',
      '$0.0004',
      '$0.00',
      '$49.9996',
    ])
    const micros = [spent, inFlight, available].map((m) => parseMoney(m!))
    expect(micros.reduce((a, b) => a + b)).toBe(parseMoney(limit!))
  })

  it('check is ok while spend is below the limit, and a limit just above spend is not refused', async () => {
    const check = await iron(['budget', 'check', 'bot'])
    expect(check.code).toBe(0)
    expect(fields(check).get('Status')).toBe('ok')

    const low = await iron(['budget', 'set', 'bot', '--limit', '0.001'])
    expect(low.stderr).not.toContain('already used')
    expect(low.code).toBe(0)
    expect(fields(low).get('Available')).toBe('$0.0006')
    expect(fields(low).get('Used')).toBe('40%')
    const after = await iron(['budget', 'check', 'bot'])
    expect(after.code).toBe(0)
    expect(fields(after).get('Status')).toBe('ok')

    const tiny = await iron(['budget', 'set', 'bot', '--limit', '0.002'])
    expect(tiny.code).toBe(0)
    expect(fields(tiny).get('Used')).toBe('20%')
  })
})
