import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-gw')
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  ...homeEnv(home),
  UPSTREAM_KEY: 'sk-upstream-0123456789abcdefghij',
  // A gateway's leases outlive its last heartbeat by this many seconds (the smallest allowed).
  IRON_GATEWAY_LEASE_TTL: '3',
}
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
})

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function startGateway(
  withEnv: Record<string, string> = env,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
    env: withEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let err = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${err}`)), 20_000)
    child.stderr!.on('data', (d) => {
      err += d
      const match = /listening on (http:\/\/\S+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1]!, stderr: () => err })
      }
    })
    child.on('exit', () => reject(new Error(`gateway exited: ${err}`)))
  })
}

describe('iron gateway start (spawned)', () => {
  it('kill -9 under load loses no completed request, and what it held comes back once its heartbeat runs out', async () => {
    const mock = await startMockProvider({ latencyMs: 5, chunkDelayMs: 2, outputTokens: 30 })
    const setup = [
      ['init'],
      [
        'providers',
        'add',
        'up',
        '--kind',
        'openai',
        '--base-url',
        `${mock.url}/v1`,
        '--api-key-env',
        'UPSTREAM_KEY',
      ],
      ['agents', 'create', 'bot'],
      ['budget', 'set', 'bot', '--limit', '100'],
    ]
    for (const args of setup) expect((await runIron(args, { env })).code, args.join(' ')).toBe(0)
    const token = (await runIron(['tokens', 'issue', 'bot'], { env })).stdout.trim()

    const first = await startGateway()
    const completed = new Set<string>()
    let stop = false
    const lane = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const stream = (n + i) % 2 === 0
        try {
          const response = await request(`${first.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'gpt-4o-mini',
              stream,
              messages: [{ role: 'user', content: `request ${n}-${i}` }],
            }),
          })
          const text = await response.body.text()
          const finished = stream ? text.includes('data: [DONE]') : text.includes('"usage"')
          if (response.statusCode === 200 && finished)
            completed.add(String(response.headers['x-iron-request-id']))
        } catch {
          return
        }
      }
    }
    const lanes = Array.from({ length: 16 }, (_, n) => lane(n))
    // Killed once it has answered a few dozen requests, with 16 more in flight.
    await waitFor(() => completed.size >= 40, 20_000)
    first.child.kill('SIGKILL')
    stop = true
    await Promise.all(lanes)

    // What it answered and had not yet written is in its journal: the next iron to open the store writes
    // it (here `audit verify`, which must also find the chain whole).
    const audited = await runIron(['audit', 'verify'], { env })
    expect(audited.code, audited.stderr).toBe(0)
    const db = openDb(join(home, 'data', 'iron', 'iron.db'))
    const committed = new Set(
      db.prepare("SELECT reservation_id FROM ledger WHERE kind = 'commit'").pluck().all() as string[],
    )
    const recorded = new Set(
      db
        .prepare("SELECT resource_id FROM audit_events WHERE action = 'gateway.request'")
        .pluck()
        .all() as string[],
    )
    const lost = [...completed].filter((id) => !committed.has(id) || !recorded.has(id))
    expect(lost).toEqual([])
    const open = () =>
      db
        .prepare(
          "SELECT count(*) FROM ledger r WHERE kind IN ('reserve', 'lease_grant') AND NOT EXISTS (SELECT 1 FROM ledger c WHERE c.reservation_id = r.reservation_id AND c.kind NOT IN ('reserve', 'lease_grant'))",
        )
        .pluck()
        .get() as number
    const leftOpen = open()
    expect(leftOpen).toBeGreaterThan(0)

    // Nothing tells the new gateway the old one is dead but the old one's silence: its leases go back once
    // its heartbeat (3 s here) has run out, at the new gateway's start or at one of its next ticks.
    const second = await startGateway()
    await waitFor(() => open() === 0, 20_000)
    db.close()
    const exit = new Promise<string>((resolve) =>
      second.child.on('exit', (code, signal) =>
        resolve(code === null ? `killed by ${signal}` : `exit ${code}`),
      ),
    )
    second.child.kill('SIGINT')
    expect(await exit, second.stderr()).toBe('exit 130')
    expect(second.stderr()).toContain('Stopped.')

    const verify = await runIron(['budget', 'check', 'bot', '--verify'], { env })
    expect(verify.code).toBe(0)
    expect(verify.stdout).toContain('verified')
    await mock.close()
  })

  it('a gateway that stalls past its heartbeat loses its lease to the store, and holds a new one when it resumes', async () => {
    const mock = await startMockProvider({ outputTokens: 8 })
    const stallHome = tempDir('iron-e2e-stall')
    const stallEnv = { ...env, ...homeEnv(stallHome) }
    for (const args of [
      ['init'],
      [
        'providers',
        'add',
        'up',
        '--kind',
        'openai',
        '--base-url',
        `${mock.url}/v1`,
        '--api-key-env',
        'UPSTREAM_KEY',
      ],
      ['agents', 'create', 'bot'],
      ['budget', 'set', 'bot', '--limit', '1'],
    ])
      expect((await runIron(args, { env: stallEnv })).code, args.join(' ')).toBe(0)
    const token = (await runIron(['tokens', 'issue', 'bot'], { env: stallEnv })).stdout.trim()
    const ask = async (url: string) => {
      const response = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          max_tokens: 20,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      })
      await response.body.text()
      return response.statusCode
    }
    const db = openDb(join(stallHome, 'data', 'iron', 'iron.db'))
    const leased = () => db.prepare('SELECT leased_micros FROM budgets').pluck().get() as number

    const first = await startGateway(stallEnv)
    expect(await ask(first.url)).toBe(200)
    expect(leased()).toBeGreaterThan(0)
    // Once its answer is in the store (stopped in the middle of a commit, it would hold every writer up).
    await waitFor(
      () => db.prepare("SELECT count(*) FROM ledger WHERE kind = 'commit'").pluck().get() === 1,
      10_000,
    )
    // Stopped, not dead: its process id stays alive, and nothing but its silent heartbeat says it is gone.
    first.child.kill('SIGSTOP')
    const second = await startGateway(stallEnv)
    await waitFor(() => leased() === 0, 20_000)
    expect(await ask(second.url)).toBe(200)

    first.child.kill('SIGCONT')
    expect(await ask(first.url)).toBe(200)
    expect(first.stderr()).toContain('heartbeat ran out')
    // Each gateway keeps its own registration, so both hear of the next change to the store.
    expect(readdirSync(join(stallHome, 'data', 'iron', 'gateways'))).toHaveLength(2)

    for (const gateway of [first, second]) {
      const exit = new Promise((resolve) => gateway.child.on('exit', resolve))
      gateway.child.kill('SIGINT')
      await exit
    }
    const check = await runIron(['budget', 'check', 'bot', '--verify', '--json'], { env: stallEnv })
    const result = JSON.parse(check.stdout)
    expect(result.verify.ok, result.verify.problems.join('; ')).toBe(true)
    expect(result.budget.leased_micros).toBe(0)
    expect(result.budget.spent_micros).toBeLessThanOrEqual(1_000_000)
    db.close()
    await mock.close()
  })
})
