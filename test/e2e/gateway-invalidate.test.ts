import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const home = tempDir('iron-e2e-inv')
const env: Record<string, string> = { ...(process.env as Record<string, string>), ...homeEnv(home) }
let child: ChildProcess | undefined
afterAll(() => child?.kill('SIGKILL'))

describe('commands and a running gateway', () => {
  it('a token revoked or an agent suspended by a command is refused on the very next request', async () => {
    for (const args of [
      ['init'],
      ['providers', 'add', 'mock', '--kind', 'mock'],
      ['agents', 'create', 'bot'],
      ['budget', 'set', 'bot', '--limit', '5'],
    ]) {
      expect((await runIron(args, { env })).code).toBe(0)
    }
    const token = (await runIron(['tokens', 'issue', 'bot'], { env })).stdout.trim()
    child = spawn(process.execPath, [BIN, 'gateway', 'start', '--port', '0'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const url = await new Promise<string>((resolve) => {
      let err = ''
      child!.stderr!.on('data', (d) => {
        err += d
        const match = /listening on (http:\/\/\S+)/.exec(err)
        if (match) resolve(match[1]!)
      })
    })
    const call = async (key: string) => {
      const r = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-small', messages: [{ role: 'user', content: 'hi' }] }),
      })
      await r.body.text()
      return r.statusCode
    }
    expect(await call(token)).toBe(200)
    expect((await runIron(['agents', 'update', 'bot', '--status', 'suspended'], { env })).code).toBe(0)
    expect(await call(token)).toBe(403)
    expect((await runIron(['agents', 'update', 'bot', '--status', 'active'], { env })).code).toBe(0)
    expect(await call(token)).toBe(200)
    const rotated = (await runIron(['tokens', 'rotate', 'bot', '--yes'], { env })).stdout.trim()
    expect(await call(token)).toBe(401)
    expect(await call(rotated)).toBe(200)
  })
})
