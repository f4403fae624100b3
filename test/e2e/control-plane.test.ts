import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-cp')
const env = homeEnv(home)
const iron = (args: string[], input?: string, extra: Record<string, string> = {}) =>
  runIron(args, { env: { ...env, ...extra }, input })
const json = <T = Record<string, unknown>>(r: CliResult) => JSON.parse(r.stdout) as T
const KEY = 'sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCD'

describe('control plane commands (spawned binary)', () => {
  beforeAll(async () => {
    expect((await iron(['init'])).code).toBe(0)
  })

  it('providers: the key comes from stdin or an env var, is stored encrypted, and is only ever shown masked', async () => {
    const added = await iron(
      ['providers', 'add', 'openai', '--kind', 'openai', '--api-key-stdin', '--json'],
      KEY,
    )
    expect(added.code).toBe(0)
    expect(json(added)).toMatchObject({ name: 'openai', kind: 'openai', key_mask: 'sk-t…ABCD' })
    const viaEnv = await iron(
      ['providers', 'add', 'claude', '--kind', 'anthropic', '--api-key-env', 'MY_KEY'],
      undefined,
      { MY_KEY: KEY },
    )
    expect(viaEnv.code).toBe(0)
    const missing = await iron(['providers', 'add', 'x', '--kind', 'openai'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('API_KEY_REQUIRED')
    expect((await iron(['providers', 'add', 'mock', '--kind', 'mock'])).code).toBe(0)
    for (const args of [
      ['providers', 'list'],
      ['providers', 'show', 'openai', '--json'],
      ['providers', 'list', '--json'],
    ]) {
      const r = await iron(args)
      expect(r.code, args.join(' ')).toBe(0)
      expect(r.stdout, args.join(' ')).toContain('openai')
      expect(r.stdout + r.stderr).not.toContain(KEY)
    }
    const store = readFileSync(join(home, 'data', 'iron', 'iron.db'))
    expect(store.includes(Buffer.from(KEY))).toBe(false)
    const test = await iron(['providers', 'test', 'mock'])
    expect(test.code).toBe(0)
    expect(test.stdout).toContain('✓ mock')
  })

  it('agents and tokens: create, duplicate, issue once, rotate, and the right exit codes', async () => {
    const created = await iron([
      'agents',
      'create',
      'bot',
      '--provider',
      'mock',
      '--model',
      'mock-small',
      '--rpm',
      '30',
      '--json',
    ])
    expect(created.code).toBe(0)
    const agent = json<{ id: string }>(created)
    expect((await iron(['agents', 'create', 'bot'])).code).toBe(1)
    expect((await iron(['agents', 'show', 'nobody'])).code).toBe(3)
    expect((await iron(['agents', 'show', 'agent_42'])).code).toBe(2)
    expect((await iron(['agents', 'create', 'other', '--model', 'gpt-99'])).code).toBe(3)

    const issued = await iron(['tokens', 'issue', 'bot'])
    expect(issued.code).toBe(0)
    const token = issued.stdout.trim()
    expect(token).toMatch(/^iron_ic_[0-9A-Za-z]{38}$/)
    expect(issued.stderr).toContain('only time the token is shown')
    const listed = await iron(['tokens', 'list', '--json'])
    expect(listed.stdout).not.toContain(token)
    expect(json<Array<{ prefix: string }>>(listed)[0]!.prefix).toBe(token.slice(0, 12))

    const rotateNoYes = await iron(['tokens', 'rotate', 'bot'])
    expect(rotateNoYes.code).toBe(2)
    expect(rotateNoYes.stderr).toContain('--yes')
    const rotated = await iron(['tokens', 'rotate', 'bot', '--yes', '--json'])
    expect(rotated.code).toBe(0)
    const fresh = json<{ token: string }>(rotated).token
    expect(fresh).not.toBe(token)
    const shown = await iron(['agents', 'show', agent.id, '--json'])
    expect(json(shown)).toMatchObject({ id: agent.id })
    expect(shown.stdout).not.toContain(fresh)
  })

  it('budget: set, check exits 5 when over, a limit below spend needs --yes, verify, history', async () => {
    expect((await iron(['budget', 'set', 'bot', '--limit', '$5', '--period', 'monthly'])).code).toBe(0)
    expect((await iron(['budget', 'set', 'bot', '--limit', '-5'])).code).toBe(2)
    const huge = await iron(['budget', 'set', 'bot', '--limit', '1e12'])
    expect(huge.code).toBe(2)
    expect(huge.stderr).toContain("Invalid limit '1e12': more than the maximum of $1,000,000,000.00")
    const hugeCredit = await iron(['budget', 'adjust', 'bot', '--amount=-1e12', '--reason', 'typo'])
    expect(hugeCredit.code).toBe(2)
    expect(hugeCredit.stderr).toContain("Invalid amount '-1e12': less than the minimum of -$1,000,000,000.00")
    expect((await iron(['budget', 'set', 'bot', '--period', 'yearly'])).code).toBe(2)
    expect((await iron(['budget', 'set', 'bot', '--timezone', 'Nowhere/City'])).code).toBe(2)
    const ok = await iron(['budget', 'check', 'bot', '--verify'])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('verified')

    expect(
      (await iron(['budget', 'adjust', 'bot', '--amount', '4.50', '--reason', 'billed outside iron'])).code,
    ).toBe(0)
    const below = await iron(['budget', 'set', 'bot', '--limit', '2'])
    expect(below.code).toBe(2)
    expect(below.stderr).toContain('$4.50')
    expect(below.stderr).toContain('Re-run with --yes')
    expect((await iron(['budget', 'set', 'bot', '--limit', '2', '--yes'])).code).toBe(0)
    const over = await iron(['budget', 'check', 'bot', '--json'])
    expect(over.code).toBe(5)
    expect(json(over)).toMatchObject({ over: true })
    const history = await iron(['budget', 'history', 'bot'])
    expect(history.stdout).toContain('adjust')
  })

  it('pricing and usage', async () => {
    const show = await iron(['pricing', 'show', 'claude-haiku-4-5-20251001', '--json'])
    expect(json(show)).toMatchObject({ model: 'claude-haiku-4-5', input_micros_per_mtok: 1_000_000 })
    expect((await iron(['pricing', 'set', 'my-model', '--input', '1'])).code).toBe(2)
    const set = await iron([
      'pricing',
      'set',
      'my-model',
      '--provider',
      'openai-compatible',
      '--input',
      '0.10',
      '--output',
      '0.30',
      '--json',
    ])
    expect(set.code).toBe(0)
    expect(json(set)).toMatchObject({
      model: 'my-model',
      output_micros_per_mtok: 300_000,
      source: 'override',
    })
    expect((await iron(['pricing', 'unset', 'my-model'])).code).toBe(0)
    expect((await iron(['pricing', 'unset', 'my-model'])).code).toBe(3)
    expect(
      (await iron(['pricing', 'set', 'x', '--provider', 'openai', '--input', '1.0000001', '--output', '1']))
        .code,
    ).toBe(2)

    const usage = await iron(['usage', '--json'])
    expect(usage.code).toBe(0)
    const report = json<{ rows: Array<{ key: string; requests: number; cost_micros: number }> }>(usage)
    expect(report.rows.find((r) => r.key === 'bot')).toMatchObject({ requests: 0, cost_micros: 0 })
    expect((await iron(['usage', '--by', 'week'])).code).toBe(2)
    expect((await iron(['usage', '--since', 'yesterday'])).code).toBe(2)
  })

  it('delete needs --yes when not interactive and keeps the agent readable by ID', async () => {
    const agent = json<{ id: string }>(await iron(['agents', 'show', 'bot', '--json']))
    expect((await iron(['agents', 'delete', 'bot'])).code).toBe(2)
    const deleted = await iron(['agents', 'delete', 'bot', '--yes', '--json'])
    expect(deleted.code).toBe(0)
    expect(json(deleted)).toMatchObject({ agent: { status: 'deleted' } })
    expect(json(await iron(['agents', 'show', agent.id, '--json']))).toMatchObject({ status: 'deleted' })
    const listed = await iron(['agents', 'list'])
    expect(listed.code).toBe(0)
    expect(listed.stdout).not.toContain('bot')
    expect((await iron(['agents', 'list', '--all'])).stdout).toContain('bot')
  })
})
