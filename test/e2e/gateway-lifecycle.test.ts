import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { homeEnv, runIron } from '../helpers/cli.js'
import { type SpawnedGateway, spawnGateway } from '../helpers/spawned-gateway.js'
import { tempDir } from '../helpers/temp.js'

const env: NodeJS.ProcessEnv = { ...process.env, ...homeEnv(tempDir('iron-e2e-life')) }
const gateways: SpawnedGateway[] = []
afterAll(() => {
  for (const g of gateways) g.child.kill('SIGKILL')
})

describe('iron gateway start | status | stop', () => {
  it('a second gateway on a taken port says so (and whose), status tells what runs, stop ends it', async () => {
    for (const args of [['init'], ['providers', 'add', 'dry', '--kind', 'mock'], ['agents', 'create', 'bot']])
      expect((await runIron(args, { env })).code).toBe(0)
    const token = (await runIron(['tokens', 'issue', 'bot'], { env })).stdout.trim()
    const first = await spawnGateway(['--port', '0'], env)
    gateways.push(first)
    const port = new URL(first.url).port

    const second = await runIron(['gateway', 'start', '--port', port], { env })
    expect(second.code, second.stderr).toBe(1)
    expect(second.stderr).toMatch(
      new RegExp(
        `^Error \\(PORT_IN_USE\\): Port ${port} is taken by the iron gateway at ${first.url.replaceAll('.', '\\.')} \\(pid ${first.child.pid}`,
      ),
    )
    expect(second.stderr).toContain('--port')
    expect(second.stderr).not.toMatch(/bug in iron|EADDRINUSE|INTERNAL/)
    const asJson = JSON.parse((await runIron(['gateway', 'start', '--port', port, '--json'], { env })).stdout)
    expect(asJson.error).toMatchObject({ code: 'PORT_IN_USE', exit_code: 1 })

    // A liveness probe needs no token.
    expect((await request(`${first.url}/_iron/health`)).statusCode).toBe(200)
    const call = await request(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(call.statusCode).toBe(200)
    await call.body.text()

    const status = await runIron(['gateway', 'status'], { env })
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`URL\t${first.url}`)
    expect(status.stdout).toContain('State\trunning')
    expect(status.stdout).toContain('Requests\t1')
    expect(status.stdout).toContain(`Process\tpid ${first.child.pid}`)
    expect(status.stdout).toMatch(/Since\t\d{4}-\d\d-\d\dT/)
    expect(status.stdout).toMatch(/Store\t.*iron\.db/)
    const statusJson = JSON.parse((await runIron(['gateway', 'status', '--json'], { env })).stdout)
    expect(statusJson.gateways).toEqual([
      expect.objectContaining({ url: first.url, pid: first.child.pid, state: 'running', requests_total: 1 }),
    ])
    expect(JSON.stringify(statusJson)).not.toContain('admin_token')

    const stop = await runIron(['gateway', 'stop'], { env })
    expect(stop.code, stop.stderr).toBe(0)
    expect(stop.stderr).toContain(`✓ Stopped the gateway at ${first.url} (pid ${first.child.pid})`)
    // It stopped as on SIGTERM: drained, said so, exit 0; and stop returned only once it had.
    expect(await first.exited).toBe(0)
    expect(first.stderr()).toContain('Stopped.')

    const after = await runIron(['gateway', 'status'], { env })
    expect(after.code, after.stderr).toBe(3)
    expect(after.stderr).toContain('No gateway is registered on the store')
    const again = await runIron(['gateway', 'stop'], { env })
    expect(again.code, again.stderr).toBe(3)
    expect(again.stderr).toContain('NO_GATEWAY_RUNNING')
  })
})
