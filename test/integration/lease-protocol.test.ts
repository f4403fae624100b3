import fc from 'fast-check'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { openIpToken } from '../../src/core/ip-token.js'
import { newRecord } from '../../src/gateway/record.js'
import { type RunningServer, startServer } from '../../src/server/server.js'
import { LocalContext } from '../../src/services/context.js'
import type { ReportedEvent } from '../../src/services/lease-protocol.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { type Answer, type TempServer, tempServer } from '../helpers/serve.js'

/**
 * The lease protocol on a real `iron serve` (loopback, a temporary store, a clock the test moves): team
 * gateways shake hands for a lease, report what their requests cost, top the lease up and give it back.
 * What must hold: one ledger (spent + leased ≤ limit however many gateways), each reported request charged
 * once, expired leases reclaimed, revocations answered in the next report, keys only sealed, never a 500.
 */

const UPSTREAM_KEY = 'sk-upstream-lease-key-0123456789abcdef'
const TTL_MS = 900_000

let t: TempServer
let mock: Awaited<ReturnType<typeof startMockProvider>>
let botToken: string
let otherToken: string
let freeToken: string
let admin: { token: string }

// biome-ignore lint/suspicious/noExplicitAny: replies are checked field by field
type Json = Record<string, any>

beforeAll(async () => {
  mock = await startMockProvider()
  t = await tempServer({ leaseReclaimMs: 25, events: { pollMs: 20 } })
  await t.cp.providers.add({
    name: 'openai',
    kind: 'openai',
    base_url: `${mock.url}/v1`,
    api_key: UPSTREAM_KEY,
  })
  await t.cp.providers.add({ name: 'mock', kind: 'mock' })
  await t.cp.agents.create({ name: 'bot' })
  await t.cp.budgets.set('bot', { limit_micros: 10_000_000 })
  botToken = (await t.cp.tokens.issue('bot')).token
  await t.cp.agents.create({ name: 'other', allowed_providers: ['mock'] })
  await t.cp.budgets.set('other', { limit_micros: 1_000_000 })
  otherToken = (await t.cp.tokens.issue('other')).token
  await t.cp.agents.create({ name: 'free' })
  freeToken = (await t.cp.tokens.issue('free')).token
  admin = await t.addUser('root', 'admin')
})
afterAll(async () => {
  await t?.close()
  await mock?.close()
})

let runtimes = 0
const runtime = () => `gw:test-host:${4000 + ++runtimes}:${Date.now()}:a1b2c3`

const post = <T = Json>(path: string, body: unknown, token?: string, server = t.server): Promise<Answer<T>> =>
  call<T>(server, 'POST', `/api/v1/budget/${path}`, body, token)

async function call<T>(
  server: RunningServer,
  method: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Answer<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed as T, text }
}

const handshake = (token: string, extra: Json = {}, server = t.server) =>
  post(
    'handshake',
    { protocol: 1, runtime_id: runtime(), runtime_version: '0.0.0-test', host: 'test-host', ...extra },
    token,
    server,
  )

/** A request a gateway settled (charged `cost`) or only recorded (`cost` null). */
function event(cost: number | null, room = cost ?? 0, id = newId('req')): ReportedEvent {
  const record = newRecord('chat', 'gw:test-host:1:1:abcdef')
  Object.assign(record, {
    id,
    status: cost === null ? 402 : 200,
    outcome: cost === null ? 'budget_exceeded' : 'ok',
    model: 'gpt-4o-mini',
    provider: 'openai',
    latency_ms: 12.5,
    cost_micros: cost,
  })
  return {
    request_id: id,
    at: t.clock.now,
    model: 'gpt-4o-mini',
    provider: 'openai',
    input_tokens: 100,
    output_tokens: 20,
    cached_tokens: 0,
    cost_micros: cost,
    cost_known: true,
    room_micros: room,
    record,
  }
}

const report = (token: string, leaseId: string, events: ReportedEvent[], server = t.server) =>
  post('report', { protocol: 1, lease_id: leaseId, events }, token, server)

const budget = (agent: string) => t.cp.budgets.get(agent)
const commits = (requestId: string) =>
  t.ctx
    .db()
    .prepare("SELECT * FROM ledger WHERE reservation_id = ? AND kind = 'commit'")
    .all(requestId) as Json[]

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The lease as the protocol counts it and as the ledger's rows say: the two must agree. */
function leaseState(leaseId: string) {
  const lease = t.cp.remoteLeases.lease(leaseId)!
  expect(lease.outstanding_micros, `${leaseId}: counted vs the ledger`).toBe(lease.ledger_outstanding_micros)
  return lease
}

async function verified(agent: string) {
  const check = await t.cp.budgets.check(agent, { verify: true })
  expect(check.verify?.problems).toEqual([])
  const b = check.budget
  if (b.limit_micros !== null)
    expect(b.spent_micros + b.reserved_micros + b.leased_micros).toBeLessThanOrEqual(b.limit_micros)
  return b
}

