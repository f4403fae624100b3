import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { UPSTREAM_KEY } from '../helpers/gateway.js'
import { waitUntil } from '../helpers/spawned-gateway.js'
import { costOf, startTeamGateway, startTeamWorld, type TeamWorld } from '../helpers/team.js'
import { tempDirs } from '../helpers/temp.js'

type TeamGateway = Awaited<ReturnType<typeof startTeamGateway>>
let world: TeamWorld | undefined
const gateways: TeamGateway[] = []
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close().catch(() => {})
  await world?.close()
  world = undefined
})

const gatewayOn = async (w: TeamWorld, dataDir?: string) => {
  const g = await startTeamGateway(w.url, dataDir)
  gateways.push(g)
  return g
}
const openaiOf = (g: TeamGateway, token: string) =>
  new OpenAI({ apiKey: token, baseURL: `${g.url}/v1`, maxRetries: 0 })
const messages = [{ role: 'user' as const, content: 'Summarise the ticket: the customer cannot log in.' }]

/** A chat completion as a client sees it: status, error code, request id. */
async function chat(g: TeamGateway, token: string, maxTokens = 20) {
  const response = await fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: maxTokens, messages }),
  })
  const body = (await response.json()) as { error?: { code: string; message: string } }
  return {
    status: response.status,
    code: body.error?.code,
    message: body.error?.message,
    id: response.headers.get('x-iron-request-id')!,
  }
}

const spentOf = async (w: TeamWorld) => (await w.cp.budgets.get('bot')).spent_micros
/** Every gateway request the server recorded (its audit trail), by request id. */
const serverRecords = (w: TeamWorld) =>
  w.ctx
    .db()
    .prepare("SELECT resource_id, data FROM audit_events WHERE action = 'gateway.request' ORDER BY seq")
    .all() as Array<{ resource_id: string; data: string }>
const commits = (w: TeamWorld) =>
  w.ctx.db().prepare("SELECT count(*) FROM ledger WHERE kind = 'commit'").pluck().get() as number

