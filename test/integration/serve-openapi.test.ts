import Ajv2020 from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/server/routes/index.js'
import { routeId, SAMPLES, type Sample, send, serveWorld, type World } from '../helpers/serve-world.js'

/**
 * The OpenAPI document is the route table: every route is in it, nothing else is, and every route's real
 * answer to its owner (the happy path of each route) validates against the schema the document gives for it.
 */

// biome-ignore lint/suspicious/noExplicitAny: the document is walked freely; ajv checks what matters
type Json = Record<string, any>

let w: World
let doc: Json
const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)

function validator(schema: Json) {
  return ajv.compile({ ...schema, components: doc.components })
}

function check(schema: Json, value: unknown, what: string): void {
  const validate = validator(schema)
  if (!validate(value)) {
    throw new Error(
      `${what} does not match its documented schema: ${JSON.stringify(validate.errors?.slice(0, 5))}`,
    )
  }
}

/** The first events of a stream, then the stream is closed. */
async function firstEvents(path: string, token: string, until: (text: string) => boolean): Promise<string> {
  const abort = new AbortController()
  const response = await fetch(`${w.server.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  })
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true })
    if (until(text)) break
  }
  abort.abort()
  return text
}

beforeAll(async () => {
  w = await serveWorld({ events: { pollMs: 20 } })
  const answer = await w.call<Json>('GET', '/api/v1/openapi.json')
  expect(answer.status).toBe(200)
  doc = answer.body
})
afterAll(() => w.close())

describe('the OpenAPI document of iron serve', () => {
  it('is OpenAPI 3.1 and documents every route of the table, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0')
    const documented = Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(documented.sort()).toEqual(ROUTES.map(routeId).sort())
    for (const route of ROUTES) {
      const op = doc.paths[route.path][route.method.toLowerCase()]
      expect(op.operationId, routeId(route)).toMatch(/^[a-z][A-Za-z]+$/)
      expect(op['x-iron-access'], routeId(route)).toBe(route.access)
      expect(op.security, routeId(route)).toEqual(
        route.access === 'open' ? [] : route.access === 'agent' ? [{ ic_token: [] }] : [{ bearer: [] }],
      )
      const params = (op.parameters ?? []) as Json[]
      for (const name of route.path.match(/\{(\w+)\}/g) ?? [])
        expect(
          params.some((p) => p.in === 'path' && `{${p.name}}` === name),
          `${routeId(route)} ${name}`,
        ).toBe(true)
      if (route.body)
        expect(op.requestBody?.content?.['application/json']?.schema, routeId(route)).toBeDefined()
      const status = String(route.status ?? 200)
      expect(op.responses[status], `${routeId(route)} ${status}`).toBeDefined()
      expect(op.responses['422'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error')
    }
    // Every schema compiles, and every reference points at a component that exists.
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>))
      expect(() => validator(schema), name).not.toThrow()
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1]!,
    )
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref], ref).toBeDefined()
  })

  it('every route has a sample request (a new route needs one here and a row in the matrix)', () => {
    expect(ROUTES.map(routeId).filter((id) => !SAMPLES[id])).toEqual([])
  })

  it("every route answers its owner, and the answer matches the document's schema", async () => {
    const tokenOf = (sample: Sample) =>
      sample.as === 'root'
        ? w.root.token
        : sample.as === 'alice'
          ? w.alice.token
          : sample.as === 'agent'
            ? sample.token
            : undefined
    const later: Array<[(typeof ROUTES)[number], Sample]> = []
    const tried: string[] = []
    const run = async (route: (typeof ROUTES)[number], sample: Sample) => {
      const id = routeId(route)
      const op = doc.paths[route.path][route.method.toLowerCase()]
      const status = route.status ?? 200
      if (route.path === '/api/v1/events') {
        // Something happens after the stream opens: alice's agent changes, and she sees it.
        const seen = firstEvents(sample.path, tokenOf(sample)!, (text) => text.includes('event: audit'))
        await new Promise((r) => setTimeout(r, 50))
        await w.as(w.alice, 'PATCH', '/api/v1/agents/alice-bot', { description: 'seen on the stream' })
        const text = await seen
        const data = text
          .split('\n\n')
          .map((block) =>
            block
              .split('\n')
              .find((l) => l.startsWith('data: '))
              ?.slice(6),
          )
          .filter((d): d is string => d !== undefined)
        expect(data.length, id).toBeGreaterThan(0)
        for (const event of data)
          check(op.responses['200'].content['text/event-stream'].schema, JSON.parse(event), id)
        tried.push(id)
        return
      }
      const answer = await send(w, route, sample, tokenOf(sample))
      expect(answer.status, `${id}: ${answer.text.slice(0, 300)}`).toBe(status)
      expect(answer.headers.get('x-request-id'), id).toMatch(/^req_/)
      if (status === 204) {
        expect(answer.text, id).toBe('')
      } else if (route.kind === 'raw') {
        const [type, media] = Object.entries(
          op.responses[String(status)].content as Record<string, Json>,
        ).find(([t]) => (answer.headers.get('content-type') ?? '').startsWith(t))!
        if (type === 'application/x-ndjson') {
          const lines = answer.text.trimEnd().split('\n')
          expect(lines.length, id).toBeGreaterThan(0)
          for (const line of lines) check(media.schema, JSON.parse(line), id)
        } else if (type === 'application/json') {
          check(media.schema, answer.body, id)
        } else {
          expect(answer.text, id).toContain('iron_serve_requests_total')
        }
      } else {
        check(op.responses[String(status)].content['application/json'].schema, answer.body, id)
      }
      tried.push(id)
    }
    for (const route of ROUTES) {
      const sample = await SAMPLES[routeId(route)]!(w)
      if (sample.last) later.push([route, sample])
      else await run(route, sample)
    }
    for (const [route, sample] of later) await run(route, sample)
    expect(tried.sort()).toEqual(ROUTES.map(routeId).sort())
  })

  it('errors match the documented error shape', async () => {
    const errors = [
      await w.call('GET', '/api/v1/agents/nobody', { token: w.root.token }),
      await w.call('GET', '/api/v1/agents'),
      await w.call('POST', '/api/v1/agents', { token: w.root.token, body: { name: 1 } }),
      await w.call('DELETE', '/api/v1/providers/mock', { token: w.vera.token }),
    ]
    expect(errors.map((e) => e.status)).toEqual([404, 401, 422, 403])
    for (const e of errors) check({ $ref: '#/components/schemas/Error' }, e.body, `error ${e.status}`)
  })
})