describe('handshake', () => {
  it('lends part of the budget, with the agent, its providers (keys sealed), prices and terms', async () => {
    const answer = await handshake(botToken, { requested_micros: 2_000_000, min_micros: 100_000 })
    expect(answer.status).toBe(200)
    const lease = answer.body
    expect(lease).toMatchObject({
      protocol: 1,
      granted_micros: 2_000_000,
      drawn_micros: 0,
      limit_micros: 10_000_000,
      on_insufficient: 'reject',
      period_end: null,
      report_interval_ms: 1000,
      agent: { name: 'bot', status: 'active', budgeted: true },
    })
    expect(lease.lease_id).toMatch(/^lease_/)
    expect(lease.token_id).toMatch(/^ic_/)
    expect(Date.parse(lease.expires_at)).toBe(t.clock.now + TTL_MS)
    expect(lease.agent_remaining_micros).toBe(8_000_000)
    expect(lease.prices.some((p: Json) => p.model === 'gpt-4o-mini')).toBe(true)
    expect(lease.agent.policy.input).toBeDefined()
    // The key is sealed for this lease and this token: it opens with both, with nothing else, and is never in the clear.
    expect(answer.text).not.toContain(UPSTREAM_KEY)
    const openai = lease.providers.find((p: Json) => p.provider === 'openai')
    expect(openai).toMatchObject({ kind: 'openai', base_url: `${mock.url}/v1` })
    expect(Buffer.from(openai.ip_token, 'base64url').toString('latin1')).not.toContain(UPSTREAM_KEY)
    expect(openIpToken(botToken, lease.lease_id, openai.id, openai.ip_token)).toBe(UPSTREAM_KEY)
    expect(() => openIpToken(otherToken, lease.lease_id, openai.id, openai.ip_token)).toThrow(/does not open/)
    expect(() => openIpToken(botToken, newId('lease'), openai.id, openai.ip_token)).toThrow(/does not open/)
    expect(lease.providers.find((p: Json) => p.provider === 'mock')).toMatchObject({ ip_token: null })
    // What the ledger holds: the grant, as leased.
    const b = await verified('bot')
    expect(b.leased_micros).toBeGreaterThanOrEqual(2_000_000)
  })

  it('takes the token in the body or as the bearer, and refuses two different ones', async () => {
    const inBody = await post('handshake', {
      protocol: 1,
      ic_token: otherToken,
      runtime_id: runtime(),
      runtime_version: '1',
    })
    expect(inBody.status).toBe(200)
    // Only the providers the agent may use are sent at all.
    expect(inBody.body.providers.map((p: Json) => p.provider)).toEqual(['mock'])
    const both = await post(
      'handshake',
      { protocol: 1, ic_token: otherToken, runtime_id: runtime(), runtime_version: '1' },
      botToken,
    )
    expect(both.status).toBe(401)
    expect(both.body.error.code).toBe('TOKEN_MISMATCH')
  })

  it('gives a retry (or another token of the agent) the lease this gateway already holds, topped up when asked', async () => {
    const id = runtime()
    const first = await handshake(botToken, { runtime_id: id, requested_micros: 300_000 })
    const again = await handshake(botToken, { runtime_id: id })
    expect(again.body.lease_id).toBe(first.body.lease_id)
    expect(again.body.granted_micros).toBe(300_000)
    const more = await handshake(botToken, { runtime_id: id, requested_micros: 500_000 })
    expect(more.body.lease_id).toBe(first.body.lease_id)
    expect(more.body.granted_micros).toBe(500_000)
    // Another gateway gets a lease of its own.
    const elsewhere = await handshake(botToken, { requested_micros: 300_000 })
    expect(elsewhere.body.lease_id).not.toBe(first.body.lease_id)
    await verified('bot')
  })

  it('issues a lease that lends nothing to an agent without a limit: its requests are only metered', async () => {
    const answer = await handshake(freeToken)
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ granted_micros: 0, limit_micros: null, agent_remaining_micros: null })
    expect(answer.body.agent.budgeted).toBe(false)
    const e = event(1_234)
    const reply = await report(freeToken, answer.body.lease_id, [e])
    expect(reply.body).toMatchObject({ accepted: 1, lease: { revoked: false } })
    expect(commits(e.request_id)).toMatchObject([{ spent_delta: 1_234, leased_delta: 0 }])
    expect((await budget('free')).spent_micros).toBe(1_234)
  })

  it('refuses with 402 what the budget cannot lend, saying what is free and the policy', async () => {
    const answer = await handshake(otherToken, { min_micros: 5_000_000 })
    expect(answer.status).toBe(402)
    expect(answer.body.error).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      exit_code: 5,
      details: { reason: 'budget_exceeded', limit_micros: 1_000_000, on_insufficient: 'reject' },
    })
    expect(answer.body.error.details.remaining_micros).toBeLessThanOrEqual(1_000_000)
  })
})

