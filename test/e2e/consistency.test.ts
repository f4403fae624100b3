import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

// Issue 12, "Consistency": the same words, forms and lookups across commands.
const home = tempDir('iron-e2e-consistency')
const env = homeEnv(home)
const iron = (args: string[]) => runIron(args, { env })
const json = <T>(r: CliResult) => JSON.parse(r.stdout) as T

describe('consistency across commands (spawned)', () => {
  beforeAll(async () => {
    for (const args of [['init'], ['agents', 'create', 'bot'], ['tokens', 'issue', 'bot']])
      expect((await iron(args)).code).toBe(0)
  })

  it('audit show takes the sequence number audit list shows first, and names the agent', async () => {
    const list = await iron(['audit', 'list'])
    const first = list.stdout.trim().split('\n').at(-1)!.split('\t')
    expect(first.slice(0, 1)).toEqual(['1'])
    // Piped, the listing stays headerless and tab-separated, with the agent by name.
    expect(first.slice(2, 5)).toEqual([expect.stringMatching(/^local:/), 'agent.create', 'bot'])
    const bySeq = await iron(['audit', 'show', '1', '--json'])
    expect(bySeq.code).toBe(0)
    const event = json<{ id: string; seq: number; action: string; agent_name: string }>(bySeq)
    expect(event).toMatchObject({ seq: 1, action: 'agent.create', agent_name: 'bot' })
    expect(json(await iron(['audit', 'show', event.id, '--json']))).toEqual(event)
    const missing = await iron(['audit', 'show', '999'])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toContain("No audit event '999'")
  })

  it('tokens rotate takes a token ID or an agent, as revoke does; show names what it looked for', async () => {
    const current = json<{ id: string; prefix: string }>(await iron(['tokens', 'show', 'bot', '--json']))
    const byId = await iron(['tokens', 'rotate', current.id, '--yes', '--json'])
    expect(byId.code).toBe(0)
    const rotated = json<{ id: string; agent_name: string; token: string }>(byId)
    expect(rotated.agent_name).toBe('bot')
    expect(rotated.id).not.toBe(current.id)
    const again = await iron(['tokens', 'rotate', current.id, '--yes'])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already revoked, so there is nothing to rotate')
    expect((await iron(['tokens', 'rotate', 'bot', '--yes'])).code).toBe(0)

    const nosuch = await iron(['tokens', 'show', 'nosuch'])
    expect(nosuch.code).toBe(3)
    expect(nosuch.stderr).toContain("Error (TOKEN_NOT_FOUND): No IC token or agent 'nosuch'")
    expect(nosuch.stderr).toContain('Give a token ID (ic_…) or an agent name')
  })

  it('every length of time reads the same way: a number alone is seconds', async () => {
    const issued = await iron(['agents', 'create', 'timed'])
    expect(issued.code).toBe(0)
    const token = json<{ created_at: string; expires_at: string }>(
      await iron(['tokens', 'issue', 'timed', '--expires-in', '3600', '--json']),
    )
    expect(Date.parse(token.expires_at) - Date.parse(token.created_at)).toBe(3_600_000)
    const rotated = json<{ created_at: string; expires_at: string }>(
      await iron(['tokens', 'rotate', 'timed', '--expires-in', '1h30m', '--yes', '--json']),
    )
    expect(Date.parse(rotated.expires_at) - Date.parse(rotated.created_at)).toBe(5_400_000)

    const demo = await iron(['demo', '--duration', '1', '--json'])
    expect(demo.code, demo.stderr).toBe(0)
    expect(json<{ seconds: number }>(demo).seconds).toBeGreaterThanOrEqual(1)

    const bad = await iron(['demo', '--duration', '20x'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(
      /^Error \(INVALID_DURATION\): Invalid --duration '20x': expected a length of time\n/,
    )
    expect(bad.stderr).not.toContain('Parsing --duration')
  })

  it('the missing-argument error of agents create is one line and a hint, without oclif’s paragraph', async () => {
    const result = await iron(['agents', 'create'])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(
      'Error (USAGE): Missing the required argument NAME (Agent name: letters, digits, . _ -)\n' +
        'Try this: iron agents create NAME [flags] (see: iron agents create --help)\n',
    )
    const swallowed = await iron(['agents', 'create', '--model', 'gpt-4o', 'helper'])
    expect(swallowed.code).toBe(2)
    expect(swallowed.stderr).toContain('--model takes several values, so put NAME before it')
    expect(swallowed.stderr).not.toContain('Alternatively')
  })

  it('config set server sends commands to that server, which says to sign in; unset goes back to the store', async () => {
    expect((await iron(['config', 'set', 'server', 'http://127.0.0.1:9/'])).code).toBe(0)
    expect((await iron(['config', 'get', 'server'])).stdout.trim()).toBe('http://127.0.0.1:9/')
    const list = await iron(['agents', 'list'])
    expect(list.code).toBe(4)
    expect(list.stderr).toContain(
      'Error (NOT_SIGNED_IN): Not signed in to http://127.0.0.1:9 (from config server)',
    )
    expect(list.stderr).toContain('iron login http://127.0.0.1:9')
    expect(list.stderr).toContain('iron config unset server')
    // --db names the local store, whatever the context says.
    expect((await iron(['agents', 'list', '--db', join(home, 'data', 'iron', 'iron.db')])).stdout).toContain(
      'bot',
    )
    expect((await iron(['config', 'unset', 'server'])).code).toBe(0)
    expect((await iron(['agents', 'list'])).stdout).toContain('bot')
    // Lengths of time in the config read like the flags.
    expect((await iron(['config', 'set', 'gateway.lease_ttl', '1m'])).code).toBe(0)
    expect((await iron(['config', 'get', 'gateway.lease_ttl'])).stdout.trim()).toBe('60')
  })

  it('pricing list says when the catalog was last updated, and retired models are refused with their replacement', async () => {
    const list = await iron(['pricing', 'list', '--provider', 'anthropic'])
    expect(list.code).toBe(0)
    expect(list.stderr).toMatch(
      /^Bundled catalog last updated \d{4}-\d{2}-\d{2} \(checked: openai \d{4}-\d{2}-\d{2}, anthropic \d{4}-\d{2}-\d{2}\)/m,
    )
    const models = list.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t')[0])
    expect(models).toContain('claude-sonnet-5-5')
    expect(models).not.toContain('claude-sonnet-4-5')
    const all = await iron(['pricing', 'list', '--provider', 'anthropic', '--all'])
    const retired = all.stdout.split('\n').find((line) => line.startsWith('claude-sonnet-4-5\t'))
    expect(retired?.split('\t').at(-1)).toBe('retired 2026-11-30')
    const agent = await iron(['agents', 'create', 'legacy', '--model', 'claude-sonnet-4-5-20250929'])
    expect(agent.code).toBe(2)
    expect(agent.stderr).toContain(
      'Error (MODEL_RETIRED): Anthropic retired claude-sonnet-4-5 on 2026-11-30; use claude-sonnet-5-5 instead',
    )
  })

  it('piped usage is a report for people: a header row, one row per agent, and the total', async () => {
    const usage = await iron(['usage'])
    expect(usage.code).toBe(0)
    expect(usage.stdout.split('\n').filter(Boolean)).toEqual([
      'AGENT\tREQUESTS\tINPUT TOKENS\tOUTPUT TOKENS\tCOST',
      'bot\t0\t0\t0\t$0.00',
      'timed\t0\t0\t0\t$0.00',
      'total\t0\t0\t0\t$0.00',
    ])
  })
})
