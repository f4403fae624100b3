import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'
import { ensureTmux, tmuxSession } from '../helpers/tmux.js'

const home = tempDir('iron-e2e-top-layout')
const env: Record<string, string> = { ...(process.env as Record<string, string>), ...homeEnv(home) }
const tokens: Record<string, string> = {}
let gateway: ChildProcess | undefined
let url = ''
let session: ReturnType<typeof tmuxSession> | undefined

async function call(agent: string, i: number): Promise<number> {
  const r = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[agent]}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'mock-small',
      max_tokens: 16,
      messages: [{ role: 'user', content: `hello ${i}` }],
    }),
  })
  await r.body.text()
  return r.statusCode
}

/** `iron top` in a terminal of that size, in the test's home. */
function top(columns: number, rows: number) {
  session = tmuxSession(
    `iron-top-layout-${process.pid}-${columns}x${rows}`,
    { columns, rows },
    [process.execPath, BIN, 'top'],
    {
      HOME: env.HOME!,
      XDG_CONFIG_HOME: env.XDG_CONFIG_HOME!,
      XDG_DATA_HOME: env.XDG_DATA_HOME!,
      IRON_CREDENTIAL_STORE: 'file',
      TERM: 'xterm-256color',
    },
  )
  return session
}

beforeAll(async () => {
  ensureTmux()
  for (const args of [
    ['init'],
    ['providers', 'add', 'mock', '--kind', 'mock'],
    ['agents', 'create', 'support-bot'],
    ['budget', 'set', 'support-bot', '--limit', '1'],
    ['agents', 'create', 'tiny-bot'],
    ['budget', 'set', 'tiny-bot', '--limit', '0.001'],
  ]) {
    expect((await runIron(args, { env })).code, args.join(' ')).toBe(0)
  }
  for (const agent of ['support-bot', 'tiny-bot'])
    tokens[agent] = (await runIron(['tokens', 'issue', agent], { env })).stdout.trim()
  gateway = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  url = await new Promise<string>((resolve) => {
    let err = ''
    gateway!.stderr!.on('data', (d) => {
      err += d
      const match = /listening on (http:\/\/\S+)/.exec(err)
      if (match) resolve(match[1]!)
    })
  })
})

afterEach(() => session?.kill())
afterAll(() => {
  gateway?.kill('SIGKILL')
})

describe('iron top in a terminal', () => {
  for (const [columns, rows] of [
    [160, 45],
    [80, 24],
  ] as const) {
    it(`keeps the title and the agent table on a ${columns}×${rows} screen with the details panel open`, async () => {
      const screen = top(columns, rows)
      await screen.waitFor((t) => t.includes('support-bot') && t.includes('live'), 'the dashboard')
      // Enough traffic to fill the feed, so the panel has to take its lines from somewhere.
      for (let i = 0; i < 50; i++) expect(await call('support-bot', i)).toBe(200)
      await screen.waitFor((t) => (t.match(/mock-small 200 ok/g) ?? []).length >= 10, 'a full feed')
      screen.keys('Enter')
      const shown = await screen.waitFor((t) => t.includes('╰'), 'the details panel')
      const lines = shown.split('\n')
      expect(lines[0]).toContain('iron top')
      expect(shown).toContain('this period')
      expect(lines[1]).toContain('since top opened')
      expect(lines[2]).toMatch(/^AGENT +SPEND/)
      expect(lines.find((l) => l.startsWith('support-bot'))).toBeDefined()
      expect(shown).toMatch(/since \d\d:\d\d:\d\d: \d+ requests, 0 errors, 0 blocked/)
      expect(shown).toContain('q quit')
    })
  }

  it('says when a tiny budget runs out and what is left of it, in money a person can read', async () => {
    const screen = top(120, 36)
    await screen.waitFor((t) => t.includes('tiny-bot') && t.includes('live'), 'the dashboard')
    let refused = false
    for (let i = 0; i < 100 && !refused; i++) refused = (await call('tiny-bot', i)) === 402
    expect(refused).toBe(true)
    const shown = await screen.waitFor((t) => t.includes('budget at 95%'), 'the 95% alert')
    const row = shown.split('\n').find((l) => l.startsWith('tiny-bot')) ?? ''
    // What is left (a fraction of a cent) lasts under a second at this burn: said so, not rounded to "0ms".
    expect(row).toMatch(/\$0\.00\d+ +\$0\.001 .* (<1s|\d+s|now) +\d+ /)
    expect(shown).toMatch(/tiny-bot budget at 95% of \$0\.001: \$0\.0000\d+ left/)
    expect(shown).not.toContain('0ms')
    expect(shown).not.toContain('$0.00 left')
  })
})