describe('report', () => {
  it('charges each request as a draw on the lease, records it naming the gateway, and renews the lease', async () => {
    const lease = (await handshake(botToken, { requested_micros: 1_000_000, host: 'build-7' })).body
    const before = await budget('bot')
    const events = [event(100_000), event(250_000), event(null)]
    t.clock.now += 60_000
    const reply = await report(botToken, lease.lease_id, events)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      protocol: 1,
      accepted: 3,
      duplicates: 0,
      lease: {
        lease_id: lease.lease_id,
        granted_micros: 1_000_000,
        drawn_micros: 350_000,
        revoked: false,
        reason: null,
      },
      agent: { status: 'active', limit_micros: 10_000_000 },
    })
    expect(Date.parse(reply.body.lease.expires_at)).toBe(t.clock.now + TTL_MS)
    expect(commits(events[0]!.request_id)).toMatchObject([
      { spent_delta: 100_000, leased_delta: -100_000, lease_id: lease.lease_id },
    ])
    expect(commits(events[2]!.request_id)).toEqual([])
    const after = await verified('bot')
    expect(after.spent_micros - before.spent_micros).toBe(350_000)
    expect(after.leased_micros - before.leased_micros).toBe(-350_000)
    // Each request is in the audit trail as a local gateway writes it, with the gateway that served it.
    const audit = await t.cp.audit.list({ action: 'gateway.request', limit: 10 })
    const mine = audit.events.filter((e) => events.some((x) => x.request_id === e.resource?.id))
    expect(mine).toHaveLength(3)
    for (const e of mine) {
      expect(e.agent_id).toBe(lease.agent.id)
      expect(e.data).toMatchObject({
        holder: expect.stringMatching(/^gw:test-host:/),
        host: 'build-7',
        lease_id: lease.lease_id,
      })
    }
    expect(mine.find((e) => e.resource?.id === events[1]!.request_id)?.data.cost_micros).toBe(250_000)
  })

  it('a draw beyond what the lease holds comes from the budget, and no more than the lease holds is taken from it', async () => {
    const lease = (await handshake(botToken, { requested_micros: 100_000 })).body
    // The gateway claims more room than the lease has: the lease pays what it holds, the budget the rest.
    const e = event(150_000, 5_000_000)
    await report(botToken, lease.lease_id, [e])
    expect(commits(e.request_id)).toMatchObject([{ spent_delta: 150_000, leased_delta: -100_000 }])
    expect(leaseState(lease.lease_id)).toMatchObject({ outstanding_micros: 0, drawn_micros: 100_000 })
    await verified('bot')
  })

  it('an empty report is a heartbeat: it renews the lease', async () => {
    const lease = (await handshake(botToken)).body
    t.clock.now += 600_000
    const beat = await report(botToken, lease.lease_id, [])
    expect(beat.body).toMatchObject({ accepted: 0, duplicates: 0, lease: { revoked: false } })
    expect(Date.parse(beat.body.lease.expires_at)).toBe(t.clock.now + TTL_MS)
    t.clock.now += 600_000
    expect((await report(botToken, lease.lease_id, [])).body.lease.revoked).toBe(false)
    // Heartbeats soon after a renewal are answered from reads alone: the expiry moves on at most every 30 s,
    // but a revocation is seen at once.
    const renewed = leaseState(lease.lease_id).expires_at
    t.clock.now += 10_000
    expect((await report(botToken, lease.lease_id, [])).body.lease).toMatchObject({ revoked: false })
    expect(leaseState(lease.lease_id).expires_at).toBe(renewed)
    t.clock.now += 25_000
    await report(botToken, lease.lease_id, [])
    expect(leaseState(lease.lease_id).expires_at).toBe(t.clock.now + TTL_MS)
    await t.cp.budgets.set('bot', { limit_micros: 10_000_001 })
    expect((await report(botToken, lease.lease_id, [])).body.lease).toMatchObject({
      revoked: true,
      reason: 'limit_changed',
    })
    await t.cp.budgets.set('bot', { limit_micros: 10_000_000 })
  })

  it('charges a replayed or duplicated request once, however the copies arrive', async () => {
    const lease = (await handshake(botToken, { requested_micros: 2_000_000 })).body
    const before = await budget('bot')
    const events = [event(10_000), event(20_000), event(null)]
    expect((await report(botToken, lease.lease_id, events)).body).toMatchObject({
      accepted: 3,
      duplicates: 0,
    })
    // The same report again (a reply lost), and a batch with one new request among old ones, twice inside.
    expect((await report(botToken, lease.lease_id, events)).body).toMatchObject({
      accepted: 0,
      duplicates: 3,
    })
    const fresh = event(40_000)
    expect((await report(botToken, lease.lease_id, [events[0]!, fresh, fresh])).body).toMatchObject({
      accepted: 1,
      duplicates: 2,
    })
    // Several copies at once (a proxy duplicating requests): exactly one of them charges it.
    const raced = event(80_000)
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => report(botToken, lease.lease_id, [raced])),
    )
    expect(replies.map((r) => r.status)).toEqual(Array(6).fill(200))
    expect(replies.reduce((n, r) => n + r.body.accepted, 0)).toBe(1)
    for (const e of [...events, fresh, raced])
      expect(commits(e.request_id).length).toBe(e.cost_micros === null ? 0 : 1)
    const after = await verified('bot')
    expect(after.spent_micros - before.spent_micros).toBe(10_000 + 20_000 + 40_000 + 80_000)
    const recorded = t.ctx
      .db()
      .prepare("SELECT count(*) FROM audit_events WHERE action = 'gateway.request' AND resource_id = ?")
      .pluck()
    expect(recorded.get(raced.request_id)).toBe(1)
  })

  it('answers a revoked token, a suspended agent and a lowered limit as revoked in the next report, and closes the lease', async () => {
    const name = 'revocable'
    await t.cp.agents.create({ name })
    await t.cp.budgets.set(name, { limit_micros: 5_000_000 })
    let token = (await t.cp.tokens.issue(name)).token

    // Revoked token: its report is still charged, the lease closes, and the token can borrow no more.
    let lease = (await handshake(token, { requested_micros: 1_000_000 })).body
    await t.cp.tokens.revoke(name)
    const e = event(30_000)
    let reply = await report(token, lease.lease_id, [e])
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ accepted: 1, lease: { revoked: true, reason: 'token_revoked' } })
    expect(commits(e.request_id)).toMatchObject([{ spent_delta: 30_000, leased_delta: -30_000 }])
    expect(leaseState(lease.lease_id)).toMatchObject({
      close_reason: 'token_revoked',
      outstanding_micros: 0,
    })
    expect((await budget(name)).leased_micros).toBe(0)
    const refused = await handshake(token)
    expect(refused.status).toBe(401)
    expect(refused.body.error.code).toBe('TOKEN_REVOKED')

    // Suspended agent.
    token = (await t.cp.tokens.issue(name)).token
    lease = (await handshake(token, { requested_micros: 1_000_000 })).body
    await t.cp.agents.update(name, { status: 'suspended' })
    reply = await report(token, lease.lease_id, [])
    expect(reply.body).toMatchObject({
      lease: { revoked: true, reason: 'agent_suspended' },
      agent: { status: 'suspended' },
    })
    expect((await budget(name)).leased_micros).toBe(0)
    const suspended = await handshake(token)
    expect(suspended.status).toBe(402)
    expect(suspended.body.error).toMatchObject({
      code: 'AGENT_SUSPENDED',
      details: {
        reason: 'agent_suspended',
        agent: { name, status: 'suspended' },
        token_id: expect.stringMatching(/^ic_/),
      },
    })
    await t.cp.agents.update(name, { status: 'active' })

    // Lowered limit.
    lease = (await handshake(token, { requested_micros: 1_000_000 })).body
    await t.cp.budgets.set(name, { limit_micros: 2_000_000 })
    reply = await report(token, lease.lease_id, [])
    expect(reply.body).toMatchObject({
      lease: { revoked: true, reason: 'limit_changed' },
      agent: { limit_micros: 2_000_000 },
    })
    expect((await budget(name)).leased_micros).toBe(0)
    // The next handshake is under the new terms.
    expect((await handshake(token)).body.limit_micros).toBe(2_000_000)
    await verified(name)
  })
})

