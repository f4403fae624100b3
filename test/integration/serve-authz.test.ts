import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyRoute } from '../../src/server/route.js'
import { ROUTES } from '../../src/server/routes/index.js'
import type { UserRole } from '../../src/services/api.js'
import { ROLE_RANK } from '../../src/services/authz.js'
import { routeId, SAMPLES, type Sample, serveWorld, type World } from '../helpers/serve-world.js'

/**
 * The authorization matrix, generated from the route table: every route is tried with no credentials, an
 * expired session, a revoked one, a suspended user's, another user's, a viewer's, and an API token narrowed
 * to viewer (another user's). Each gets 401, 403, or 404 for another's thing, with the error shape and nothing of
 * alice's; where the route is theirs to use (their own lists, shared reads), they get their own answer and
 * nothing of alice's. A route without a sample has no row, and fails.
 */

type Who = 'none' | 'expired' | 'revoked' | 'suspended' | 'other_user' | 'viewer' | 'api_token'
const WHO: Who[] = ['none', 'expired', 'revoked', 'suspended', 'other_user', 'viewer', 'api_token']
const DENIED_CODE: Partial<Record<Who, string>> = {
  none: 'AUTH_REQUIRED',
  expired: 'SESSION_EXPIRED',
  revoked: 'SESSION_REVOKED',
  suspended: 'USER_SUSPENDED',
}
const ROLE_OF: Partial<Record<Who, UserRole>> = { other_user: 'user', viewer: 'viewer', api_token: 'viewer' }

interface Expected {
  status: number | 'ok'
  code?: string
}

/** What a route must answer to someone who is not its owner. */
function expected(route: AnyRoute, sample: Sample, who: Who): Expected {
  if (route.access === 'open') return { status: 'ok' }
  // The lease protocol takes an agent's IC token: no person's credential is one.
  if (route.access === 'agent')
    return { status: 401, code: who === 'none' ? 'AUTH_REQUIRED' : 'INVALID_TOKEN' }
  const denied = DENIED_CODE[who]
  if (denied) return { status: 401, code: denied }
  const role = ROLE_OF[who]!
  if (ROLE_RANK[role] < ROLE_RANK[route.access]) return { status: 403, code: 'FORBIDDEN' }
  if (sample.owner === 'alice') return { status: 404 }
  return { status: 'ok' }
}

let w: World
beforeAll(async () => {
  w = await serveWorld()
})
afterAll(() => w.close())

/** A stream's status and headers; the stream itself is closed at once. */
async function openStream(path: string, token: string | undefined) {
  const abort = new AbortController()
  const response = await fetch(`${w.server.url}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  })
  const text = response.ok ? '' : await response.text()
  abort.abort()
  return { status: response.status, text, body: text ? JSON.parse(text) : undefined }
}

describe('the authorization matrix of iron serve', () => {
  it('has a row for every route, and only health, the document and login are open', () => {
    expect(ROUTES.map(routeId).filter((id) => !SAMPLES[id])).toEqual([])
    // An open route runs without a principal, which the services take for the store's owner: keep them few.
    expect(
      ROUTES.filter((r) => r.access === 'open')
        .map(routeId)
        .sort(),
    ).toEqual(['GET /api/health', 'GET /api/v1/openapi.json', 'POST /api/v1/auth/login'])
    expect(ROUTES.filter((r) => r.access === 'open' && r.service)).toEqual([])
  })

  it('lets the owner and the admins through where the others were refused', async () => {
    const agent = await w.call<{ name: string }>('GET', '/api/v1/agents/alice-bot', { token: w.alice.token })
    expect(agent.status).toBe(200)
    const asAdmin = await w.call('GET', '/api/v1/agents/alice-bot', { token: w.root.token })
    expect(asAdmin.status).toBe(200)
    const list = await w.call<{ data: Array<{ name: string }> }>('GET', '/api/v1/agents', {
      token: w.bob.token,
    })
    expect(list.status).toBe(200)
    expect(list.body.data.map((a) => a.name)).not.toContain('alice-bot')
    expect(list.body.data.map((a) => a.name).every((name) => name.startsWith('made-'))).toBe(true)
    const vera = await w.call<{ data: Array<{ name: string }> }>('GET', '/api/v1/agents', {
      token: w.vera.token,
    })
    expect(vera.body.data.map((a) => a.name)).toEqual(['vera-bot'])
    // An admin's API token narrowed to viewer acts as a viewer.
    for (const [method, path] of [
      ['GET', '/metrics'],
      ['POST', '/api/v1/audit/verify'],
      ['POST', '/api/v1/agents'],
      ['DELETE', '/api/v1/providers/mock'],
    ] as const) {
      const answer = await w.call<{ error: { code: string } }>(method, path, {
        token: w.rootViewerToken,
        body: method === 'GET' ? undefined : { name: 'x' },
      })
      expect(answer.status, `${method} ${path}`).toBe(403)
      expect(answer.body.error.code).toBe('FORBIDDEN')
    }
  })

  it('refuses, hides or answers only their own, route by route and credential by credential', async () => {
    const failures: string[] = []
    const rows: Array<[AnyRoute, Who]> = []
    for (const route of ROUTES) for (const who of WHO) rows.push([route, who])
    // Signing out ends the session the rest of the rows use: those rows come last.
    rows.sort(([a], [b]) => Number(a.path.endsWith('/logout')) - Number(b.path.endsWith('/logout')))
    for (const [route, who] of rows) {
      const id = `${routeId(route)} as ${who}`
      const sample = await SAMPLES[routeId(route)]!(w)
      if (route.path === '/api/v1/auth/login') w.clock.now += 15_000 // the login limits refill
      const token = w.credentials[who]
      const want = expected(route, sample, who)
      const answer =
        route.path === '/api/v1/events'
          ? await openStream(sample.path, token)
          : await w.call(route.method, sample.path, { token, body: sample.body })
      const text = 'text' in answer ? answer.text : ''
      if (want.status === 'ok') {
        if (answer.status >= 300)
          failures.push(`${id}: expected success, got ${answer.status} ${text.slice(0, 200)}`)
      } else {
        if (answer.status !== want.status)
          failures.push(`${id}: expected ${want.status}, got ${answer.status}`)
        const error = (answer.body as { error?: { code?: string; request_id?: string; exit_code?: number } })
          ?.error
        if (!error?.request_id || error.exit_code === undefined) failures.push(`${id}: not the error shape`)
        if (want.code && error?.code !== want.code)
          failures.push(`${id}: expected ${want.code}, got ${error?.code}`)
        if (answer.status === 401 && who === 'none' && !text.includes('AUTH_REQUIRED'))
          failures.push(`${id}: no AUTH_REQUIRED`)
      }
      // Nothing of alice's in any answer to anyone else, but what the request itself named.
      const asked = `${sample.path} ${JSON.stringify(sample.body ?? '')}`
      if (route.access !== 'open') {
        for (const mark of w.aliceMarks())
          if (!asked.includes(mark) && text.includes(mark)) failures.push(`${id}: the answer shows ${mark}`)
      }
    }
    expect(failures).toEqual([])
    expect(rows.length).toBe(ROUTES.length * WHO.length)
  })
})
