import { afterEach, describe, expect, it } from 'vitest'
import type { GatewayStats } from '../../src/client/gateway-watch.js'
import type { RequestEvent } from '../../src/services/gateway-events.js'
import { TopApp } from '../../tui/components/TopApp.js'
import type { FeedHandlers } from '../../tui/hooks/use-feed.js'
import { renderInk } from '../helpers/ink.js'

const stats: GatewayStats = {
  uptime_s: 125,
  requests_total: 0,
  errors_total: 0,
  spend_micros_total: 0,
  in_flight: 0,
  budgets: [
    {
      agent_id: 'agent_a',
      agent_name: 'support-bot',
      limit_micros: 50_000_000,
      period: 'monthly',
      timezone: 'UTC',
      on_insufficient: 'reject',
      alert_thresholds: [50],
      period_start: null,
      period_end: null,
      spent_micros: 40_000_000,
      reserved_micros: 0,
      leased_micros: 0,
      remaining_micros: 10_000_000,
      used_pct: 80,
      updated_at: '2026-11-24T12:00:00.000Z',
    },
  ],
}

/** A source the test drives by hand. */
function fakeSource() {
  let handlers: FeedHandlers | undefined
  const subscribe = async (h: FeedHandlers) => {
    handlers = h
    h.onSnapshot(stats)
    h.onStatus({ state: 'live' })
  }
  return {
    subscribe,
    emit: (event: Partial<RequestEvent>) =>
      handlers?.onEvent({
        type: 'request',
        at: new Date().toISOString(),
        id: 'req_test',
        agent: 'support-bot',
        agent_id: 'agent_test',
        model: null,
        provider: 'openai',
        status: 200,
        outcome: 'ok',
        stream: false,
        input_tokens: null,
        output_tokens: null,
        cost_micros: null,
        latency_ms: 1,
        ...event,
      }),
    status: (s: Parameters<FeedHandlers['onStatus']>[0]) => handlers?.onStatus(s),
  }
}

let app: ReturnType<typeof renderInk> | undefined
afterEach(() => app?.unmount())

describe('iron top screen', () => {
  it('shows the header, the agents with their budget bar, and the feed as events arrive', async () => {
    const source = fakeSource()
    app = renderInk(<TopApp source="http://127.0.0.1:8788" subscribe={source.subscribe} intervalMs={20} />)
    const first = await app.waitFor((f) => f.includes('support-bot'))
    expect(first).toContain('iron top')
    expect(first).toContain('live')
    expect(first).toContain('$40.00')
    expect(first).toContain('80%')
    source.emit({
      agent: 'support-bot',
      model: 'gpt-4o-mini',
      status: 200,
      outcome: 'ok',
      cost_micros: 2_000_000,
    })
    source.emit({
      agent: 'batch-job',
      model: 'gpt-4.1',
      status: 402,
      outcome: 'budget_exceeded',
      cost_micros: 0,
    })
    const frame = await app.waitFor((f) => f.includes('batch-job') && f.includes('$42.00'))
    expect(frame).toContain('402 budget_exceeded')
    expect(frame).toContain('RECENT')
  })

  it('answers keys: help overlay, sort, filter, pause, details', async () => {
    const source = fakeSource()
    app = renderInk(<TopApp source="gw" subscribe={source.subscribe} intervalMs={20} />)
    await app.waitFor((f) => f.includes('support-bot'))
    source.emit({ agent: 'batch-job', status: 200, outcome: 'ok', cost_micros: 1 })
    await app.waitFor((f) => f.includes('batch-job'))
    await app.press('?')
    expect(await app.waitFor((f) => f.includes('Keys'))).toContain('sort agents')
    await app.press('escape')
    await app.waitFor((f) => !f.includes('Keys'))
    await app.press('s')
    expect(await app.waitFor((f) => f.includes('sort: burn'))).toBeTruthy()
    await app.press('/', 'b', 'a', 't', 'return')
    const filtered = await app.waitFor((f) => f.includes('filter: bat') && !f.includes('support-bot'))
    expect(filtered).toContain('batch-job')
    await app.press('return')
    expect(await app.waitFor((f) => f.includes('requests, 0 errors'))).toContain('batch-job')
    await app.press('p')
    expect(await app.waitFor((f) => f.includes('PAUSED'))).toBeTruthy()
  })

  it('shows control characters an agent sent as text, neither obeyed nor silently dropped', async () => {
    const source = fakeSource()
    app = renderInk(<TopApp source="gw" subscribe={source.subscribe} intervalMs={20} />)
    await app.waitFor((f) => f.includes('support-bot'))
    source.emit({
      agent: 'support-bot',
      model: 'gpt-4\u0000o\u001b]0;HACKED\u0007\u001b[2J\u009b2J',
      status: 200,
      outcome: 'ok',
      cost_micros: 1,
    })
    const frame = await app.waitFor((f) => f.includes('HACKED'))
    expect(frame).toContain('gpt-4\\x00o\\x1b]0;HACKED\\x07\\x1b[2J\\x9b2J 200 ok')
    expect(frame).not.toMatch(/\u001b\]|\u0007|\u009b|\u001b\[2J/)
  })

  it('says when the source is gone and that it is retrying', async () => {
    const source = fakeSource()
    app = renderInk(<TopApp source="gw" subscribe={source.subscribe} intervalMs={20} />)
    await app.waitFor((f) => f.includes('live'))
    source.status({ state: 'reconnecting', inSeconds: 4, reason: 'fetch failed' })
    expect(await app.waitFor((f) => f.includes('retrying in 4s'))).toContain('disconnected')
  })
})