describe('report keys and the tokens on a lease', () => {
  it('lets a gateway report and return its lease with its report key (after a crash, before any token), and nothing else', async () => {
    const key = Buffer.alloc(32, 7).toString('base64url')
    const id = runtime()
    const lease = (await handshake(botToken, { runtime_id: id, requested_micros: 200_000, report_key: key }))
      .body
    const other = (await handshake(botToken, { requested_micros: 100_000 })).body
    const e = event(50_000)
    const reply = await report(key, lease.lease_id, [e])
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ accepted: 1, lease: { drawn_micros: 50_000, revoked: false } })
    // The key opens its own lease only, and never borrows.
    const elsewhere = await report(key, other.lease_id, [])
    expect(elsewhere.status).toBe(404)
    expect(elsewhere.body.error.code).toBe('LEASE_NOT_FOUND')
    const wrong = await report(Buffer.alloc(32, 8).toString('base64url'), lease.lease_id, [])
    expect(wrong.status).toBe(404)
    const grow = await post('refresh', { protocol: 1, lease_id: lease.lease_id, min_micros: 1 }, key)
    expect(grow.status).toBe(401)
    // The newest handshake's key is the one the lease answers to.
    const newer = Buffer.alloc(32, 9).toString('base64url')
    await handshake(botToken, { runtime_id: id, report_key: newer })
    expect((await report(key, lease.lease_id, [])).status).toBe(404)
    const back = await post('return', { protocol: 1, lease_id: lease.lease_id, spent_micros: 50_000 }, newer)
    expect(back.body).toMatchObject({ returned_micros: 150_000, reported_micros: 50_000 })
    await verified('bot')
  })

  it('revokes a lease when any token that shook hands onto it is revoked', async () => {
    await t.cp.agents.create({ name: 'shared' })
    await t.cp.budgets.set('shared', { limit_micros: 1_000_000 })
    const own = (await t.cp.tokens.issue('shared')).token
    const run = (await t.cp.tokens.issueRun('shared', 3_600_000)).token
    const id = runtime()
    const lease = (await handshake(own, { runtime_id: id, requested_micros: 100_000 })).body
    expect((await handshake(run, { runtime_id: id })).body.lease_id).toBe(lease.lease_id)
    expect((await report(own, lease.lease_id, [])).body.lease.revoked).toBe(false)
    await t.cp.tokens.revoke((await t.cp.tokens.list({ agent: 'shared' })).find((x) => x.kind === 'run')!.id)
    const reply = await report(own, lease.lease_id, [])
    expect(reply.body.lease).toMatchObject({ revoked: true, reason: 'token_revoked' })
    // The live token shakes hands again, onto a new lease.
    const again = await handshake(own, { runtime_id: id })
    expect(again.status).toBe(200)
    expect(again.body.lease_id).not.toBe(lease.lease_id)
  })
})

