import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { type MockProvider, startMockProvider } from '../../src/testing/mock-provider.js'
import { BIN, homeEnv, ROOT, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-run')
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  ...homeEnv(home),
  UPSTREAM_KEY: 'sk-upstream-0123456789abcdefghij',
}
const store = join(home, 'data', 'iron', 'iron.db')
const child = (name: string) => join(ROOT, 'test', 'fixtures', 'run', name)
const children: ChildProcess[] = []
let mock: MockProvider

/** What the store's ledger charged an agent, in all. */
function charged(agent: string): number {
  const db = openDb(store)
  try {
    return db
      .prepare(
        "SELECT coalesce(sum(l.spent_delta), 0) FROM ledger l JOIN agents a ON a.id = l.agent_id WHERE a.name = ? AND l.kind = 'commit'",
      )
      .pluck()
      .get(agent) as number
  } finally {
    db.close()
  }
}

function tokenRow(id: string) {
  const db = openDb(store)
  try {
    return db.prepare('SELECT kind, revoked_at, revoke_reason FROM ic_tokens WHERE id = ?').get(id) as {
      kind: string
      revoked_at: number | null
      revoke_reason: string | null
    }
  } finally {
    db.close()
  }
}

/** The child's JSON line, then iron's --json summary: what `iron run --json` prints on stdout. */
function split(stdout: string) {
  const at = stdout.indexOf('\n{\n')
  return { child: JSON.parse(stdout.slice(0, at)), summary: JSON.parse(stdout.slice(at + 1)) }
}

/** Every file under the home the run used, searched for a secret. */
function filesContaining(secret: string, dir = home): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...filesContaining(secret, path))
    else if (statSync(path).isFile() && readFileSync(path).includes(secret)) found.push(path)
  }
  return found
}

/**
 * `iron run` of a command that waits for a SIGINT, once the command is ready: the gateway it runs through
 * (from iron's first line), its pid, and its exit code and stderr to come.
 */
async function waitingRun(agent: string) {
  const run = spawn(
    process.execPath,
    [BIN, 'run', '--agent', agent, '--', process.execPath, child('interrupt-child.mjs')],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(run)
  let stdout = ''
  let stderr = ''
  run.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    run.on('close', (code) => resolve({ code, stderr })),
  )
  await new Promise<void>((resolve, reject) => {
    run.stdout!.on('data', (d) => {
      stdout += d
      if (stdout.includes('child: ready')) resolve()
    })
    run.on('close', () => reject(new Error(`iron run ended early: ${stderr}`)))
  })
  const url = /through (http:\/\/\S+)/.exec(stderr)?.[1]
  expect(url, stderr).toBeDefined()
  return { pid: run.pid!, url: url!, ownGateway: stderr.includes('(a gateway for this run)'), run, exited }
}

