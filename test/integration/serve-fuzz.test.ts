import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { z } from 'zod'
import type { AnyRoute } from '../../src/server/route.js'
import { ROUTES } from '../../src/server/routes/index.js'
import { routeId, SAMPLES, serveWorld, type World } from '../helpers/serve-world.js'

/**
 * Every route, fuzzed with requests that are wrong in one way or several: bodies that are not JSON, JSON of
 * the wrong shape or with keys the route does not know, the wrong media type, query strings with unknown
 * names or bad values, path parameters of any text, garbage credentials. Each answer must be a 4xx in the
 * error shape, never a 500, and the server must answer normally afterwards. Runs are bounded (30 a route).
 */

const RUNS = 30

let w: World
beforeAll(async () => {
  w = await serveWorld()
})
afterAll(() => w.close())

interface Fuzzed {
  kind: string
  path: string
  body?: string
  headers: Record<string, string>
}

const shapeOf = (schema: z.ZodType | undefined): string[] =>
  Object.keys((schema as unknown as { shape?: Record<string, unknown> } | undefined)?.shape ?? {})

/** JSON values of every kind, nested, with keys that have meaning to JavaScript. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -1, 1e308, -0.5, 2 ** 53 + 1, '', 'null', '__proto__'),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor')),
      tie('value'),
      {
        maxKeys: 4,
      },
    ),
  ),
})).value

const junkText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom('{', '{"a":', '[1,2', '"unterminated', 'nul', '{"a":1}}', '\u0000', '['.repeat(5_000)),
)

function fuzzedRequest(route: AnyRoute, samplePath: string): fc.Arbitrary<Fuzzed> {
  const [base, sampleQuery = ''] = samplePath.split('?')
  const queryKeys = shapeOf(route.query)
  const bodyKeys = shapeOf(route.body)
  const takesBody = route.method !== 'GET'
  const params = route.path.match(/\{\w+\}/g) ?? []
  const json = { 'content-type': 'application/json' }
  const q = (extra: string) => {
    const query = [sampleQuery, extra].filter(Boolean).join('&')
    return `${base}${query ? `?${query}` : ''}`
  }
  const kinds: Array<fc.Arbitrary<Fuzzed>> = [
    // A query parameter the route does not know, beside random ones.
    fc
      .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), jsonValue)
      .map(([name, value, body]) => ({
        kind: 'unknown query parameter',
        path: q(`zz_${encodeURIComponent(name)}=${encodeURIComponent(value)}`),
        body: takesBody ? JSON.stringify(body) : undefined,
        headers: json,
      })),
    // Credentials that are not credentials.
    fc
      .oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
        fc.string({ maxLength: 60 }).map((s) => `Bearer iron_st_${s.replace(/[^\x21-\x7e]/g, 'x')}`),
        fc.constantFrom('Basic YWRtaW46YWRtaW4=', 'Bearer iron_at_', 'bearer  ', 'Digest x'),
      )
      .filter(
        (v) => v.trim() !== '' && /^[\t\x20-\x7e]*$/.test(v) && !/^Bearer iron_(st|at)_\S{8,}$/i.test(v),
      )
      .map((authorization) => ({
        kind: 'garbage credentials',
        path: route.access === 'open' ? q('zz_also=1') : samplePath,
        body: takesBody ? '{}' : undefined,
        headers: { ...json, authorization },
      })),
  ]
  // Odd headers (and an unknown query parameter, so that the request is wrong whatever they do).
  kinds.push(
    fc
      .record({
        'content-encoding': fc.constantFrom('gzip', 'br', 'deflate', 'x-unknown', 'identity'),
        accept: fc.oneof(
          fc.constantFrom('text/html', '*/*', 'application/xml', ''),
          fc.string({ maxLength: 30 }),
        ),
        'x-forwarded-for': fc.ipV4(),
        'x-request-id': fc.string({ maxLength: 60 }),
        'accept-language': fc.string({ maxLength: 30 }),
      })
      .map((headers) => ({
        kind: 'odd headers',
        path: q('zz_h=1'),
        body: takesBody ? '{}' : undefined,
        headers: Object.fromEntries(
          Object.entries({ ...json, ...headers }).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(v)),
        ),
      })),
  )
  if (queryKeys.length > 0) {
    kinds.push(
      fc
        .tuple(fc.constantFrom(...queryKeys), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }))
        .map(([name, a, b]) => ({
          kind: 'a query parameter given twice',
          path: q(`${name}=${encodeURIComponent(a)}&${name}=${encodeURIComponent(b)}`),
          body: takesBody ? '{}' : undefined,
          headers: json,
        })),
    )
  }
  if (takesBody) {
    kinds.push(
      junkText
        .filter((text) => {
          try {
            JSON.parse(text)
            return false
          } catch {
            return text.length > 0
          }
        })
        .map((body) => ({ kind: 'a body that is not JSON', path: samplePath, body, headers: json })),
      fc
        .tuple(
          fc.dictionary(fc.constantFrom(...(bodyKeys.length ? bodyKeys : ['x'])), jsonValue, { maxKeys: 5 }),
          fc.string({ minLength: 1, maxLength: 12 }),
          jsonValue,
        )
        .map(([fields, extra, value]) => ({
          kind: 'a body with a key the route does not know',
          path: samplePath,
          body: JSON.stringify({ ...fields, [`zz_${extra}`]: value }),
          headers: json,
        })),
      fc
        .oneof(
          fc.array(jsonValue, { maxLength: 3 }),
          fc.string({ maxLength: 20 }),
          fc.integer(),
          fc.constant(null),
        )
        .map((value) => ({
          kind: 'JSON that is not an object',
          path: samplePath,
          body: JSON.stringify(value),
          headers: json,
        })),
      fc
        .tuple(
          fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data',
            'application/xml',
          ),
          fc.string({ minLength: 1, maxLength: 50 }),
        )
        .map(([type, body]) => ({
          kind: 'a body that is not JSON by its type',
          path: samplePath,
          body,
          headers: { 'content-type': type },
        })),
    )
  }
  if (params.length > 0) {
    kinds.push(
      fc
        .string({ minLength: 1, maxLength: 300 })
        .filter((s) => !['alice-bot', 'mock', 'gpt-4o'].includes(s) && s.trim() !== '')
        .map((value) => {
          // The first parameter replaced by any text, and an unknown query parameter with it.
          const [prefix, suffix] = route.path.split(params[0]!)
          const filled = `${prefix}${encodeURIComponent(value)}${suffix!.replace(/\{\w+\}/g, 'x')}`
          return {
            kind: 'any text as a path parameter',
            path: `${filled}?zz_p=1`,
            body: takesBody ? '{}' : undefined,
            headers: json,
          }
        }),
    )
  }
  return fc.oneof(...kinds)
}