describe('refresh and return', () => {
  it('tops a lease up, and refuses (402) what the budget does not have', async () => {
    await t.cp.agents.create({ name: 'topped' })
    await t.cp.budgets.set('topped', { limit_micros: 1_000_000 })
    const token = (await t.cp.tokens.issue('topped')).token
    const lease = (await handshake(token, { requested_micros: 200_000 })).body
    const more = await post(
      'refresh',
      { protocol: 1, lease_id: lease.lease_id, min_micros: 50_000, requested_micros: 300_000 },
      token,
    )
    expect(more.status).toBe(200)
    expect(more.body).toMatchObject({
      lease_id: lease.lease_id,
      granted_micros: 500_000,
      added_micros: 300_000,
      agent_remaining_micros: 500_000,
    })
    const tooMuch = await post(
      'refresh',
      { protocol: 1, lease_id: lease.lease_id, min_micros: 600_000 },
      token,
    )
    expect(tooMuch.status).toBe(402)
    expect(tooMuch.body.error).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      details: { remaining_micros: 500_000 },
    })
    await verified('topped')
  })

  it('gives back what the lease did not spend, once: a second return answers the same', async () => {
    const lease = (await handshake(botToken, { requested_micros: 400_000 })).body
    await report(botToken, lease.lease_id, [event(150_000)])
    const before = await budget('bot')
    const back = await post(
      'return',
      { protocol: 1, lease_id: lease.lease_id, spent_micros: 150_000 },
      botToken,
    )
    expect(back.status).toBe(200)
    expect(back.body).toEqual({
      protocol: 1,
      lease_id: lease.lease_id,
      returned_micros: 250_000,
      reported_micros: 150_000,
    })
    expect((await budget('bot')).leased_micros).toBe(before.leased_micros - 250_000)
    const again = await post(
      'return',
      { protocol: 1, lease_id: lease.lease_id, spent_micros: 150_000 },
      botToken,
    )
    expect(again.body).toEqual(back.body)
    // A closed lease cannot grow; its late reports are charged to the budget directly.
    const grow = await post('refresh', { protocol: 1, lease_id: lease.lease_id, min_micros: 1 }, botToken)
    expect(grow.status).toBe(409)
    expect(grow.body.error).toMatchObject({ code: 'LEASE_CLOSED', details: { reason: 'returned' } })
    const late = event(5_000)
    expect((await report(botToken, lease.lease_id, [late])).body).toMatchObject({
      accepted: 1,
      lease: { revoked: true, reason: 'expired' },
    })
    expect(commits(late.request_id)).toMatchObject([{ spent_delta: 5_000, leased_delta: 0 }])
    await verified('bot')
  })

  it('holds what the gateway spent but has not reported yet, until the reports arrive', async () => {
    const lease = (await handshake(botToken, { requested_micros: 400_000 })).body
    await report(botToken, lease.lease_id, [event(100_000)])
    // The gateway spent 160,000 on the lease; 60,000 of it is still in its outbox.
    const back = await post(
      'return',
      { protocol: 1, lease_id: lease.lease_id, spent_micros: 160_000 },
      botToken,
    )
    expect(back.body).toMatchObject({ returned_micros: 240_000, reported_micros: 100_000 })
    expect(leaseState(lease.lease_id)).toMatchObject({
      closed_at: null,
      outstanding_micros: 60_000,
    })
    await verified('bot')
    const rest = event(60_000)
    const reply = await report(botToken, lease.lease_id, [rest])
    expect(commits(rest.request_id)).toMatchObject([{ spent_delta: 60_000, leased_delta: -60_000 }])
    expect(reply.body.lease.revoked).toBe(true)
    expect(leaseState(lease.lease_id)).toMatchObject({
      close_reason: 'returned',
      returned_micros: 240_000,
    })
    await verified('bot')
  })
})