describe('a team gateway (iron gateway start --server) on a real iron serve', () => {
  it('serves the OpenAI and Anthropic SDKs with keys from ip_tokens; the server charges exactly what the provider served', async () => {
    world = await startTeamWorld()
    const w = world
    const g = await gatewayOn(w)
    const openai = openaiOf(g, w.token)
    const anthropic = new Anthropic({ apiKey: w.token, baseURL: g.url, maxRetries: 0 })
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      const { data, response } = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages, max_tokens: 20 + i })
        .withResponse()
      expect(data.choices[0]?.message.content).toBeTruthy()
      expect(Number(response.headers.get('x-iron-cost-micros'))).toBe(
        costOf(data.usage!.prompt_tokens, data.usage!.completion_tokens),
      )
      ids.push(response.headers.get('x-iron-request-id')!)
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        max_tokens: 30,
        stream: true,
      })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      expect(text).toBeTruthy()
      const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 25, messages })
      expect(message.usage.output_tokens).toBeGreaterThan(0)
    }
    // The provider got the real key, opened from the ip_token in memory.
    expect(w.mock.stats().lastApiKey).toBe(UPSTREAM_KEY)
    await waitUntil(() => g.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
    expect(commits(w)).toBe(18)
    // Each request is the server's audit event once, naming the gateway that served it.
    const records = serverRecords(w)
    expect(records).toHaveLength(18)
    expect(new Set(records.map((r) => r.resource_id)).size).toBe(18)
    for (const id of ids) expect(records.map((r) => r.resource_id)).toContain(id)
    expect(JSON.parse(records[0]!.data).holder).toBe(g.running.holder)

    // Neither the provider key nor the IC token was written to the gateway's disk.
    const outboxDir = join(g.dataDir, 'gateway-outbox')
    for (const file of readdirSync(outboxDir)) {
      const bytes = readFileSync(join(outboxDir, file))
      expect(bytes.includes(UPSTREAM_KEY), file).toBe(false)
      expect(bytes.includes(w.token), file).toBe(false)
    }

    // A clean stop: reports in, the lease given back, nothing left leased on the server.
    await g.close()
    const budget = await w.cp.budgets.get('bot')
    expect(budget.leased_micros).toBe(0)
    expect(budget.spent_micros).toBe(w.servedCost())
  })

  it('a revoked token, a suspended agent and a lowered limit reach the gateway with the next report', async () => {
    world = await startTeamWorld()
    const w = world
    const g = await gatewayOn(w)
    expect((await chat(g, w.token)).status).toBe(200)

    // Suspended: the next report's answer says so; the gateway refuses as a local one would.
    await w.cp.agents.update('bot', { status: 'suspended' })
    await g.control.flushReports()
    expect(await chat(g, w.token)).toMatchObject({ status: 403, code: 'agent_suspended' })
    await w.cp.agents.update('bot', { status: 'active' })
    await waitUntil(async () => (await chat(g, w.token)).status === 200)

    // A lower limit, all spent: the lease taken under the old one (which still holds plenty) lends no more.
    await g.control.flushReports()
    await w.cp.budgets.set('bot', { limit_micros: await spentOf(w) })
    await g.control.flushReports()
    expect(await chat(g, w.token, 20)).toMatchObject({ status: 402, code: 'budget_exceeded' })

    // Revoked: the next report closes the lease (token_revoked); the token is refused from then on.
    await w.cp.budgets.set('bot', { limit_micros: 10_000_000 })
    await g.control.flushReports()
    expect((await chat(g, w.token)).status).toBe(200)
    // This time the one-second timer sends the report that carries it.
    await w.cp.tokens.revoke(w.tokenId)
    await waitUntil(async () => (await chat(g, w.token)).status === 401)
    expect(await chat(g, w.token)).toMatchObject({ status: 401, code: 'invalid_token' })

    // Every request was reported and charged once, refused ones recorded.
    await waitUntil(() => g.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
  })

  it('with the server down: serves within its lease, then refuses with 402 CONTROL_PLANE_UNREACHABLE; nothing lost when it is back', async () => {
    world = await startTeamWorld()
    const w = world
    const g = await gatewayOn(w)
    // A request with a large worst case leaves the lease well stocked (a lease is at least two worst cases).
    expect((await chat(g, w.token, 2_000)).status).toBe(200)
    await g.control.flushReports()
    await w.cp.agents.create({ name: 'newcomer' })
    const newcomer = (await w.cp.tokens.issue('newcomer')).token
    await w.stop()

    let served = 0
    for (let i = 0; i < 20; i++) {
      const answer = await chat(g, w.token, 20)
      expect(answer.status).toBe(200)
      served++
    }
    expect(served).toBe(20)
    // More than the lease holds: the server must be asked, and cannot be.
    const refused = await chat(g, w.token, 8_000)
    expect(refused).toMatchObject({ status: 402, code: 'CONTROL_PLANE_UNREACHABLE' })
    expect(refused.message).toContain(`The control plane at ${w.url} cannot be reached`)
    // A token it has never seen cannot be checked either: refused the same way, never let through.
    expect(await chat(g, newcomer)).toMatchObject({ status: 402, code: 'CONTROL_PLANE_UNREACHABLE' })
    expect(g.control.pendingReports).toBeGreaterThan(20)
    expect(g.control.reachable).toBe(false)

    await w.start()
    await waitUntil(() => g.control.pendingReports === 0)
    expect(g.control.reachable).toBe(true)
    expect(await spentOf(w)).toBe(w.servedCost())
    expect((await chat(g, w.token, 8_000)).status).toBe(200)
    await waitUntil(() => g.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
    expect(serverRecords(w).filter((r) => JSON.parse(r.data).status === 402)).toHaveLength(1)
  })

  it('cut off for longer than the server keeps a lease, the gateway stops lending from it; late reports still count', async () => {
    world = await startTeamWorld({ env: { IRON_SERVE_LEASE_TTL: '10' } })
    const w = world
    const g = await startTeamGateway(w.url, undefined, { leaseTtlMs: 3_000 })
    gateways.push(g)
    expect((await chat(g, w.token, 2_000)).status).toBe(200)
    await g.control.flushReports()
    await w.stop()
    // Plenty left in the lease: served at first…
    expect((await chat(g, w.token, 20)).status).toBe(200)
    // …until the lease has gone unrenewed for nearly as long as the server keeps one (10 s here).
    await waitUntil(async () => (await chat(g, w.token, 20)).code === 'CONTROL_PLANE_UNREACHABLE', 30_000)
    expect(g.lines.join('\n')).toContain('leases expired on the server while it could not be reached')
    await w.start()
    await waitUntil(() => g.control.pendingReports === 0)
    expect((await chat(g, w.token, 20)).status).toBe(200)
    await waitUntil(() => g.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
  })

  it('after a restart the outbox is replayed, and a replay of what the server already has is not counted again', async () => {
    world = await startTeamWorld()
    const w = world
    const dataDir = tempDirs().dataDir
    const first = await gatewayOn(w, dataDir)
    expect((await chat(first, w.token, 2_000)).status).toBe(200)
    await first.control.flushReports()
    await w.stop()
    for (let i = 0; i < 10; i++) expect((await chat(first, w.token)).status).toBe(200)
    // Stopped while the server is away: its reports (and its lease's return) stay in its outbox.
    await first.close()
    gateways.splice(gateways.indexOf(first), 1)
    const outbox = join(dataDir, 'gateway-outbox', 'outbox-1.db')
    const copy = join(tempDirs().dataDir, 'gateway-outbox')
    mkdirSync(copy, { recursive: true })
    copyFileSync(outbox, join(copy, 'outbox-1.db'))

    await w.start()
    // The earlier run's reports go out at start, before any client comes back (with the lease's report key:
    // no IC token was ever written to disk), and its lease goes back.
    const second = await gatewayOn(w, dataDir)
    expect(second.control.pendingReports).toBe(10)
    await waitUntil(() => second.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
    await waitUntil(async () => (await w.cp.budgets.get('bot')).leased_micros === 0)
    expect((await chat(second, w.token)).status).toBe(200)
    await waitUntil(() => second.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
    const recorded = serverRecords(w).length

    // The same reports once more, from a copy of that outbox: all duplicates, nothing charged twice.
    const third = await gatewayOn(w, join(copy, '..'))
    expect(third.control.pendingReports).toBe(10)
    await waitUntil(() => third.control.pendingReports === 0)
    expect(await spentOf(w)).toBe(w.servedCost())
    expect(serverRecords(w)).toHaveLength(recorded)
    const ids = serverRecords(w).map((r) => r.resource_id)
    expect(new Set(ids).size).toBe(ids.length)
  })
})