describe('fuzzing iron serve', () => {
  it('answers every malformed request to every route with a 4xx in the error shape, never a 500', async () => {
    const failures: string[] = []
    let requests = 0
    for (const route of ROUTES) {
      const sample = await SAMPLES[routeId(route)]!(w)
      await fc
        .assert(
          fc.asyncProperty(fuzzedRequest(route, sample.path), async (req) => {
            requests++
            const headers = { authorization: `Bearer ${w.root.token}`, ...req.headers }
            const response = await fetch(`${w.server.url}${req.path}`, {
              method: route.method,
              headers,
              body: req.body,
            })
            const text = await response.text()
            const where = `${routeId(route)} (${req.kind}) ${req.path} ${String(req.body).slice(0, 80)} → ${response.status}`
            let body: { error?: Record<string, unknown> } | undefined
            try {
              body = JSON.parse(text)
            } catch {}
            const ok =
              response.status >= 400 &&
              response.status < 500 &&
              typeof body?.error?.code === 'string' &&
              typeof body.error.message === 'string' &&
              typeof body.error.exit_code === 'number' &&
              body.error.request_id === response.headers.get('x-request-id')
            if (!ok) failures.push(`${where}: ${text.slice(0, 200)}`)
            return ok
          }),
          { numRuns: RUNS, endOnFailure: true },
        )
        .catch(() => {})
      const health = await w.call('GET', '/api/health')
      if (health.status !== 200) failures.push(`after ${routeId(route)}: health answered ${health.status}`)
    }
    expect(failures).toEqual([])
    expect(requests).toBeGreaterThanOrEqual(ROUTES.length * RUNS)
    // And it still does its job.
    const agent = await w.call('GET', '/api/v1/agents/alice-bot', { token: w.alice.token })
    expect(agent.status).toBe(200)
  })
})
