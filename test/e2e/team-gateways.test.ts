import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { homeEnv, runIron } from '../helpers/cli.js'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.js'
import { type SpawnedGateway, spawnGateway, waitUntil } from '../helpers/spawned-gateway.js'
import { costOf, startTeamWorld, type TeamWorld } from '../helpers/team.js'
import { tempDir } from '../helpers/temp.js'

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step()
})

interface Outcome {
  gateway: number
  kind: 'json' | 'stream' | 'leaving'
  status: number
  id: string
  code?: string
  /** What the gateway told a JSON client it cost. */
  cost?: number
  /** The client read the whole answer. */
  complete: boolean
}

/** A gateway process of the run: its home (data dir, outbox) outlives the process. */
interface Member {
  home: string
  proxy: FaultProxy
  process: SpawnedGateway | undefined
  paused: boolean
}

/** Reports and leases left in a gateway's outbox files (read once the gateway has stopped). */
function outboxLeft(home: string): { events: number; leases: number } {
  const dir = join(home, 'data', 'iron', 'gateway-outbox')
  let events = 0
  let leases = 0
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.db'))) {
    const db = new Database(join(dir, file), { readonly: true })
    events += db.prepare('SELECT count(*) FROM events').pluck().get() as number
    leases += db.prepare('SELECT count(*) FROM leases').pluck().get() as number
    db.close()
  }
  return { events, leases }
}