/** Wait until no gateway but those in `except` runs on the store (a test's gateway may still be draining). */
async function noGatewayRunningBut(except: string[] = []) {
  for (;;) {
    const status = JSON.parse((await runIron(['gateway', 'status', '--json'], { env })).stdout)
    const running = (status.gateways ?? []).filter(
      (g: { state: string; url: string }) => g.state === 'running' && !except.includes(g.url),
    )
    if (running.length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

beforeAll(async () => {
  mock = await startMockProvider({})
  for (const args of [
    ['init'],
    [
      'providers',
      'add',
      'openai',
      '--kind',
      'openai',
      '--base-url',
      `${mock.url}/v1`,
      '--api-key-env',
      'UPSTREAM_KEY',
    ],
    [
      'providers',
      'add',
      'claude',
      '--kind',
      'anthropic',
      '--base-url',
      mock.url,
      '--api-key-env',
      'UPSTREAM_KEY',
    ],
    ['agents', 'create', 'bot'],
    ['budget', 'set', 'bot', '--limit', '1'],
    ['agents', 'create', 'writer'],
    ['budget', 'set', 'writer', '--limit', '1'],
    ['agents', 'create', 'tight'],
    ['budget', 'set', 'tight', '--limit', '0.001'],
  ]) {
    expect((await runIron(args, { env })).code, args.join(' ')).toBe(0)
  }
})

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await mock.close()
})

describe('iron run (spawned)', () => {
  it('runs an OpenAI SDK client behind a gateway of its own with a run token, and passes its exit code through', async () => {
    const result = await runIron(
      ['run', '--agent', 'bot', '--json', '--', process.execPath, child('openai-child.mjs')],
      {
        env: { ...env, CHILD_EXIT: '7' },
      },
    )
    expect(result.code, result.stderr).toBe(7)
    const { child: seen, summary } = split(result.stdout)
    expect(seen).toMatchObject({ sdk: 'openai', base_url: `${summary.gateway.url}/v1`, token_in_argv: false })
    expect(seen.answer).toBeTruthy()
    expect(seen.streamed).toBeTruthy()
    expect(seen.token).toMatch(/^iron_ic_/)
    expect(summary).toMatchObject({
      agent: 'bot',
      exit_code: 7,
      signal: null,
      gateway: { started_for_run: true },
      token: { kind: 'run', prefix: seen.token.slice(0, 12), revoked: true },
      requests: 2,
      blocked: 0,
      errors: 0,
    })
    // The run's spend is the agent's: what the ledger charged the agent, and what its budget shows.
    expect(summary.spent_micros).toBeGreaterThan(0)
    expect(summary.spent_micros).toBe(charged('bot'))
    expect(summary.budget).toMatchObject({ limit_micros: 1_000_000, spent_micros: charged('bot') })
    expect(tokenRow(summary.token.id)).toMatchObject({ kind: 'run', revoke_reason: 'run_ended' })
    expect(tokenRow(summary.token.id).revoked_at).not.toBeNull()
    // The token went to the command's environment only: never printed by iron, never written to disk.
    expect(result.stderr).not.toContain(seen.token)
    expect(filesContaining(seen.token)).toEqual([])
  })

  it('shares a running gateway with an Anthropic SDK client, whose token is refused there once the run ends', async () => {
    const gateway = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.push(gateway)
    const url = await new Promise<string>((resolve) => {
      let err = ''
      gateway.stderr!.on('data', (d) => {
        err += d
        const match = /listening on (http:\/\/\S+)/.exec(err)
        if (match) resolve(match[1]!)
      })
    })
    const before = charged('writer')
    const result = await runIron(
      ['run', '--agent', 'writer', '--json', '--', process.execPath, child('anthropic-child.mjs')],
      {
        env,
      },
    )
    expect(result.code, result.stderr).toBe(0)
    const { child: seen, summary } = split(result.stdout)
    expect(seen).toMatchObject({ sdk: 'anthropic', base_url: url })
    expect(seen.auth_token).toBe(seen.token)
    expect(seen.answer).toBeTruthy()
    expect(seen.streamed).toBeTruthy()
    expect(summary).toMatchObject({
      agent: 'writer',
      exit_code: 0,
      gateway: { url, started_for_run: false },
      token: { kind: 'run', revoked: true },
      requests: 2,
    })
    expect(summary.spent_micros).toBeGreaterThan(0)
    expect(summary.spent_micros).toBe(charged('writer') - before)
    const after = await request(`${url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': seen.token,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    })
    await after.body.text()
    expect(after.statusCode).toBe(401)
    gateway.kill('SIGTERM')
  })

  it('passes a SIGINT on to the command and exits as it did', async () => {
    const run = spawn(
      process.execPath,
      [BIN, 'run', '--agent', 'bot', '--', process.execPath, child('interrupt-child.mjs')],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.push(run)
    let stdout = ''
    let stderr = ''
    run.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => run.on('close', resolve))
    await new Promise<void>((resolve) =>
      run.stdout!.on('data', (d) => {
        stdout += d
        if (stdout.includes('child: ready')) resolve()
      }),
    )
    run.kill('SIGINT')
    expect(await exited).toBe(130)
    expect(stdout).toContain('child: SIGINT')
    expect(stderr).toMatch(/exited 130 .* run token revoked/)
  })

  it('runs with the agent’s own token (IRON_TOKEN, --token-stdin), counts what the budget refused, and leaves the token live', async () => {
    const token = (await runIron(['tokens', 'issue', 'tight'], { env })).stdout.trim()
    const result = await runIron(['run', '--json', '--', process.execPath, child('openai-child.mjs')], {
      env: { ...env, IRON_TOKEN: token, CHILD_GREEDY: '1' },
    })
    expect(result.code, result.stderr).toBe(0)
    const { child: seen, summary } = split(result.stdout)
    expect(seen).toMatchObject({ token, refused: 402 })
    expect(summary).toMatchObject({
      agent: 'tight',
      token: { kind: 'agent', revoked: false },
      requests: 3,
      blocked: 1,
      errors: 0,
    })
    expect(summary.spent_micros).toBe(charged('tight'))
    expect(tokenRow(summary.token.id)).toMatchObject({ kind: 'agent', revoked_at: null })
    const piped = await runIron(
      ['run', '--token-stdin', '--agent', 'tight', '--json', '--', process.execPath, '-e', ''],
      {
        env,
        input: `${token}\n`,
      },
    )
    expect(piped.code, piped.stderr).toBe(0)
    expect(JSON.parse(piped.stdout)).toMatchObject({ agent: 'tight', token: { kind: 'agent' }, requests: 0 })
    const mismatch = await runIron(
      ['run', '--token-stdin', '--agent', 'bot', '--', process.execPath, '-e', ''],
      {
        env,
        input: token,
      },
    )
    expect(mismatch.code).toBe(2)
    expect(mismatch.stderr).toContain("The IC token given is tight's, not bot's")
  })

  it('says so when the command does not exist, exiting 127 as a shell would, and revokes the run token', async () => {
    const flagged = await runIron(['run', '--agent', 'bot', 'ls', '-la'], { env })
    expect(flagged.code).toBe(2)
    expect(flagged.stderr).toContain('Put the command after --')
    const result = await runIron(['run', '--agent', 'bot', '--json', '--', 'no-such-command-iron'], { env })
    expect(result.code).toBe(127)
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'COMMAND_NOT_FOUND', exit_code: 127 })
    const db = openDb(store)
    try {
      const live = db
        .prepare("SELECT count(*) FROM ic_tokens WHERE kind = 'run' AND revoked_at IS NULL")
        .pluck()
        .get()
      expect(live).toBe(0)
    } finally {
      db.close()
    }
  })

  it('a run token says it is one in tokens list and show, and rotate refuses it: it ends with its run', async () => {
    for (const args of [
      ['agents', 'create', 'rotor'],
      ['budget', 'set', 'rotor', '--limit', '1'],
    ])
      expect((await runIron(args, { env })).code).toBe(0)
    const own = (await runIron(['tokens', 'issue', 'rotor', '--json'], { env })).stdout
    const ownId = JSON.parse(own).id as string
    const { run, exited } = await waitingRun('rotor')
    const listed = JSON.parse(
      (await runIron(['tokens', 'list', '--agent', 'rotor', '--json'], { env })).stdout,
    )
    expect(listed.map((t: { kind: string }) => t.kind).sort()).toEqual(['agent', 'run'])
    const runToken = listed.find((t: { kind: string }) => t.kind === 'run')
    expect(runToken).toMatchObject({ agent_name: 'rotor', status: 'live' })
    const piped = await runIron(['tokens', 'list', '--agent', 'rotor'], { env })
    expect(
      piped.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('\t').slice(0, 2)),
    ).toEqual(
      expect.arrayContaining([
        ['rotor', 'agent'],
        ['rotor', 'run'],
      ]),
    )
    expect((await runIron(['tokens', 'show', runToken.id], { env })).stdout).toContain('Kind\trun\n')

    const rotated = await runIron(['tokens', 'rotate', runToken.id, '--yes'], { env })
    expect(rotated.code).toBe(1)
    expect(rotated.stderr).toMatch(
      /^Error \(RUN_TOKEN_NOT_ROTATABLE\): Token iron_ic_\S+… is a run token of rotor: it ends with its iron run/,
    )
    expect(rotated.stderr).toContain(`iron tokens revoke ${runToken.id}`)
    expect(rotated.stderr).not.toMatch(/\bat .*\.js:\d+|UNIQUE|INTERNAL/)
    expect(rotated.stdout).toBe('')
    // Nothing changed: both tokens live, the agent's own still its one.
    const after = JSON.parse(
      (await runIron(['tokens', 'list', '--agent', 'rotor', '--json'], { env })).stdout,
    )
    expect(after.map((t: { id: string; status: string }) => [t.id, t.status]).sort()).toEqual(
      [
        [ownId, 'live'],
        [runToken.id, 'live'],
      ].sort(),
    )
    run.kill('SIGINT')
    const ended = await exited
    expect(ended.code).toBe(130)
    expect(ended.stderr).toContain('run token revoked')
    expect(tokenRow(runToken.id)).toMatchObject({ kind: 'run', revoke_reason: 'run_ended' })
  })

  it('gateway stop leaves the gateway a run started for itself to that run, and says so; --url stops it anyway', async () => {
    await noGatewayRunningBut()
    const own = await waitingRun('bot')
    expect(own.ownGateway).toBe(true)
    // A gateway someone started, after the run (which would otherwise have shared it).
    const started = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.push(started)
    const startedExit = new Promise<number | null>((resolve) => started.on('close', resolve))
    const shared = await new Promise<string>((resolve) => {
      let err = ''
      started.stderr!.on('data', (d) => {
        err += d
        const match = /listening on (http:\/\/\S+)/.exec(err)
        if (match) resolve(match[1]!)
      })
    })

    const first = await runIron(['gateway', 'stop', '--json'], { env })
    expect(first.code, first.stderr).toBe(0)
    const result = JSON.parse(first.stdout)
    expect(result.stopped).toEqual([expect.objectContaining({ url: shared, run: false })])
    expect(result.left_running).toEqual([expect.objectContaining({ url: own.url, pid: own.pid })])
    expect(first.stderr).toContain(`Left the gateway of an iron run at ${own.url} (pid ${own.pid}) running`)
    expect(await startedExit).toBe(0)
    const health = await request(`${own.url}/_iron/health`)
    await health.body.text()
    expect(health.statusCode).toBe(200)

    // Only the run's own is left: nothing to stop (exit 3), saying whose it is and how to stop it anyway.
    const again = await runIron(['gateway', 'stop'], { env })
    expect(again.code).toBe(3)
    expect(again.stderr).toContain("No gateway but an iron run's own is running on the store")
    expect(again.stderr).toContain(`iron gateway stop --url ${own.url}`)

    const named = await runIron(['gateway', 'stop', '--url', own.url, '--json'], { env })
    expect(named.code, named.stderr).toBe(0)
    expect(JSON.parse(named.stdout)).toEqual({
      stopped: [expect.objectContaining({ url: own.url, pid: own.pid, run: true })],
      left_running: [],
    })
    expect(named.stderr).toContain(`Stopped the gateway an iron run started for itself at ${own.url}`)
    expect(named.stderr).toContain("That run's command can no longer reach the gateway")
    // The run still ends as its command does, and revokes its token.
    own.run.kill('SIGINT')
    const ended = await own.exited
    expect(ended.code).toBe(130)
    expect(ended.stderr).toContain('run token revoked')
  })
})
