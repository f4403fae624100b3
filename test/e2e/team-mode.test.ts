import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

// Issue 13, the CLI's team mode: `iron login` against a spawned `iron serve`, then the same commands give the
// same --json as on a local store (ids, times, hashes and the actor aside, which must differ).

const PASSWORD = 'team mode e2e password'
const serverHome = tempDir('iron-e2e-serve')
const memberHome = tempDir('iron-e2e-member')
const localHome = tempDir('iron-e2e-local')
const member = (args: string[], input?: string, extra: Record<string, string> = {}) =>
  runIron(args, { env: { ...homeEnv(memberHome), ...extra }, input })
const local = (args: string[], input?: string) => runIron(args, { env: homeEnv(localHome), input })

let serve: ChildProcess
let url: string
let serveErr = ''
/** The IC token the server issued to bot (a later test checks it is no credential for the server). */
let issuedToken: unknown

/**
 * What must differ between two stores: ids, times, hashes, secrets, sequence numbers, who acted, and what a
 * budget check projects from the clock (a burn rate over the time elapsed).
 */
const VARIES =
  /^(id|.+_id|.+_at|at|token|prefix|hash|prev_hash|seq|actor|witness|requested_by|decided_by|reservation_id|next_cursor|through_seq|burn_rate_micros_per_hour|projected_period_spend_micros)$/

/** The same in text (messages): IDs and secrets' display prefixes. */
const varies = (text: string) =>
  text
    .replace(/\b([a-z]+)_[0-9a-z]{26}\b/g, '<$1 id>')
    .replace(/\biron_(ic|st|at)_[0-9A-Za-z]{4}…/g, '<iron_$1 prefix>…')

function normalize(value: unknown, key = ''): unknown {
  if (VARIES.test(key) && value !== null) return `<${key}>`
  if (typeof value === 'string') return varies(value)
  if (Array.isArray(value)) return value.map((v) => normalize(v))
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]))
  return value
}

