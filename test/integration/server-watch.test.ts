import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayStats, WatchStatus } from '../../src/client/gateway-watch.js'
import { serverSnapshot, watchServer } from '../../src/client/server-watch.js'
import type { GatewayEvent } from '../../src/services/gateway-events.js'
import { startTestServer } from '../contract/harness.js'

// iron top --server: the server's /api/v1/events followed as top follows a gateway.
describe('watching an iron serve (iron top --server)', () => {
  let t: Awaited<ReturnType<typeof startTestServer>>
  beforeAll(async () => {
    t = await startTestServer()
    await t.addUser('admin', 'admin')
  })
  afterAll(async () => {
    await t.close()
  })

  it('budgets first, then the requests gateways on the store make, and budgets again after a change', async () => {
    const cp = t.clientFor(await t.signIn('admin'))
    const agent = await cp.agents.create({ name: 'watched' })
    await cp.budgets.set('watched', { limit_micros: 10_000_000 })
    const snapshots: GatewayStats[] = []
    const events: GatewayEvent[] = []
    const statuses: WatchStatus[] = []
    const controller = new AbortController()
    const watching = watchServer(
      cp,
      {
        onSnapshot: (s) => snapshots.push(s),
        onEvent: (e) => events.push(e),
        onStatus: (s) => statuses.push(s),
      },
      controller.signal,
    )
    await expect.poll(() => statuses.at(-1)?.state).toBe('live')
    expect(snapshots[0]?.budgets.map((b) => [b.agent_name, b.limit_micros])).toEqual([
      ['watched', 10_000_000],
    ])
    expect(snapshots[0]).toMatchObject({ requests_total: 0, errors_total: 0, spend_micros_total: 0 })

    // What a gateway on the store records for a request, as the audit trail holds it.
    const db = t.ctx.db()
    db.transaction(() =>
      t.server.cp.audit.record({
        action: 'gateway.request',
        resource_type: 'request',
        resource_id: 'req_watched_1',
        agent_id: agent.id,
        outcome: 'success',
        data: {
          model: 'gpt-4o-mini',
          provider: 'openai',
          status: 200,
          outcome: 'ok',
          stream: false,
          cost_micros: 1_234,
          latency_ms: 12,
        },
      }),
    ).immediate()
    await expect.poll(() => events.length).toBe(1)
    expect(events[0]).toMatchObject({ type: 'request', agent: 'watched', cost_micros: 1_234, status: 200 })

    await cp.budgets.set('watched', { limit_micros: 20_000_000 })
    await expect.poll(() => snapshots.length, { timeout: 10_000 }).toBe(2)
    expect(snapshots[1]).toMatchObject({ requests_total: 1, spend_micros_total: 1_234 })
    expect(snapshots[1]?.budgets[0]?.limit_micros).toBe(20_000_000)

    controller.abort()
    await watching
    await cp.close()
  })

  it('the snapshot of --json is the budgets the caller may see', async () => {
    const cp = t.clientFor(await t.signIn('admin'))
    const snapshot = await serverSnapshot(cp)
    expect(snapshot.source).toBe(t.server.url)
    expect(snapshot.budgets.map((b) => b.agent_name)).toContain('watched')
    await cp.close()
  })

  it('a credential the server refuses: reconnecting, with the server’s reason', async () => {
    const cp = t.clientFor('iron_st_NotASessionOfThisServer00000000000000')
    const statuses: WatchStatus[] = []
    const controller = new AbortController()
    const watching = watchServer(
      cp,
      { onSnapshot: () => {}, onEvent: () => {}, onStatus: (s) => statuses.push(s) },
      controller.signal,
    )
    await expect.poll(() => statuses.find((s) => s.state === 'reconnecting')).toBeDefined()
    const reconnecting = statuses.find((s) => s.state === 'reconnecting') as Extract<
      WatchStatus,
      { state: 'reconnecting' }
    >
    expect(reconnecting.reason).toMatch(/session|sign in|token/i)
    controller.abort()
    await watching
    await cp.close()
  })
})
