import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryVault } from '../../src/config/vault.js'
import { type RunningGateway, startGateway } from '../../src/gateway/server.js'
import { LocalContext } from '../../src/services/context.js'
import { LocalGatewayControl } from '../../src/services/local/gateway-control.js'
import { parseServerEvent, type ServerEvent } from '../../src/services/server-events.js'
import { serveWorld, type World } from '../helpers/serve-world.js'

/**
 * /api/v1/events and /metrics: a real gateway on the same store serves alice-bot; what its requests write to
 * the audit trail reaches alice and the admins as request, safety and alert events, never bob; changes people
 * make arrive as audit notices; a stream resumes after the id it last saw, and ends with its session.
 */

let w: World
let gateway: RunningGateway

const waitFor = async (check: () => boolean, what: string) => {
  const end = Date.now() + 15_000
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

interface Received {
  id: number | undefined
  type: string
  data: unknown
}

/** Follow the event stream as someone; `events` fills as they come, `ended` once the server closes it. */
function follow(token: string, options: { since?: number; lastEventId?: number } = {}) {
  const abort = new AbortController()
  const events: Received[] = []
  const state = { status: 0, ended: false, comments: 0 }
  const done = (async () => {
    const response = await fetch(
      `${w.server.url}/api/v1/events${options.since === undefined ? '' : `?since=${options.since}`}`,
      {
        headers: {
          authorization: `Bearer ${token}`,
          ...(options.lastEventId === undefined ? {} : { 'last-event-id': String(options.lastEventId) }),
        },
        signal: abort.signal,
      },
    )
    state.status = response.status
    if (!response.ok) return
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end = buffer.indexOf('\n\n')
        while (end !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = block.split('\n')
          if (lines.every((l) => l.startsWith(':') || l.startsWith('retry:'))) state.comments++
          const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2)
          const data = field('data')
          if (data !== undefined) {
            const id = field('id')
            events.push({
              id: id === undefined ? undefined : Number(id),
              type: field('event')!,
              data: JSON.parse(data),
            })
          }
          end = buffer.indexOf('\n\n')
        }
      }
    } catch {}
    state.ended = true
  })()
  return { events, state, close: () => abort.abort(), done }
}

const of = (events: Received[], type: string) => events.filter((e) => e.type === type)

async function chat(token: string, content: string) {
  const response = await request(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content }] }),
  })
  await response.body.text()
  return { status: response.statusCode, id: response.headers['x-iron-request-id'] as string }
}

beforeAll(async () => {
  w = await serveWorld({ events: { pollMs: 20, heartbeatMs: 100, maxWatchersPerUser: 3 } })
  // A gateway on the same store, as `iron gateway start --db` would run beside `iron serve`.
  const gatewayCtx = new LocalContext({ config: w.ctx.config, env: {}, vault: new MemoryVault() })
  gateway = await startGateway({
    control: new LocalGatewayControl(gatewayCtx),
    host: '127.0.0.1',
    port: 0,
    dataDir: w.dirs.dataDir,
  })
  // 1 % of 400 µ$: the first request's charge crosses it, and the budget alerts.
  await w.as(w.root, 'PUT', '/api/v1/agents/alice-bot/budget', { limit_micros: 400, alert_thresholds: [1] })
})
afterAll(async () => {
  await gateway?.close()
  await w?.close()
})

