import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-top')
const env: Record<string, string> = { ...(process.env as Record<string, string>), ...homeEnv(home) }
const session = `iron-top-${process.pid}`
let gateway: ChildProcess | undefined
let url = ''
let token = ''

/** tmux drives the real binary in a real terminal; installed here when the machine lacks it. */
function ensureTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
  } catch {
    execFileSync(
      'sh',
      [
        '-c',
        'apt-get install -y tmux >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y tmux >/dev/null 2>&1)',
      ],
      { stdio: 'ignore', timeout: 180_000 },
    )
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
  }
}

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' })
const screen = () => tmux('capture-pane', '-p', '-t', session)
async function waitForScreen(check: (text: string) => boolean, what: string) {
  const end = Date.now() + 15_000
  for (;;) {
    const text = screen()
    if (check(text)) return text
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${text}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function traffic(n: number) {
  for (let i = 0; i < n; i++) {
    const r = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-small', messages: [{ role: 'user', content: `hello ${i}` }] }),
    })
    await r.body.text()
  }
}

beforeAll(async () => {
  ensureTmux()
  for (const args of [
    ['init'],
    ['providers', 'add', 'mock', '--kind', 'mock'],
    ['agents', 'create', 'support-bot'],
    ['budget', 'set', 'support-bot', '--limit', '1'],
  ]) {
    expect((await runIron(args, { env })).code).toBe(0)
  }
  token = (await runIron(['tokens', 'issue', 'support-bot'], { env })).stdout.trim()
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
  await traffic(5)
})

afterAll(() => {
  try {
    tmux('kill-session', '-t', session)
  } catch {}
  gateway?.kill('SIGKILL')
})

describe('iron top', () => {
  it('prints one snapshot when stdout is not a terminal', async () => {
    const result = await runIron(['top', '--json'], { env })
    expect(result.code).toBe(0)
    const snapshot = JSON.parse(result.stdout)
    expect(snapshot).toMatchObject({ source: url, requests_total: 5 })
    expect(snapshot.budgets[0]).toMatchObject({ agent_name: 'support-bot', limit_micros: 1_000_000 })
    const piped = await runIron(['top'], { env })
    expect(piped.stdout).toContain('support-bot')
  })

  it('runs live in a terminal: shows traffic as it happens, answers keys, quits on q', async () => {
    const command = [process.execPath, BIN, 'top', '--interval', '100ms'].map((a) => `'${a}'`).join(' ')
    const envs = Object.entries({
      HOME: env.HOME,
      XDG_CONFIG_HOME: env.XDG_CONFIG_HOME,
      XDG_DATA_HOME: env.XDG_DATA_HOME,
      IRON_CREDENTIAL_STORE: 'file',
      TERM: 'xterm-256color',
      // A terminal opened from a CI shell: the dashboard must still draw live.
      CI: 'true',
    })
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ')
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '36', `env ${envs} ${command}; sleep 30`)
    const first = await waitForScreen((t) => t.includes('support-bot') && t.includes('live'), 'the dashboard')
    expect(first).toContain('iron top')
    await traffic(3)
    await waitForScreen((t) => (t.match(/mock-small 200 ok/g) ?? []).length >= 3, 'new requests in the feed')
    tmux('send-keys', '-t', session, '?')
    await waitForScreen((t) => t.includes('Keys') && t.includes('sort agents'), 'the help overlay')
    tmux('send-keys', '-t', session, 'Escape')
    await waitForScreen((t) => !t.includes('Keys'), 'the help overlay to close')
    tmux('resize-window', '-t', session, '-x', '70', '-y', '30')
    await waitForScreen((t) => t.includes('support-bot') && !t.includes('RUNS OUT'), 'the narrow layout')
    tmux('send-keys', '-t', session, 'q')
    await waitForScreen((t) => !t.includes('iron top'), 'the dashboard to quit')
  })
})
