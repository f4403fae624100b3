import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { startMockProvider } from '../../bench/lib/mock-provider.js'
import { openDb } from '../../src/store/db.js'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-gw')
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  ...homeEnv(home),
  UPSTREAM_KEY: 'sk-upstream-0123456789abcdefghij',
}
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
})

function startGateway(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
    env,
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
  it('kill -9 under load loses no completed request, and a restart releases what was left reserved', async () => {
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
    await new Promise((r) => setTimeout(r, 1_500))
    first.child.kill('SIGKILL')
    stop = true
    await Promise.all(lanes)
    expect(completed.size).toBeGreaterThan(20)

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

    const second = await startGateway()
    if (leftOpen > 0) expect(second.stderr()).toContain(`Released ${leftOpen} reservation(s)`)
    expect(open()).toBe(0)
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
})