describe('the event stream of iron serve', () => {
  it("brings a gateway's requests, findings and alerts to the agent's owner and the admins, not to others", async () => {
    const alice = follow(w.alice.token)
    const root = follow(w.root.token)
    const bob = follow(w.bob.token)
    await waitFor(() => [alice, root, bob].every((s) => s.state.status === 200), 'the streams to open')

    const sent = await chat(w.icToken.token, 'please write to someone@example.com about the invoice')
    expect(sent.status).toBe(200)
    for (const stream of [alice, root]) {
      await waitFor(
        () => of(stream.events, 'request').some((e) => (e.data as { id: string }).id === sent.id),
        'the request',
      )
      await waitFor(() => of(stream.events, 'alert').length > 0, 'the alert')
    }
    const event = of(alice.events, 'request').find((e) => (e.data as { id: string }).id === sent.id)!
    expect(event.data).toMatchObject({
      type: 'request',
      agent: 'alice-bot',
      agent_id: w.agent.id,
      model: 'gpt-4o-mini',
      status: 200,
      outcome: 'ok',
      stream: false,
    })
    expect((event.data as { cost_micros: number }).cost_micros).toBeGreaterThan(0)
    const safety = of(alice.events, 'safety').find(
      (e) => (e.data as { request_id: string }).request_id === sent.id,
    )
    expect(safety?.data).toMatchObject({ type: 'safety', agent: 'alice-bot', direction: 'input' })
    expect((safety!.data as { categories: string[] }).categories).toContain('email')
    expect(of(alice.events, 'alert')[0]!.data).toMatchObject({ agent: 'alice-bot', threshold_pct: 1 })
    // Every event parses with the one schema the CLI reads them with.
    for (const e of [...alice.events, ...root.events])
      expect(parseServerEvent(JSON.stringify(e.data)), e.type).toBeDefined()

    // Bob's own change comes after alice's events in the trail: once he has it, he would have had hers.
    await w.as(w.bob, 'POST', '/api/v1/agents', { name: 'bob-bot' })
    await waitFor(
      () => of(bob.events, 'audit').some((e) => (e.data as { action: string }).action === 'agent.create'),
      "bob's notice",
    )
    expect(bob.events.map((e) => e.type)).toEqual(['audit'])
    expect(JSON.stringify(bob.events)).not.toContain('alice-bot')
    expect(bob.events[0]!.data).toMatchObject({
      category: 'admin',
      action: 'agent.create',
      actor: 'user:bob',
      agent: 'bob-bot',
    })
    for (const s of [alice, root, bob]) s.close()
  })

  it('sends budget, safety and admin changes as audit notices, and resumes after the last id seen', async () => {
    const root = follow(w.root.token)
    await waitFor(() => root.state.status === 200, 'the stream to open')
    await w.as(w.root, 'PUT', '/api/v1/safety/policy', { change: { injection_threshold: 0.9 } })
    await w.as(w.root, 'POST', '/api/v1/agents/alice-bot/budget/adjust', {
      amount_micros: 1,
      reason: 'a correction',
    })
    await waitFor(() => of(root.events, 'audit').length >= 2, 'the notices')
    const notices = of(root.events, 'audit').map(
      (e) => e.data as ServerEvent & { category: string; action: string },
    )
    expect(notices.map((n) => [n.category, n.action])).toEqual([
      ['safety', 'safety.policy_set'],
      ['budget', 'budget.adjust'],
    ])
    root.close()

    // From the id of the first notice on: the second comes again, with Last-Event-ID or ?since.
    const first = of(root.events, 'audit')[0]!.id!
    for (const resumed of [
      follow(w.root.token, { lastEventId: first }),
      follow(w.root.token, { since: first }),
    ]) {
      await waitFor(() => of(resumed.events, 'audit').length >= 1, 'the resumed stream')
      expect((resumed.events[0]!.data as { action: string }).action).toBe('budget.adjust')
      expect(resumed.events[0]!.id).toBeGreaterThan(first)
      resumed.close()
    }
  })

  it('ends a stream whose session ends, and keeps idle streams alive with heartbeats', async () => {
    const login = await w.call<{ token: string }>('POST', '/api/v1/auth/login', {
      body: { name: 'alice', password: 'correct horse battery staple' },
    })
    const stream = follow(login.body.token)
    await waitFor(() => stream.state.comments >= 2, 'heartbeats')
    expect((await w.call('POST', '/api/v1/auth/logout', { token: login.body.token })).status).toBe(204)
    await waitFor(() => stream.state.ended, 'the stream to end')
    expect(stream.events.at(-1)).toMatchObject({
      type: 'end',
      data: { type: 'end', reason: 'SESSION_REVOKED' },
    })
  })

  it('limits the streams one user may hold open', async () => {
    const streams = [follow(w.vera.token), follow(w.vera.token), follow(w.vera.token)]
    await waitFor(() => streams.every((s) => s.state.status === 200), 'three streams')
    const fourth = await w.call<{ error: { code: string } }>('GET', '/api/v1/events', { token: w.vera.token })
    expect(fourth.status).toBe(429)
    expect(fourth.body.error.code).toBe('TOO_MANY_STREAMS')
    expect(fourth.headers.get('retry-after')).toBe('10')

    const metrics = await w.call('GET', '/metrics', { token: w.root.token })
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(metrics.text).toMatch(/^iron_serve_event_watchers 3$/m)
    expect(metrics.text).toMatch(
      /^iron_serve_requests_total\{route="GET \/api\/v1\/events",status="429"\} 1$/m,
    )
    expect(metrics.text).toMatch(
      /^iron_serve_requests_total\{route="PUT \/api\/v1\/safety\/policy",status="200"\} 1$/m,
    )
    expect(metrics.text).toMatch(
      /^iron_serve_request_duration_seconds_bucket\{route="GET \/api\/v1\/events",le="\+Inf"\} \d+$/m,
    )
    // root, alice, bob and vera; not the expired, signed-out and suspended ones.
    expect(metrics.text).toMatch(/^iron_serve_sessions_active 4$/m)
    expect(metrics.text).toMatch(/^process_resident_memory_bytes \d+$/m)
    // The three open streams, and this request.
    expect(metrics.text).toMatch(/^iron_serve_requests_in_flight 4$/m)
    // A path nobody routes is counted as unmatched, never by its own text.
    await w.call('GET', '/api/v1/no-such-thing-123', { token: w.root.token })
    const after = await w.call('GET', '/metrics', { token: w.root.token })
    expect(after.text).not.toContain('no-such-thing-123')
    expect(after.text).toMatch(/^iron_serve_requests_total\{route="unmatched",status="404"\} 1$/m)
    for (const s of streams) s.close()
  })
})
