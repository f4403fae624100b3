import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { gatewaysStatus, stopGateways } from '../../src/services/gateway-lifecycle.js'
import { localHolders } from '../../src/services/gateways.js'
import { startSiblingGateway, startTestGateway } from '../helpers/gateway.js'

type TestGateway = Awaited<ReturnType<typeof startTestGateway>>
let gw: TestGateway | undefined
afterEach(async () => {
  await gw?.close().catch(() => {})
  gw = undefined
})

const portOf = (url: string) => Number(new URL(url).port)
const registrations = (dataDir: string) => readdirSync(join(dataDir, 'gateways'))

describe('a second gateway on a taken port', () => {
  it('is refused as PORT_IN_USE naming the iron gateway there (URL, pid, since) and suggesting --port', async () => {
    gw = await startTestGateway()
    const g = gw
    const failed = await startSiblingGateway(g, { port: portOf(g.url), holders: localHolders(g.ctx) }).catch(
      (e: unknown) => e,
    )
    expect(failed).toBeInstanceOf(IronError)
    const error = failed as IronError
    expect(error.code).toBe('PORT_IN_USE')
    expect(error.exitCode).toBe(1)
    expect(error.message).toBe(
      `Port ${portOf(g.url)} is taken by the iron gateway at ${g.url} (pid ${process.pid} on ${(await import('node:os')).hostname()}, since ${g.running.started_at})`,
    )
    expect(error.hint).toContain('--port')
    expect(error.hint).toContain('iron gateway stop')
    expect(error.details).toMatchObject({ port: portOf(g.url), gateway: { url: g.url, pid: process.pid } })
    // It ended the heartbeat it had registered, and left no registration behind.
    expect(registrations(g.dirs.dataDir)).toHaveLength(1)
    const ended = g.ctx
      .db()
      .prepare('SELECT count(*) FROM holders WHERE ended_at IS NOT NULL')
      .pluck()
      .get() as number
    expect(ended).toBe(1)
    // The first one serves on.
    expect((await request(`${g.url}/_iron/health`)).statusCode).toBe(200)
  })

  it('says when another program holds the port', async () => {
    const other = createServer((_req, res) => res.end('not iron'))
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    const port = (other.address() as AddressInfo).port
    try {
      gw = await startTestGateway()
      const error = (await startSiblingGateway(gw, { port, holders: localHolders(gw.ctx) }).catch(
        (e: unknown) => e,
      )) as IronError
      expect(error.code).toBe('PORT_IN_USE')
      expect(error.message).toBe(`Port ${port} on 127.0.0.1 is taken by another program`)
      expect(error.hint).toContain(`iron gateway start --port ${port + 1}`)
    } finally {
      other.close()
    }
  })
})

describe('internal routes', () => {
  it('/_iron/health is open (who it is only with the token); the others stay guarded', async () => {
    gw = await startTestGateway()
    const open = await request(`${gw.url}/_iron/health`)
    expect(open.statusCode).toBe(200)
    const body = (await open.body.json()) as Record<string, unknown>
    expect(body).toMatchObject({ status: 'ok' })
    expect(body.holder).toBeUndefined()
    const admin = (await (await request(`${gw.url}/_iron/health`, { headers: gw.admin })).body.json()) as {
      holder: string
    }
    expect(admin.holder).toBe(gw.running.holder)
    for (const [method, path] of [
      ['GET', '/_iron/metrics'],
      ['GET', '/_iron/stats'],
      ['GET', '/_iron/events'],
      ['POST', '/_iron/invalidate'],
      ['POST', '/_iron/stop'],
    ] as const) {
      const r = await request(`${gw.url}${path}`, { method })
      expect(r.statusCode, path).toBe(401)
      await r.body.text()
    }
    expect((await request(`${gw.url}/_iron/health`)).statusCode).toBe(200)
  })
})

describe('gateway status and stop', () => {
  it('status says what runs on the store, where, since when, its requests; stop ends it and waits', async () => {
    gw = await startTestGateway()
    const g = gw
    const holders = localHolders(g.ctx)
    const chat = await request(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(chat.statusCode).toBe(200)
    await chat.body.text()
    const status = await gatewaysStatus(g.dirs.dataDir, g.ctx.dbPath, holders)
    expect(status).toEqual({
      store: g.ctx.dbPath,
      other_stores: [],
      gateways: [
        expect.objectContaining({
          url: g.url,
          pid: process.pid,
          holder: g.running.holder,
          store: g.ctx.dbPath,
          started_at: g.running.started_at,
          state: 'running',
          requests_total: 1,
          in_flight: 0,
        }),
      ],
    })
    expect(JSON.stringify(status)).not.toContain(g.running.admin_token)

    const stopped = await stopGateways(g.dirs.dataDir, g.ctx.dbPath, holders, { timeoutMs: 10_000 })
    expect(stopped).toEqual({
      stopped: [expect.objectContaining({ url: g.url, holder: g.running.holder, run: false })],
      left_running: [],
    })
    // Its heartbeat registration has ended, its registration file is gone, and it no longer listens.
    expect(holders(g.running.holder)?.ended_at).not.toBeNull()
    expect(registrations(g.dirs.dataDir)).toHaveLength(0)
    expect(await request(`${g.url}/_iron/health`).catch((e: unknown) => e)).toBeInstanceOf(Error)
    const none = await stopGateways(g.dirs.dataDir, g.ctx.dbPath, holders, { timeoutMs: 1_000 }).catch(
      (e: unknown) => e,
    )
    expect(none).toMatchObject({ code: 'NO_GATEWAY_RUNNING', exitCode: 3 })
  })

  it('a live process id proves nothing: a registration without a current heartbeat is not running', async () => {
    gw = await startTestGateway()
    const g = gw
    const holders = localHolders(g.ctx)
    const fake = {
      url: 'http://127.0.0.1:9',
      pid: process.pid,
      holder: 'gw:elsewhere:1:1:abcdef',
      started_at: new Date().toISOString(),
      admin_token: 'x',
      store: g.ctx.dbPath,
    }
    writeFileSync(join(g.dirs.dataDir, 'gateways', 'gw_elsewhere.json'), JSON.stringify(fake))
    const status = await gatewaysStatus(g.dirs.dataDir, g.ctx.dbPath, holders)
    expect(status.gateways.map((s) => [s.holder, s.state])).toEqual(
      expect.arrayContaining([
        [g.running.holder, 'running'],
        [fake.holder, 'unknown'],
      ]),
    )
    // Stopping stops the one whose heartbeat is current, and never signals the fake's (live) pid.
    const stopped = await stopGateways(g.dirs.dataDir, g.ctx.dbPath, holders, { timeoutMs: 10_000 })
    expect(stopped.stopped.map((s) => s.holder)).toEqual([g.running.holder])
    expect(existsSync(join(g.dirs.dataDir, 'gateways', 'gw_elsewhere.json'))).toBe(true)
  })
})