const json = (result: CliResult) => {
  try {
    return JSON.parse(result.stdout) as unknown
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`)
  }
}

/** Run a command on the local store and through the server; both must exit the same and print the same JSON. */
async function same(args: string[], input?: string) {
  const [here, there] = await Promise.all([
    local([...args, '--json'], input),
    member([...args, '--json'], input),
  ])
  expect(there.code, `${args.join(' ')}: local ${here.stderr}; server ${there.stderr}`).toBe(here.code)
  expect(normalize(json(there)), args.join(' ')).toEqual(normalize(json(here)))
  return { local: json(here), server: json(there), code: here.code }
}

// A dozen spawned commands per test, each twice: minutes on a busy machine.
describe('team mode (spawned iron serve, iron login, the same commands)', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    serve = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--init-admin-from-env'], {
      env: {
        ...process.env,
        ...homeEnv(serverHome),
        IRON_ADMIN_NAME: 'admin',
        IRON_ADMIN_PASSWORD: PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    url = await new Promise<string>((resolve, reject) => {
      serve.stderr!.on('data', (d) => {
        serveErr += d
        const match = /listening on (http:\/\/\S+)/.exec(serveErr)
        if (match) resolve(match[1]!)
      })
      serve.on('exit', (code) => reject(new Error(`iron serve exited (${code}): ${serveErr}`)))
    })
    expect((await local(['init'])).code).toBe(0)
  })

  afterAll(async () => {
    if (serve.exitCode === null) {
      const exited = new Promise((resolve) => serve.on('exit', resolve))
      serve.kill('SIGTERM')
      await exited
    }
  })

  it('iron login with --password-stdin keeps the session in the 0600 vault file, never the config or the output', async () => {
    const wrong = await member(['login', url, '--name', 'admin', '--password-stdin'], 'not the password\n')
    expect(wrong.code).toBe(4)
    expect(wrong.stderr).toContain('Error (')
    const login = await member(
      ['login', url, '--name', 'admin', '--password-stdin', '--json'],
      `${PASSWORD}\n`,
    )
    expect(login.code, login.stderr).toBe(0)
    const view = json(login) as Record<string, unknown>
    const credentials = join(memberHome, 'config', 'iron', 'credentials.json')
    expect(view).toEqual({
      server: url,
      user: 'admin',
      role: 'admin',
      via: 'session',
      expires_at: expect.any(String),
      stored_in: credentials,
    })
    expect(statSync(credentials).mode & 0o777).toBe(0o600)
    const stored = readFileSync(credentials, 'utf8')
    const session = /iron_st_[0-9A-Za-z]+/.exec(stored)?.[0]
    expect(session).toBeDefined()
    const config = JSON.parse(readFileSync(join(memberHome, 'config', 'iron', 'config.json'), 'utf8'))
    expect(config).toEqual({ server: url })
    expect(login.stdout + login.stderr).not.toContain(session!)
    const me = json(await member(['whoami', '--json'])) as Record<string, unknown>
    expect(me).toMatchObject({
      mode: 'server',
      server: url,
      actor: 'user:admin',
      role: 'admin',
      via: 'session',
    })
    expect(json(await local(['whoami', '--json']))).toMatchObject({
      mode: 'local',
      server: null,
      via: 'local',
    })
  })

  it('agents, tokens and providers: the same --json locally and through the server', async () => {
    await same(['agents', 'create', 'bot', '--model', 'gpt-4o-mini', '--rpm', '60', '--project', 'support'])
    await same(['agents', 'show', 'bot'])
    await same(['agents', 'update', 'bot', '--description', 'answers tickets'])
    await same(['agents', 'list'])
    const issued = await same(['tokens', 'issue', 'bot', '--expires-in', '30d'])
    expect((issued.server as { token: string }).token).toMatch(/^iron_ic_/)
    issuedToken = issued.server
    await same(['tokens', 'list'])
    await same(['tokens', 'show', 'bot'])
    await same(['providers', 'add', 'mock', '--kind', 'mock'])
    await same(['providers', 'list'])
    await same(['providers', 'test', 'mock'])
    await same(['agents', 'create', 'spare'])
    await same(['agents', 'delete', 'spare', '--yes'])
    await same(['agents', 'list', '--all'])
  })

  it('budgets, pricing, usage and safety: the same --json', async () => {
    await same(['budget', 'set', 'bot', '--limit', '5', '--period', 'monthly', '--alert-at', '50,90'])
    await same(['budget', 'show', 'bot'])
    await same(['budget', 'adjust', 'bot', '--amount', '1.25', '--reason', 'refund of a batch'])
    await same(['budget', 'list'])
    await same(['budget', 'check', 'bot', '--verify'])
    await same(['budget', 'history', 'bot'])
    await same(['pricing', 'list', '--provider', 'openai'])
    await same(['pricing', 'show', 'gpt-4o-mini'])
    await same(['pricing', 'set', 'team-model', '--provider', 'openai', '--input', '1', '--output', '2'])
    await same(['pricing', 'unset', 'team-model'])
    await same(['usage', '--by', 'agent', '--since', '2026-01-01'])
    await same(['safety', 'scan', '-', '--direction', 'output'], 'mail jane.doe@example.com now')
    await same(['safety', 'policy', 'set', '--set', 'output.phone=block'])
    await same(['safety', 'policy', 'show', '--agent', 'bot'])
  })

  it('audit list, show and export follow the same events of an agent', async () => {
    const listed = await same(['audit', 'list', '--agent', 'bot'])
    const events = (listed.server as { events: Array<{ id: string; action: string }> }).events
    expect(events.map((e) => e.action)).toEqual([
      'budget.adjust',
      'budget.set',
      'token.issue',
      'agent.update',
      'agent.create',
    ])
    const show = await member(['audit', 'show', events[0]!.id, '--json'])
    expect(json(show)).toEqual(events[0])
    const exported = await Promise.all([
      local(['audit', 'export', '--agent', 'bot']),
      member(['audit', 'export', '--agent', 'bot']),
    ])
    const lines = exported.map((r) =>
      r.stdout
        .trim()
        .split('\n')
        .map((l) => normalize(JSON.parse(l))),
    )
    expect(lines[1]).toEqual(lines[0])
    expect(lines[1]).toHaveLength(5)
    // The export holds the chained fields only, as locally: no agent_name beside agent_id.
    for (const line of exported[1]!.stdout.trim().split('\n'))
      expect(Object.keys(JSON.parse(line))).not.toContain('agent_name')
    const verify = await member(['audit', 'verify', '--json'])
    expect(json(verify)).toMatchObject({ ok: true })
  })

  it('users and budget requests: the same --json', async () => {
    await same(
      ['users', 'create', 'carol', '--role', 'user', '--password-stdin'],
      'carol has a long password\n',
    )
    await same(['users', 'update', 'carol', '--display-name', 'Carol'])
    await same(['users', 'show', 'carol'])
    const asked = await same(['budget', 'request', 'bot', '--limit', '8', '--reason', 'launch week'])
    const ids = [asked.local, asked.server].map((r) => (r as { id: string }).id)
    const decided = await Promise.all([
      local(['budget', 'approve', ids[0]!, '--note', 'fine', '--json']),
      member(['budget', 'approve', ids[1]!, '--note', 'fine', '--json']),
    ])
    expect(decided[1]!.code, decided[1]!.stderr).toBe(decided[0]!.code)
    expect(normalize(json(decided[1]!))).toEqual(normalize(json(decided[0]!)))
    await same(['budget', 'requests', '--agent', 'bot'])
    await same(['budget', 'show', 'bot'])
  })

  it('an API token signs in with --token, or serves a script from IRON_SERVER and IRON_TOKEN without a login', async () => {
    const created = await member(['api-tokens', 'create', 'ci', '--role', 'admin', '--json'])
    expect(created.code, created.stderr).toBe(0)
    const token = (json(created) as { token: string }).token
    expect(token).toMatch(/^iron_at_/)
    const ciHome = tempDir('iron-e2e-ci')
    const direct = await runIron(['agents', 'show', 'bot', '--json'], {
      env: { ...homeEnv(ciHome), IRON_SERVER: url, IRON_TOKEN: token },
    })
    expect(direct.code, direct.stderr).toBe(0)
    expect(json(direct)).toMatchObject({ name: 'bot' })
    const piped = await runIron(['login', url, '--token', '--json'], {
      env: homeEnv(ciHome),
      input: `${token}\n`,
    })
    expect(piped.code, piped.stderr).toBe(0)
    expect(json(piped)).toMatchObject({ server: url, user: 'admin', role: 'admin', via: 'api_token' })
    expect(piped.stdout + piped.stderr).not.toContain(token)
    const me = await runIron(['whoami', '--json'], { env: homeEnv(ciHome) })
    expect(json(me)).toMatchObject({ mode: 'server', via: 'api_token', actor: 'user:admin' })
    const fromEnv = await runIron(['login', url, '--token', '--json'], {
      env: { ...homeEnv(tempDir('iron-e2e-ci2')), IRON_TOKEN: token },
    })
    expect(json(fromEnv)).toMatchObject({ via: 'api_token' })
    // An agent's IC token in IRON_TOKEN is iron run's: no credential for the server.
    const ic = (issuedToken as { token: string }).token
    const wrong = await runIron(['agents', 'list', '--json'], {
      env: { ...homeEnv(tempDir('iron-e2e-ci3')), IRON_SERVER: url, IRON_TOKEN: ic },
    })
    expect(wrong.code).toBe(4)
    expect((json(wrong) as { error: { code: string } }).error.code).toBe('NOT_SIGNED_IN')
    const notAToken = await runIron(['login', url, '--token'], {
      env: homeEnv(tempDir('iron-e2e-ci4')),
      input: ic,
    })
    expect(notAToken.code).toBe(2)
    expect(notAToken.stderr).toContain('INVALID_API_TOKEN')
    expect(notAToken.stderr).not.toContain(ic)
  })

  it('errors are the same: code, message, hint and exit code', async () => {
    await same(['agents', 'show', 'nobody'])
    await same(['agents', 'create', 'bot'])
    await same(['budget', 'adjust', 'bot', '--amount', '0', '--reason', 'nothing at all'])
    await same(['tokens', 'issue', 'bot'])
    await same(['pricing', 'show', 'no-such-model-anywhere'])
  })

  it('local-only commands say they stay local; --db means the local store; --server and IRON_SERVER override', async () => {
    const init = await member(['init'])
    expect(init.code).toBe(0)
    expect(init.stderr).toContain(`iron init works on the local store, not on the server in effect (${url})`)
    const here = await member([
      'agents',
      'list',
      '--db',
      join(memberHome, 'data', 'iron', 'iron.db'),
      '--json',
    ])
    expect(json(here)).toEqual([])
    const other = await member(['agents', 'list', '--server', 'http://127.0.0.1:9', '--json'])
    expect(other.code).toBe(4)
    expect((json(other) as { error: { code: string } }).error.code).toBe('NOT_SIGNED_IN')
    const fromEnv = await local(['agents', 'list'], undefined)
    expect(fromEnv.code).toBe(0)
    const envServer = await runIron(['agents', 'list', '--json'], {
      env: { ...homeEnv(localHome), IRON_SERVER: url },
    })
    expect(envServer.code).toBe(4)
    expect(envServer.stdout).toContain(`Not signed in to ${url} (from IRON_SERVER)`)
  })

  it('doctor checks the server and the session', async () => {
    const doctor = await member(['doctor', '--json'])
    const checks = (json(doctor) as { checks: Array<{ name: string; status: string }> }).checks
    expect(checks.find((c) => c.name === 'server')?.status).toBe('ok')
    expect(checks.find((c) => c.name === 'session')?.status).toBe('ok')
  })

  it('logout revokes the session on the server and forgets it here; commands then say to sign in', async () => {
    const credentials = join(memberHome, 'config', 'iron', 'credentials.json')
    const session = /iron_st_[0-9A-Za-z]+/.exec(readFileSync(credentials, 'utf8'))![0]
    const logout = await member(['logout', '--json'])
    expect(logout.code, logout.stderr).toBe(0)
    expect(json(logout)).toEqual({ server: url, user: 'admin', session_revoked: true, note: null })
    expect(readFileSync(credentials, 'utf8')).not.toContain(session)
    const after = await member(['agents', 'list'])
    expect(after.code).toBe(4)
    expect(after.stderr).toContain(`Error (NOT_SIGNED_IN): Not signed in to ${url} (from config server)`)
    const response = await fetch(`${url}/api/v1/agents`, { headers: { authorization: `Bearer ${session}` } })
    expect(response.status).toBe(401)
    expect(serveErr).not.toContain(session)
    expect(serveErr).not.toContain(PASSWORD)
  })
})