describe('expiry', () => {
  it('reclaims an expired lease (the timer), and charges its late reports to the budget directly', async () => {
    await t.cp.agents.create({ name: 'stalled' })
    await t.cp.budgets.set('stalled', { limit_micros: 2_000_000 })
    const token = (await t.cp.tokens.issue('stalled')).token
    const lease = (await handshake(token, { requested_micros: 1_500_000 })).body
    await report(token, lease.lease_id, [event(500_000)])
    expect((await budget('stalled')).leased_micros).toBe(1_000_000)
    // Nothing from the gateway for longer than the lease lives: the server's timer takes the rest back.
    t.clock.now += TTL_MS + 1
    await until(() => leaseState(lease.lease_id)?.closed_at !== null, 'the reclaim')
    expect(leaseState(lease.lease_id)).toMatchObject({
      close_reason: 'expired',
      returned_micros: 1_000_000,
    })
    const reclaimed = await verified('stalled')
    expect(reclaimed).toMatchObject({ leased_micros: 0, spent_micros: 500_000 })
    // Another gateway may now have all of what is free.
    const other = await handshake(token, { min_micros: 1_500_000 })
    expect(other.body.granted_micros).toBe(1_500_000)
    // The stalled gateway comes back with what it served meanwhile: charged all the same, beyond the limit
    // if it must (noted as overrun), and told its lease is gone.
    const late = event(300_000, 300_000)
    const reply = await report(token, lease.lease_id, [late])
    expect(reply.body).toMatchObject({ accepted: 1, lease: { revoked: true, reason: 'expired' } })
    expect(commits(late.request_id)).toMatchObject([
      { spent_delta: 300_000, leased_delta: 0, overrun_micros: 300_000 },
    ])
    expect((await budget('stalled')).spent_micros).toBe(800_000)
    const check = await t.cp.budgets.check('stalled', { verify: true })
    expect(check.verify?.problems).toEqual([])
  })

  it('treats a lease past its expiry as reclaimed at its next call, timer or not (and a handshake reclaims on demand)', async () => {
    await t.cp.agents.create({ name: 'lapsed' })
    await t.cp.budgets.set('lapsed', { limit_micros: 1_000_000 })
    const token = (await t.cp.tokens.issue('lapsed')).token
    const lease = (await handshake(token, { requested_micros: 1_000_000 })).body
    t.clock.now += TTL_MS
    const answer = await post('refresh', { protocol: 1, lease_id: lease.lease_id, min_micros: 1 }, token)
    expect(answer.status).toBe(409)
    expect(answer.body.error.details.reason).toBe('expired')
    expect(leaseState(lease.lease_id)?.close_reason).toBe('expired')
    expect((await verified('lapsed')).leased_micros).toBe(0)
  })
})

describe('many gateways on one budget', () => {
  it('never lends beyond the limit, however many gateways shake hands and report at once, on one server or two', async () => {
    await t.cp.agents.create({ name: 'crowd' })
    await t.cp.budgets.set('crowd', { limit_micros: 3_000_000 })
    const token = (await t.cp.tokens.issue('crowd')).token
    // A second iron serve on the same store file: its own connection, its own process's view.
    const ctx2 = new LocalContext({
      config: t.ctx.config,
      env: {},
      vault: t.ctx.keys ? undefined : undefined,
    })
    Object.defineProperty(ctx2, 'now', { value: () => t.clock.now })
    Object.defineProperty(ctx2, 'masterKey', { value: () => t.ctx.masterKey() })
    const second = await startServer({
      ctx: ctx2,
      host: '127.0.0.1',
      port: 0,
      version: '0.0.0-test',
      drainMs: 500,
    })
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          handshake(token, { requested_micros: 250_000, min_micros: 100_000 }, i % 2 ? second : t.server),
        ),
      )
      const granted = answers.filter((a) => a.status === 200)
      const refused = answers.filter((a) => a.status === 402)
      expect(granted.length + refused.length).toBe(40)
      expect(refused.length).toBeGreaterThan(0)
      const lent = granted.reduce((n, a) => n + a.body.granted_micros, 0)
      expect(lent).toBeLessThanOrEqual(3_000_000)
      expect(new Set(granted.map((a) => a.body.lease_id)).size).toBe(granted.length)
      let b = await verified('crowd')
      expect(b.leased_micros).toBe(lent)
      // Each gateway spends all of its lease, reporting on both servers at once while others shake hands.
      const reports = granted.map((a, i) => {
        const part = Math.floor(a.body.granted_micros / 3)
        const spend = [event(part), event(a.body.granted_micros - part)]
        return report(token, a.body.lease_id, spend, i % 2 ? second : t.server)
      })
      const more = Array.from({ length: 10 }, () => handshake(token, { min_micros: 100_000 }))
      const done = await Promise.all([...reports, ...more])
      expect(done.every((a) => a.status === 200 || a.status === 402)).toBe(true)
      b = await verified('crowd')
      expect(b.spent_micros).toBe(lent)
      for (const a of granted) expect(leaseState(a.body.lease_id).outstanding_micros).toBe(0)
    } finally {
      await second.close()
      ctx2.close()
    }
  })
})

