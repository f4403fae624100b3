import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { BIN, type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-audit')
const env = homeEnv(home)
const iron = (args: string[]) => runIron(args, { env })
const json = <T>(r: CliResult) => JSON.parse(r.stdout) as T

describe('iron audit (spawned)', () => {
  beforeAll(async () => {
    for (const args of [
      ['init'],
      ['agents', 'create', 'bot'],
      ['budget', 'set', 'bot', '--limit', '5'],
      ['tokens', 'issue', 'bot'],
    ]) {
      expect((await iron(args)).code).toBe(0)
    }
  })

  it('lists, shows, verifies and exports', async () => {
    const list = await iron(['audit', 'list', '--json'])
    const page = json<{ events: Array<{ id: string; action: string }> }>(list)
    expect(page.events.map((e) => e.action)).toEqual(['token.issue', 'budget.set', 'agent.create'])
    const show = await iron(['audit', 'show', page.events[0]!.id])
    expect(show.stdout).toContain('token.issue')
    expect((await iron(['audit', 'show', 'aud_zz'])).code).toBe(2)
    expect((await iron(['audit', 'show', 'aud_01jd8x4k3m5n6p7q8r9s0t1v2w'])).code).toBe(3)

    const verify = await iron(['audit', 'verify'])
    expect(verify.code).toBe(0)
    expect(verify.stdout).toContain('3 audit events verified')
    const witness = /^head (3:[0-9a-f]{64})$/m.exec(verify.stdout)?.[1]
    expect(witness, verify.stdout).toBeDefined()
    expect(verify.stderr).toContain(`Keep this head somewhere else`)
    expect(verify.stderr).toContain(`iron audit verify --expect-head ${witness}`)
    const expected = await iron(['audit', 'verify', '--expect-head', witness!, '--json'])
    expect(expected.code).toBe(0)
    expect(json(expected)).toMatchObject({ ok: true, witness, expected_head: { seq: 3, ok: true } })
    const wrong = await iron(['audit', 'verify', '--expect-head', `3:${'0'.repeat(64)}`])
    expect(wrong.code).toBe(1)
    expect(wrong.stdout).toContain('✗ event 3 has hash')
    expect((await iron(['audit', 'verify', '--expect-head', '3'])).code).toBe(2)

    const file = join(home, 'audit.csv')
    const exported = await iron(['audit', 'export', '--format', 'csv', '--output', file, '--json'])
    expect(json(exported)).toMatchObject({ format: 'csv', events: 3 })
    const csv = readFileSync(file, 'utf8').trim().split('\r\n')
    expect(csv[0]).toBe(
      'seq,id,at,actor,action,resource_type,resource_id,agent_id,outcome,data,prev_hash,hash',
    )
    expect(csv).toHaveLength(4)
    const jsonl = await iron(['audit', 'export', '--action', 'agent'])
    expect(
      jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).action),
    ).toEqual(['agent.create'])
    expect((await iron(['audit', 'export', '--json'])).code).toBe(2)
  })

  it('tail follows events written by other processes until Ctrl-C', async () => {
    expect((await iron(['agents', 'update', 'bot', '--description', 'before the tail'])).code).toBe(0)
    const child = spawn(
      process.execPath,
      [BIN, 'audit', 'tail', '--json', '--lines', '1', '--interval', '50ms'],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const lines = () => out.split('\n').filter(Boolean)
    /** Waits (bounded) until the tail has printed `n` lines. */
    const printed = async (n: number) => {
      const deadline = Date.now() + 10_000
      while (lines().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(lines(), 'audit tail output').toHaveLength(n)
    }
    // Its first line (the last event so far) says it has read where the chain ends and is following.
    await printed(1)
    expect(JSON.parse(lines()[0]!)).toMatchObject({
      action: 'agent.update',
      data: { changes: { description: { after: 'before the tail' } } },
    })
    expect((await iron(['agents', 'update', 'bot', '--description', 'tailed'])).code).toBe(0)
    await printed(2)
    expect(JSON.parse(lines()[1]!)).toMatchObject({
      action: 'agent.update',
      actor: expect.stringMatching(/^local:/),
      data: { changes: { description: { after: 'tailed' } } },
    })
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.kill('SIGINT')
    expect(await exit).toBe(130)
  })

  it('prune needs --yes and leaves a chain that still verifies', async () => {
    expect((await iron(['audit', 'prune', '--before', 'now'])).code).toBe(2)
    const pruned = await iron(['audit', 'prune', '--before', 'now', '--yes', '--json'])
    expect(pruned.code).toBe(0)
    expect(json<{ pruned: number }>(pruned).pruned).toBeGreaterThanOrEqual(4)
    const verify = await iron(['audit', 'verify', '--json'])
    expect(json(verify)).toMatchObject({ ok: true, checkpoints: 1 })
  })
})

describe('config changes', () => {
  it('are recorded in the audit trail when a store exists', async () => {
    expect((await iron(['config', 'set', 'gateway.port', '9123'])).code).toBe(0)
    expect((await iron(['config', 'unset', 'gateway.port'])).code).toBe(0)
    const events = json<{ events: Array<{ action: string; data: Record<string, unknown> }> }>(
      await iron(['audit', 'list', '--action', 'config', '--json']),
    ).events
    expect(events.map((e) => e.action)).toEqual(['config.unset', 'config.set'])
    expect(events[1]!.data).toMatchObject({
      key: 'gateway.port',
      before: { value: 8788, source: 'default' },
      after: 9123,
    })
  })
})
