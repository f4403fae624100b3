import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { normalizeServerUrl, ServerConnection, ServerError } from '../../src/client/http.js'
import { HttpControlPlane } from '../../src/client/http-control-plane.js'
import type { IronError } from '../../src/core/errors.js'
import { startTestServer } from '../contract/harness.js'

// The HTTP client's transport, apart from the contract: what it says when the server is not there, is
// slow, is not iron, or refuses; that the bearer never shows; that a stream is read as it comes.

const SECRET = 'iron_st_ThisIsNotARealSessionButLooksLikeOne000'

async function failure(promise: Promise<unknown>): Promise<IronError> {
  try {
    await promise
  } catch (error) {
    return error as IronError
  }
  throw new Error('expected the call to fail, and it succeeded')
}

/** A plain HTTP server on loopback that answers as `handle` says. */
async function fakeServer(handle: (path: string, res: ServerResponse, close: () => void) => void) {
  const closed: string[] = []
  const server: Server = createServer((req, res) => {
    req.on('close', () => closed.push(req.url ?? ''))
    handle(req.url ?? '', res, () => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A port nothing listens on: one a server had, then gave back. */
async function closedPort(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

const noSecretIn = (error: IronError) => {
  const text = JSON.stringify({ ...error.toJSON(), stack: error.stack, cause: String(error.cause) })
  expect(text).not.toContain(SECRET)
}

describe('the HTTP client when things go wrong', () => {
  it('a server that is not there: SERVER_UNREACHABLE naming the URL and what to check, exit 1', async () => {
    const url = await closedPort()
    const cp = new HttpControlPlane(new ServerConnection({ url, token: SECRET }))
    const error = await failure(cp.agents.list())
    expect(error.code).toBe('SERVER_UNREACHABLE')
    expect(error.exitCode).toBe(1)
    expect(error.message).toBe(
      `Cannot reach the iron server at ${url}: connection refused (nothing listens on that port)`,
    )
    expect(error.hint).toContain('iron serve')
    expect(error.hint).toContain('--server')
    noSecretIn(error)
    await cp.close()
  })

  it('a server that does not answer in time: SERVER_TIMEOUT', async () => {
    const fake = await fakeServer(() => {})
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET, timeoutMs: 300 }))
    const error = await failure(cp.agents.get('bot'))
    expect(error.code).toBe('SERVER_TIMEOUT')
    expect(error.message).toContain(fake.url)
    noSecretIn(error)
    await cp.close()
    await fake.close()
  })

  it('something that is not iron (a proxy’s error page) is said as such, with the status', async () => {
    const fake = await fakeServer((_path, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
    })
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET }))
    const error = await failure(cp.budgets.list())
    expect(error.code).toBe('SERVER_ERROR')
    expect(error.message).toContain('HTTP 502')
    expect(error.message).toContain('502 Bad Gateway')
    expect(error.hint).toContain(`${fake.url}/api/health`)
    const html200 = await fakeServer((_path, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>a login portal</html>')
    })
    const portal = new HttpControlPlane(new ServerConnection({ url: html200.url, token: SECRET }))
    expect((await failure(portal.agents.get('bot'))).code).toBe('SERVER_ERROR')
    await Promise.all([cp.close(), portal.close(), fake.close(), html200.close()])
  })

  it('a list answer that is not a list is refused rather than taken as empty', async () => {
    const fake = await fakeServer((_path, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"agents": []}')
    })
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET }))
    expect((await failure(cp.agents.list())).code).toBe('SERVER_ERROR')
    await Promise.all([cp.close(), fake.close()])
  })

  it('a server that keeps handing out the same cursor is not followed forever', async () => {
    let calls = 0
    const fake = await fakeServer((_path, res) => {
      calls++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ data: [{ id: `p${calls}` }], next_cursor: 'same' }))
    })
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET }))
    expect((await cp.providers.list()).map((p) => p.id)).toEqual(['p1', 'p2'])
    await Promise.all([cp.close(), fake.close()])
  })

  it('the export is read as it arrives: the first event comes before the body ends, and stopping ends it', async () => {
    const event = {
      id: 'aud_1',
      seq: 1,
      at: '2026-01-01T00:00:00.000Z',
      actor: 'user:a',
      action: 'x',
      resource: null,
      agent_id: null,
      outcome: 'success',
      data: {},
      prev_hash: '0',
      hash: '1',
    }
    // One line, then the body stays open: a client that waited for the end would never yield.
    const fake = await fakeServer((path, res) => {
      expect(path).toMatch(/^\/api\/v1\/audit\/export\?/)
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.write(`${JSON.stringify(event)}\n`)
    })
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET }))
    for await (const got of cp.audit.stream({})) {
      expect(got).toEqual({ ...event, agent_name: null })
      break
    }
    await expect.poll(() => fake.closed.length).toBe(1)
    await Promise.all([cp.close(), fake.close()])
  })
})