describe('team gateways (spawned) on one iron serve budget', () => {
  it('three gateways under JSON, stream and leaving clients, a faulty network, a kill -9 and the server gone a while: spent ≤ limit, reported = metered = served', async () => {
    const world: TeamWorld = await startTeamWorld({
      limitMicros: 200_000_000,
      mock: { latencyMs: 2, chunkDelayMs: 1, outputTokens: 16 },
    })
    cleanup.push(() => world.close())
    const faults = { drop: 0.04, dropAnswer: 0.06, delay: 0.15, duplicate: 0.08, reorder: 0.08 }
    const members: Member[] = []
    for (let i = 0; i < 3; i++) {
      const proxy = await startFaultProxy({ target: world.url, seed: 7 + i, delayMs: 250, ...faults })
      cleanup.push(() => proxy.close())
      members.push({ home: tempDir(`iron-e2e-team-${i}`), proxy, process: undefined, paused: false })
    }
    const start = async (m: Member) => {
      m.process = await spawnGateway(['--server', m.proxy.url, '--port', '0'], {
        ...(process.env as Record<string, string>),
        ...homeEnv(m.home),
      })
      const child = m.process.child
      cleanup.push(() => child.kill('SIGKILL'))
    }
    for (const m of members) await start(m)

    const outcomes: Outcome[] = []
    let stopping = false
    const json = (m: number, i: number) => ({
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${world.token}` },
      body: {
        model: 'gpt-4o-mini',
        n: 1 + (i % 3),
        max_tokens: 24,
        messages: [{ role: 'user', content: `json ${m}-${i}` }],
      },
    })
    const call = async (g: number, kind: Outcome['kind'], i: number): Promise<Outcome> => {
      const url = members[g]!.process!.url
      const leaving = kind === 'leaving'
      const spec = leaving
        ? {
            path: '/v1/messages',
            headers: {
              'x-api-key': world.token,
              'anthropic-version': '2023-06-01',
              'x-mock-chunk-delay-ms': '20',
              'x-mock-output-tokens': '40',
            },
            body: {
              model: 'claude-haiku-4-5',
              max_tokens: 60,
              stream: true,
              messages: [{ role: 'user', content: `leaving ${g}-${i}` }],
            },
          }
        : kind === 'stream'
          ? { ...json(g, i), body: { ...json(g, i).body, n: 1, stream: true } }
          : json(g, i)
      const controller = new AbortController()
      const response = await request(`${url}${spec.path}`, {
        method: 'POST',
        headers: { ...spec.headers, 'content-type': 'application/json' },
        body: JSON.stringify(spec.body),
        signal: controller.signal,
      })
      const id = String(response.headers['x-iron-request-id'])
      if (leaving && response.statusCode === 200) {
        // Leave after a few events, as a client that lost interest would.
        let seen = 0
        try {
          for await (const chunk of response.body) {
            seen += String(chunk).split('\n\n').length - 1
            if (seen >= 4) break
          }
        } catch {}
        controller.abort()
        return { gateway: g, kind, status: 200, id, complete: false }
      }
      const text = await response.body.text()
      const complete =
        response.statusCode === 200 &&
        (kind === 'stream' ? text.includes('data: [DONE]') : text.includes('"usage"'))
      const cost = response.headers['x-iron-cost-micros']
      return {
        gateway: g,
        kind,
        status: response.statusCode,
        id,
        code:
          response.statusCode === 200
            ? undefined
            : (JSON.parse(text) as { error: { code: string } }).error.code,
        cost: kind === 'json' && cost !== undefined ? Number(cost) : undefined,
        complete,
      }
    }
    const lane = async (g: number, n: number) => {
      for (let i = 0; !stopping; i++) {
        const m = members[g]!
        if (m.paused || !m.process) {
          await new Promise((r) => setTimeout(r, 20))
          continue
        }
        const kind = (['json', 'stream', 'json', 'leaving'] as const)[(n + i) % 4]!
        try {
          outcomes.push(await call(g, kind, i))
        } catch (error) {
          outcomes.push({ gateway: g, kind, status: -1, id: String(error), complete: false })
        }
      }
    }
    const served = (g?: number) =>
      outcomes.filter((o) => o.status === 200 && (g === undefined || o.gateway === g)).length
    const lanes = members.flatMap((_, g) => [lane(g, 0), lane(g, 1)])
    /** What a gateway answered lately and said on stderr, for a wait that timed out. */
    const seen = (g: number) => () => {
      const last = outcomes.filter((o) => o.gateway === g).slice(-8)
      const answers = last.map((o) => `${o.kind} ${o.status} ${o.code ?? ''}`.trim()).join('; ')
      const stderr = members[g]!.process?.stderr().split('\n').slice(-8).join('\n') ?? '(not running)'
      return `gateway ${g} answered lately: ${answers}\nits stderr ends:\n${stderr}`
    }
    const seenAll = () => members.map((_, g) => seen(g)()).join('\n')

    /** What a gateway's open leases hold free by the server's count (its reports of the last second aside). */
    const room = (m: Member) =>
      world.ctx
        .db()
        .prepare(
          'SELECT coalesce(sum(granted_micros - drawn_micros), 0) FROM remote_leases WHERE runtime_id LIKE ? AND closed_at IS NULL',
        )
        .pluck()
        .get(`gw:%:${m.process!.child.pid}:%`) as number

    // kill -9 mid-lease: gateway 1 serves, loses its server (its reports wait), serves from its lease, dies.
    // Its lease holds several requests' worst cases ($0.074 at most each) before its server goes.
    await waitUntil(
      () => served(1) >= 8 && room(members[1]!) >= 1_500_000,
      60_000,
      () => `${seen(1)()}\nroom ${room(members[1]!)}`,
    )
    members[1]!.proxy.down()
    // What it answers without its server: from its lease, or refused closed once the lease cannot cover a
    // request (402 CONTROL_PLANE_UNREACHABLE, never anything else). Each answer is a report left in its outbox.
    // (The lease's room on the server is not all the gateway's to use: a grant whose answer the faulty network
    // dropped, and draws not reported yet, are counted there; so serving is not required here. The in-process
    // team gateway test checks that a gateway serves within its lease while its server is down.)
    const answered = () => outcomes.filter((o) => o.gateway === 1 && o.status !== -1).length
    const before = answered()
    const beforeOutcomes = outcomes.length
    await waitUntil(() => answered() >= before + 4, 60_000, seen(1))
    for (const o of outcomes.slice(beforeOutcomes).filter((o) => o.gateway === 1 && o.status !== 200))
      expect([o.status, o.code], o.id).toEqual([402, 'CONTROL_PLANE_UNREACHABLE'])
    members[1]!.paused = true
    await waitUntil(async () => {
      const health = await request(`${members[1]!.process!.url}/_iron/health`)
      return ((await health.body.json()) as { in_flight: number }).in_flight === 0
    })
    members[1]!.process!.child.kill('SIGKILL')
    await members[1]!.process!.exited
    members[1]!.process = undefined
    expect(outboxLeft(members[1]!.home).events).toBeGreaterThanOrEqual(4)
    members[1]!.proxy.up()
    await start(members[1]!)
    members[1]!.paused = false
    const restarted = served(1)
    await waitUntil(() => served(1) >= restarted + 6, 60_000, seen(1))

    // The server itself goes away for a while: every gateway serves within its lease, then refuses closed.
    const beforeOutage = served()
    await world.stop()
    await waitUntil(() => served() >= beforeOutage + 6, 60_000, seenAll)
    for (const m of members) {
      // More than the whole budget (30 choices of 8,000 tokens: a $240 worst case on a $200 limit), so more
      // than any lease can hold: only the server could answer it, and it cannot be reached.
      const response = await request(`${m.process!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${world.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          n: 30,
          max_tokens: 8_000,
          messages: [{ role: 'user', content: 'big' }],
        }),
      })
      const body = (await response.body.json()) as { error: { code: string; message: string } }
      expect(response.statusCode).toBe(402)
      expect(body.error.code).toBe('CONTROL_PLANE_UNREACHABLE')
      expect(body.error.message).toContain('cannot be reached')
    }
    await world.start()
    const afterOutage = served()
    await waitUntil(() => served() >= afterOutage + 12, 60_000, seenAll)

    // The limit comes down to what is spent and a little more: the gateways run the budget out together.
    for (const m of members) m.paused = true
    for (const m of members)
      await waitUntil(async () => {
        const health = await request(`${m.process!.url}/_iron/health`)
        return ((await health.body.json()) as { in_flight: number }).in_flight === 0
      })
    const settledIds = () =>
      world.ctx.db().prepare("SELECT count(*) FROM ledger WHERE kind = 'commit'").pluck().get() as number
    const charged = outcomes.filter((o) => o.status === 200).length
    await waitUntil(() => settledIds() >= charged, 60_000, seenAll)
    const revocations = (m: Member) => m.process!.stderr().split('(limit_changed)').length - 1
    const revokedBefore = members.map(revocations)
    const limit = (await world.cp.budgets.get('bot')).spent_micros + 600_000
    await world.cp.budgets.set('bot', { limit_micros: limit })
    // Each gateway hears of it with its next report (however many tries the network takes) before lending again.
    await waitUntil(() => members.every((m, i) => revocations(m) > revokedBefore[i]!), 60_000, seenAll)
    for (const m of members) m.paused = false
    await waitUntil(
      () => {
        const last = outcomes.slice(-12)
        return last.length === 12 && last.every((o) => o.code === 'budget_exceeded')
      },
      90_000,
      seenAll,
    )

    // A clean network, then every gateway stops: reports in, leases back, outboxes empty.
    stopping = true
    await Promise.all(lanes)
    for (const m of members) m.proxy.set({})
    for (const m of members) {
      m.process!.child.kill('SIGTERM')
      expect(await m.process!.exited, m.process!.stderr()).toBe(0)
    }
    for (const m of members) expect(outboxLeft(m.home), m.home).toEqual({ events: 0, leases: 0 })
    // The faults did happen.
    for (const fault of ['drop', 'dropAnswer', 'delay', 'duplicate', 'reorder'] as const)
      expect(
        members.reduce((n, m) => n + m.proxy.counts[fault], 0),
        fault,
      ).toBeGreaterThan(0)

    const budget = await world.cp.budgets.get('bot')
    expect(budget.spent_micros).toBeLessThanOrEqual(limit)
    expect(budget.leased_micros).toBe(0)
    expect(budget.reserved_micros).toBe(0)

    const db = world.ctx.db()
    // Each request charged once, however often its report was sent.
    const commits = db
      .prepare("SELECT reservation_id, spent_delta FROM ledger WHERE kind = 'commit'")
      .all() as Array<{ reservation_id: string; spent_delta: number }>
    expect(new Set(commits.map((c) => c.reservation_id)).size).toBe(commits.length)
    const byId = new Map(commits.map((c) => [c.reservation_id, c.spent_delta]))
    // Every answer a client got in full was charged; what the gateway told a JSON client is what was charged.
    const lost = outcomes.filter((o) => o.complete && !byId.has(o.id)).map((o) => o.id)
    expect(lost).toEqual([])
    const told = outcomes.filter((o) => o.cost !== undefined && o.status === 200)
    expect(told.length).toBeGreaterThan(20)
    for (const o of told) expect(byId.get(o.id), o.id).toBe(o.cost)
    // Reported = metered: the records the gateways wrote carry the same costs the ledger charged.
    const recorded = db
      .prepare("SELECT resource_id, data FROM audit_events WHERE action = 'gateway.request'")
      .all() as Array<{ resource_id: string; data: string }>
    expect(new Set(recorded.map((r) => r.resource_id)).size).toBe(recorded.length)
    let metered = 0
    for (const r of recorded)
      metered += (JSON.parse(r.data) as { cost_micros: number | null }).cost_micros ?? 0
    expect(metered).toBe(budget.spent_micros)
    // = what the provider served, model by model (a stream its client left: what reached the gateway).
    const ledger = db
      .prepare(
        "SELECT model, count(*) AS requests, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(spent_delta) AS spent FROM ledger WHERE kind = 'commit' GROUP BY model",
      )
      .all() as Array<{ model: string; requests: number; input: number; output: number; spent: number }>
    const mock = world.mock.stats().served
    expect(Object.keys(mock).sort()).toEqual(ledger.map((row) => row.model).sort())
    for (const row of ledger) {
      const s = mock[row.model]!
      expect(row.requests, row.model).toBe(s.requests)
      expect(row.input, row.model).toBe(s.input_tokens)
      expect(row.spent, row.model).toBe(costOf(row.input, row.output))
      if (row.model === 'gpt-4o-mini') expect(row.output).toBe(s.output_tokens)
      else {
        expect(row.output).toBeLessThanOrEqual(s.output_tokens)
        expect(s.output_tokens - row.output).toBeLessThanOrEqual(2 * row.requests)
      }
    }
  }, 300_000)

  it('iron gateway start takes its server from --server, IRON_SERVER or the login context; --db means the local store', async () => {
    const world = await startTeamWorld()
    cleanup.push(() => world.close())
    const home = tempDir('iron-e2e-team-ctx')
    const env = { ...(process.env as Record<string, string>), ...homeEnv(home) }
    const ask = async (url: string) => {
      const response = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${world.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      })
      await response.body.text()
      return response.statusCode
    }
    const run = async (args: string[], withEnv: Record<string, string>) => {
      const g = await spawnGateway([...args, '--port', '0'], withEnv)
      const status = await ask(g.url)
      g.child.kill('SIGTERM')
      expect(await g.exited, g.stderr()).toBe(0)
      return { status, stderr: g.stderr() }
    }
    const fromEnv = await run([], { ...env, IRON_SERVER: world.url })
    expect(fromEnv.stderr).toContain(`(budgets from ${world.url};`)
    expect(fromEnv.status).toBe(200)
    // iron login keeps the server in the config: a gateway started after it leases from that server.
    expect((await runIron(['config', 'set', 'server', world.url], { env })).code).toBe(0)
    const fromContext = await run([], env)
    expect(fromContext.stderr).toContain(`(budgets from ${world.url};`)
    expect(fromContext.status).toBe(200)
    const local = await run(['--db', join(home, 'local.db')], env)
    expect(local.stderr).toContain(`(store ${join(home, 'local.db')};`)
    // The local store knows no such token.
    expect(local.status).toBe(401)
    const both = await runIron(['gateway', 'start', '--server', world.url, '--db', join(home, 'x.db')], {
      env,
    })
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--server and --db')
    await waitUntil(async () => (await world.cp.budgets.get('bot')).leased_micros === 0)
  })
})