describe('limits', () => {
  it('lends to at most 1,000 gateways per agent at once', async () => {
    await t.cp.agents.create({ name: 'fleet' })
    await t.cp.budgets.set('fleet', { limit_micros: 1_000_000_000 })
    const token = (await t.cp.tokens.issue('fleet')).token
    const first = (await handshake(token)).body
    // 998 more gateways' leases, as the protocol's table holds them.
    const insert = t.ctx.db().prepare(
      `INSERT INTO remote_leases (lease_id, agent_id, token_id, runtime_id, runtime_version, metered_only, counted_at,
        limit_micros, period_end, created_at, renewed_at, expires_at)
        SELECT lease_id || ?, agent_id, token_id, runtime_id || ?, runtime_version, metered_only, counted_at, limit_micros,
        period_end, created_at, renewed_at, expires_at FROM remote_leases WHERE lease_id = ?`,
    )
    t.ctx.db().transaction(() => {
      for (let i = 0; i < 998; i++) insert.run(`-${i}`, `-${i}`, first.lease_id)
    })()
    expect((await handshake(token)).status).toBe(200)
    const crowded = await handshake(token)
    expect(crowded.status).toBe(409)
    expect(crowded.body.error.code).toBe('TOO_MANY_LEASES')
    // A gateway that holds one already still finds it.
    expect(
      (await handshake(token, { runtime_id: t.cp.remoteLeases.lease(first.lease_id)!.runtime_id })).status,
    ).toBe(200)
  })
})

describe('authentication and versions', () => {
  it('refuses another protocol version before anything else, on every call', async () => {
    for (const path of ['handshake', 'report', 'refresh', 'return']) {
      const answer = await post(path, { protocol: 2, anything: ['of', 'version', 2] }, botToken)
      expect(answer.status, path).toBe(400)
      expect(answer.body.error).toMatchObject({ code: 'PROTOCOL_UNSUPPORTED', details: { supported: [1] } })
    }
  })

  it('refuses calls without an IC token, with an unknown or revoked one, and hides other agents’ leases', async () => {
    const lease = (await handshake(botToken, { requested_micros: 100_000 })).body
    const bodies: Record<string, Json> = {
      report: { protocol: 1, lease_id: lease.lease_id, events: [] },
      refresh: { protocol: 1, lease_id: lease.lease_id, min_micros: 1 },
      return: { protocol: 1, lease_id: lease.lease_id, spent_micros: 0 },
    }
    const unknown = `iron_ic_${'A'.repeat(40)}`
    for (const [path, body] of Object.entries(bodies)) {
      const none = await post(path, body)
      expect(none.status, path).toBe(401)
      expect(none.body.error.code).toBe('AUTH_REQUIRED')
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      for (const bad of [unknown, admin.token, 'nonsense']) {
        const answer = await post(path, body, bad)
        expect(answer.status, `${path} ${bad.slice(0, 10)}`).toBe(401)
        expect(answer.body.error.code).toBe('INVALID_TOKEN')
      }
      const elsewhere = await post(path, body, otherToken)
      expect(elsewhere.status, path).toBe(404)
      expect(elsewhere.body.error.code).toBe('LEASE_NOT_FOUND')
    }
    expect((await handshake(unknown)).status).toBe(401)
    expect(
      (await post('handshake', { protocol: 1, runtime_id: runtime(), runtime_version: '1' })).body.error.code,
    ).toBe('AUTH_REQUIRED')
    // The lease is untouched by all that.
    expect(leaseState(lease.lease_id)).toMatchObject({
      closed_at: null,
      outstanding_micros: 100_000,
    })
  })

  it('answers every malformed body of the four calls with a 4xx in the error shape, never a 500', async () => {
    const lease = (await handshake(botToken, { requested_micros: 100_000 })).body
    const valid: Record<string, Json> = {
      handshake: {
        protocol: 1,
        runtime_id: runtime(),
        runtime_version: '1',
        host: 'h',
        requested_micros: 1,
        min_micros: 0,
      },
      report: { protocol: 1, lease_id: lease.lease_id, events: [event(1)] },
      refresh: { protocol: 1, lease_id: lease.lease_id, min_micros: 1, requested_micros: 1 },
      return: { protocol: 1, lease_id: lease.lease_id, spent_micros: 0 },
    }
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(
          null,
          true,
          false,
          0,
          -1,
          1.5,
          1e308,
          -0,
          2 ** 53 + 1,
          '',
          '__proto__',
          'lease_x',
          'req_',
        ),
        fc.integer(),
        fc.string({ maxLength: 30 }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 3 }),
      ),
    })).value
    /** A valid body with one field, somewhere, replaced (or removed, or added). */
    const mutated = (body: Json) =>
      fc
        .tuple(fc.nat(), fc.nat(), json, fc.constantFrom('replace', 'remove', 'add'))
        .map(([a, b, value, how]) => {
          const copy = structuredClone(body)
          let target: Json = copy
          const keys = Object.keys(target)
          // Half the time, inside the first event or its record.
          if (copy.events && a % 2 === 0) target = b % 2 ? copy.events[0] : copy.events[0].record
          const names = Object.keys(target)
          const key = names[b % names.length]!
          if (how === 'remove') delete target[key]
          else if (how === 'add') target[`zz_${keys.length}`] = value
          else target[key] = value
          if (target === copy && key === 'protocol' && how === 'replace') copy.protocol = 1 // versions are checked above
          return copy
        })
    const failures: string[] = []
    for (const [path, body] of Object.entries(valid)) {
      await fc
        .assert(
          fc.asyncProperty(fc.oneof(mutated(body), json), async (sent) => {
            if (path === 'handshake' && sent && typeof sent === 'object' && 'runtime_id' in sent)
              sent.runtime_id = runtime()
            const answer = await post(path, sent, botToken)
            const ok =
              answer.status < 500 &&
              (answer.status < 400 ||
                (typeof answer.body?.error?.code === 'string' &&
                  answer.body.error.request_id === answer.headers.get('x-request-id')))
            if (!ok)
              failures.push(
                `${path} ${JSON.stringify(sent).slice(0, 200)} → ${answer.status} ${answer.text.slice(0, 200)}`,
              )
            return ok
          }),
          { numRuns: 60, endOnFailure: true },
        )
        .catch(() => {})
    }
    expect(failures).toEqual([])
    await verified('bot')
  })
})