describe('an export that is not iron’s', () => {
  it('a line that is not JSON is SERVER_ERROR, not a crash', async () => {
    const fake = await fakeServer((_path, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.end('<html>\n')
    })
    const cp = new HttpControlPlane(new ServerConnection({ url: fake.url, token: SECRET }))
    const read = async () => {
      for await (const _ of cp.audit.stream({})) {
      }
    }
    expect((await failure(read())).code).toBe('SERVER_ERROR')
    await Promise.all([cp.close(), fake.close()])
  })
})

describe('the HTTP client against iron serve', () => {
  let t: Awaited<ReturnType<typeof startTestServer>>
  beforeAll(async () => {
    t = await startTestServer()
    await t.addUser('admin', 'admin')
    await t.addUser('vera', 'viewer')
  })
  afterAll(async () => {
    await t.close()
  })

  it('no credential, or one the server does not know: its 401 as an IronError (exit 4) that says to sign in', async () => {
    const anonymous = new HttpControlPlane(new ServerConnection({ url: t.server.url }))
    const none = await failure(anonymous.agents.list())
    expect(none).toBeInstanceOf(ServerError)
    expect(none).toMatchObject({ code: 'AUTH_REQUIRED', exitCode: 4 })
    expect(none.hint).toContain('iron login')
    expect((none as ServerError).requestId).toMatch(/^req_/)
    const unknown = t.clientFor(SECRET)
    const refused = await failure(unknown.agents.list())
    expect(refused.exitCode).toBe(4)
    noSecretIn(refused)
    await Promise.all([anonymous.close(), unknown.close()])
  })

  it('a viewer’s write is refused as the server says: 403 FORBIDDEN naming the role, exit 4', async () => {
    const viewer = t.clientFor(await t.signIn('vera'))
    const error = await failure(viewer.agents.create({ name: 'not-allowed' }))
    expect(error.code).toBe('FORBIDDEN')
    expect(error.exitCode).toBe(4)
    expect(error.message).toMatch(/user|admin/)
    await viewer.close()
  })

  it('a request the server’s schema refuses: a usage error (exit 2) with the fields in details', async () => {
    const admin = t.clientFor(await t.signIn('admin'))
    const error = await failure(admin.budgets.set('x', { limit_micros: 'lots' as unknown as number }))
    expect(error.exitCode).toBe(2)
    expect(error.details?.fields).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]),
    )
    await admin.close()
  })
})

describe('server URLs', () => {
  it('are kept in one spelling, and only http(s) without credentials, query or fragment', () => {
    expect(normalizeServerUrl('HTTPS://Iron.Example.com:443/')).toBe('https://iron.example.com')
    expect(normalizeServerUrl(' http://127.0.0.1:8787/team/ ')).toBe('http://127.0.0.1:8787/team')
    for (const bad of ['iron.example.com', 'ftp://x', 'https://u:p@x', 'https://x/?a=1', 'https://x/#f', ''])
      expect(() => normalizeServerUrl(bad), bad).toThrow(/server URL|Not a URL/)
  })
})
