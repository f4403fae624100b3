import { request } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TempServer, tempServer } from '../helpers/serve.js'

interface ErrorAnswer {
  error: {
    code: string
    message: string
    hint?: string
    fields?: Array<{ location: string; path: string; code: string; message: string }>
    exit_code: number
    request_id: string
  }
}

let t: TempServer
let admin: string

beforeAll(async () => {
  t = await tempServer({ bodyTimeoutMs: 300 })
  admin = (await t.addUser('root', 'admin')).token
})
afterAll(() => t.close())

/** A raw HTTP request (fetch cannot send a body slowly, or a lying Content-Length). */
function rawRequest(
  path: string,
  options: { method: string; headers: Record<string, string>; chunks: string[]; gapMs?: number },
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${t.server.url}${path}`,
      { method: options.method, headers: options.headers },
      (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      },
    )
    req.on('error', reject)
    const send = async () => {
      for (const chunk of options.chunks) {
        req.write(chunk)
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs))
      }
    }
    void send().then(() => {
      if (!options.gapMs) req.end()
    })
  })
}

describe('iron serve over HTTP', () => {
  it('answers its health without credentials, with a request id on every answer', async () => {
    const health = await t.call<{ status: string; store: string; schema_version: number }>(
      'GET',
      '/api/health',
    )
    expect(health.status).toBe(200)
    expect(health.body).toMatchObject({ status: 'ok', store: 'sqlite', version: '0.0.0-test' })
    expect(health.body.schema_version).toBeGreaterThanOrEqual(7)
    expect(health.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/)
    const other = await t.call('GET', '/api/health')
    expect(other.headers.get('x-request-id')).not.toBe(health.headers.get('x-request-id'))
    expect(health.headers.get('access-control-allow-origin')).toBeNull()
    expect(health.headers.get('cache-control')).toBe('no-store')
  })

  it('says 404 for an unknown route and 405 with Allow for a wrong method; OPTIONS is refused (CORS closed)', async () => {
    const missing = await t.call<ErrorAnswer>('GET', '/api/v1/nothing-here', { token: admin })
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('ROUTE_NOT_FOUND')
    expect(missing.body.error.request_id).toBe(missing.headers.get('x-request-id'))

    const wrong = await t.call<ErrorAnswer>('PUT', '/api/v1/agents', { token: admin })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST')
    expect(wrong.body.error.code).toBe('METHOD_NOT_ALLOWED')

    const options = await t.call<ErrorAnswer>('OPTIONS', '/api/v1/agents', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(options.status).toBe(405)
    expect(options.headers.get('access-control-allow-origin')).toBeNull()
    expect(options.headers.get('access-control-allow-methods')).toBeNull()
  })

  it('answers HEAD like GET without a body', async () => {
    const get = await t.call('GET', '/api/v1/agents', { token: admin })
    const head = await t.call('HEAD', '/api/v1/agents', { token: admin })
    expect(head.status).toBe(200)
    expect(head.text).toBe('')
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(get.text)))
  })

  it('asks for credentials with 401 and WWW-Authenticate, and refuses a malformed one', async () => {
    const none = await t.call<ErrorAnswer>('GET', '/api/v1/agents')
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(none.body.error).toMatchObject({ code: 'AUTH_REQUIRED', exit_code: 4 })
    for (const authorization of [
      'Basic cm9vdDpwdw==',
      'Bearer',
      'Bearer not-a-token',
      'Bearer iron_ic_abcdefghij',
    ]) {
      const bad = await t.call<ErrorAnswer>('GET', '/api/v1/agents', { headers: { authorization } })
      expect(bad.status, authorization).toBe(401)
      expect(bad.body.error.exit_code).toBe(4)
    }
  })

  it('gives every validation problem at once, as 422 with fields', async () => {
    const answer = await t.call<ErrorAnswer>('POST', '/api/v1/agents?x=1', {
      token: admin,
      body: { name: 42, allowed_models: 'gpt-4o', requests_per_minute: 1.5, extra: true },
    })
    expect(answer.status).toBe(422)
    expect(answer.body.error.code).toBe('VALIDATION_FAILED')
    expect(answer.body.error.exit_code).toBe(2)
    const where = answer.body.error.fields!.map((f) => `${f.location}:${f.path}`)
    expect(where).toEqual(
      expect.arrayContaining([
        'query:x',
        'body:name',
        'body:allowed_models',
        'body:requests_per_minute',
        'body:',
      ]),
    )
    const limit = await t.call<ErrorAnswer>('GET', '/api/v1/agents?limit=0&limit=3&include_deleted=maybe', {
      token: admin,
    })
    expect(limit.status).toBe(422)
    expect(limit.body.error.fields!.map((f) => f.path).sort()).toEqual(['include_deleted', 'limit'])
  })

  it('takes JSON only (415), valid JSON only (400), and at most 1 MiB (413)', async () => {
    const form = await t.call<ErrorAnswer>('POST', '/api/v1/agents', {
      token: admin,
      raw: 'name=a',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(form.status).toBe(415)
    expect(form.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    const zipped = await t.call<ErrorAnswer>('POST', '/api/v1/agents', {
      token: admin,
      body: { name: 'zipped' },
      headers: { 'content-encoding': 'gzip' },
    })
    expect(zipped.status).toBe(415)
    const broken = await t.call<ErrorAnswer>('POST', '/api/v1/agents', {
      token: admin,
      raw: '{"name": ',
      headers: { 'content-type': 'application/json' },
    })
    expect(broken.status).toBe(400)
    expect(broken.body.error.code).toBe('INVALID_JSON')
    const big = await t.call<ErrorAnswer>('POST', '/api/v1/safety/scan', {
      token: admin,
      body: { text: 'x'.repeat(1024 * 1024) },
    })
    expect(big.status).toBe(413)
    expect(big.body.error.code).toBe('BODY_TOO_LARGE')
    // Without a Content-Length, the limit holds as the body arrives.
    const chunked = await rawRequest('/api/v1/safety/scan', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${admin}`,
        'content-type': 'application/json',
        'transfer-encoding': 'chunked',
      },
      chunks: ['{"text":"', 'y'.repeat(600 * 1024), 'y'.repeat(600 * 1024), '"}'],
    })
    expect(chunked.status).toBe(413)
    expect((await t.call('GET', '/api/health')).status).toBe(200)
  })

  it('cuts off a body that trickles in (408)', async () => {
    const slow = await rawRequest('/api/v1/agents', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${admin}`,
        'content-type': 'application/json',
        'content-length': '100',
      },
      chunks: ['{"na', 'me"'],
      gapMs: 50,
    })
    expect(slow.status).toBe(408)
    expect(JSON.parse(slow.body).error.code).toBe('REQUEST_TIMEOUT')
  })

  it('creates and reads agents as the admin, and pages a list with an opaque cursor in the service order', async () => {
    const created = await t.call<{ name: string; id: string }>('POST', '/api/v1/agents', {
      token: admin,
      body: { name: 'support-bot', allowed_models: ['gpt-4o-mini'] },
    })
    expect(created.status).toBe(201)
    expect(created.body.name).toBe('support-bot')
    for (const name of ['a-1', 'c-3', 'b-2', 'd-4']) {
      expect((await t.call('POST', '/api/v1/agents', { token: admin, body: { name } })).status).toBe(201)
    }
    const local = (await t.cp.agents.list()).map((a) => a.name)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2'
      const page = await t.call<{ data: Array<{ name: string }>; next_cursor: string | null }>(
        'GET',
        `/api/v1/agents${query}`,
        { token: admin },
      )
      expect(page.status).toBe(200)
      expect(page.body.data.length).toBeLessThanOrEqual(2)
      seen.push(...page.body.data.map((a) => a.name))
      cursor = page.body.next_cursor
      pages++
    } while (cursor && pages < 10)
    expect(pages).toBe(3)
    expect(seen).toEqual(local)
    const bad = await t.call<ErrorAnswer>('GET', '/api/v1/agents?cursor=not-ours', { token: admin })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('INVALID_CURSOR')
    const one = await t.call<{ id: string }>('GET', `/api/v1/agents/${encodeURIComponent('support-bot')}`, {
      token: admin,
    })
    expect(one.body.id).toBe(created.body.id)
    const gone = await t.call<ErrorAnswer>('GET', '/api/v1/agents/nobody', { token: admin })
    expect(gone.status).toBe(404)
    expect(gone.body.error).toMatchObject({ code: 'AGENT_NOT_FOUND', exit_code: 3 })
  })

  it('limits sign-ins per address: 401 for wrong passwords, then 429 with Retry-After', async () => {
    const answers: Array<{ status: number; code: string; retry: string | null }> = []
    for (let n = 0; n < 11; n++) {
      const answer = await t.call<ErrorAnswer>('POST', '/api/v1/auth/login', {
        body: { name: `nobody-${n}`, password: 'not the password at all' },
      })
      answers.push({
        status: answer.status,
        code: answer.body.error.code,
        retry: answer.headers.get('retry-after'),
      })
    }
    expect(answers.slice(0, 10).every((a) => a.status === 401 && a.code === 'INVALID_CREDENTIALS')).toBe(true)
    expect(answers[10]).toMatchObject({ status: 429, code: 'RATE_LIMITED' })
    expect(Number(answers[10]!.retry)).toBeGreaterThan(0)
    // Another address is not held back by this one (the test's users sign in from their own).
    expect((await t.call('GET', '/api/v1/agents', { token: admin })).status).toBe(200)
  })

  it('answers what is not HTTP, or headers past 16 KiB, in the error shape with a request id', async () => {
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(t.server.url)
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(text))
        let answer = ''
        socket.on('data', (d) => (answer += d))
        socket.on('close', () => resolve(answer))
        socket.on('error', reject)
      })
    const garbage = await raw('HELLO THERE\r\n\r\n')
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /)
    expect(garbage).toMatch(/x-request-id: req_[0-9a-z]{26}/)
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).error).toMatchObject({
      code: 'BAD_REQUEST',
      exit_code: 2,
    })
    const big = await raw(`GET /api/health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`)
    expect(big).toMatch(/^HTTP\/1\.1 431 /)
    expect(big).toContain('HEADERS_TOO_LARGE')
    expect((await t.call('GET', '/api/health')).status).toBe(200)
  })
})