describe('iron serve as a gateway', () => {
  it('serves /v1/... on its own store with the OpenAI SDK, charged to the same ledger', async () => {
    const client = new OpenAI({ apiKey: botToken, baseURL: `${t.server.url}/v1`, maxRetries: 0 })
    const before = await budget('bot')
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], max_tokens: 10 })
      .withResponse()
    expect(data.choices[0]?.message.content).toBeTruthy()
    expect(mock.stats().lastApiKey).toBe(UPSTREAM_KEY)
    const id = response.headers.get('x-iron-request-id')!
    const cost = Number(response.headers.get('x-iron-cost-micros'))
    expect(cost).toBeGreaterThan(0)
    expect(commits(id)).toMatchObject([{ spent_delta: cost }])
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream it' }],
      max_tokens: 10,
      stream: true,
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    expect(text.length).toBeGreaterThan(0)
    const after = await budget('bot')
    expect(after.spent_micros).toBeGreaterThan(before.spent_micros + cost)
    // A wrong token is refused in the OpenAI shape, as the gateway does.
    const refused = await fetch(`${t.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer iron_ic_nope', 'content-type': 'application/json' },
      body: '{}',
    })
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as Json).error.type).toBeDefined()
    // Answered as the server answers (nothing cached or sniffed), and counted in the server's /metrics.
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('cache-control')).toBe('no-store')
    const metrics = await fetch(`${t.server.url}/metrics`, {
      headers: { authorization: `Bearer ${admin.token}` },
    })
    const exposition = await metrics.text()
    expect(exposition).toContain('iron_serve_requests_total')
    expect(exposition).toMatch(/^iron_requests_total\{[^}]*status="200"[^}]*\} [1-9]/m)
    expect(exposition).toMatch(/^iron_requests_total\{[^}]*status="401"[^}]*\} [1-9]/m)
  })

  it('streams every gateway’s requests on /api/v1/events, with the gateway that served each', async () => {
    const abort = new AbortController()
    const response = await fetch(`${t.server.url}/api/v1/events`, {
      headers: { authorization: `Bearer ${admin.token}` },
      signal: abort.signal,
    })
    expect(response.status).toBe(200)
    const lease = (await handshake(botToken, { requested_micros: 100_000, host: 'laptop-9' })).body
    const remote = event(1_000)
    await report(botToken, lease.lease_id, [remote])
    const client = new OpenAI({ apiKey: botToken, baseURL: `${t.server.url}/v1`, maxRetries: 0 })
    const local = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
      .withResponse()
    const localId = local.response.headers.get('x-iron-request-id')
    const seen = new Map<string, Json>()
    let buffer = ''
    const decoder = new TextDecoder()
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      for (const block of buffer.split('\n\n')) {
        const data = block.split('\n').find((l) => l.startsWith('data: '))
        if (!data || !block.includes('event: request')) continue
        const parsed = JSON.parse(data.slice(6))
        seen.set(parsed.id, parsed)
      }
      if (seen.has(remote.request_id) && seen.has(localId!)) break
    }
    abort.abort()
    expect(seen.get(remote.request_id)).toMatchObject({
      agent: 'bot',
      cost_micros: 1_000,
      gateway: { holder: expect.stringMatching(/^gw:test-host:/), host: 'laptop-9' },
    })
    expect(seen.get(localId!)?.gateway).toMatchObject({
      holder: expect.stringMatching(/^gw:/),
      host: expect.any(String),
    })
  })
})
