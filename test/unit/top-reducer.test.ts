import { describe, expect, it } from 'vitest'
import type { GatewayStats } from '../../src/client/gateway-watch.js'
import type { RequestEvent } from '../../src/services/gateway-events.js'
import {
  BUCKET_MS,
  BUCKETS,
  burnPerHour,
  FEED_SIZE,
  initialState,
  reduce,
  requestsPerSecond,
  type TopState,
  visibleAgents,
} from '../../tui/state/reducer.js'

const T0 = Date.parse('2026-11-24T12:00:00Z')
const budget = (name: string, spent: number, limit: number | null) => ({
  agent_id: `agent_${name}`,
  agent_name: name,
  limit_micros: limit,
  period: 'monthly' as const,
  timezone: 'UTC',
  on_insufficient: 'reject' as const,
  alert_thresholds: [50, 80],
  period_start: '2026-11-01T00:00:00.000Z',
  period_end: '2026-12-01T00:00:00.000Z',
  spent_micros: spent,
  reserved_micros: 0,
  leased_micros: 0,
  remaining_micros: limit === null ? null : limit - spent,
  used_pct: null,
  updated_at: '2026-11-24T12:00:00.000Z',
})
const stats = (budgets: ReturnType<typeof budget>[]): GatewayStats => ({
  uptime_s: 60,
  requests_total: 0,
  errors_total: 0,
  spend_micros_total: 0,
  in_flight: 0,
  budgets,
})
const request = (agent: string, cost: number, status = 200, outcome = 'ok'): RequestEvent => ({
  type: 'request',
  at: new Date(T0).toISOString(),
  id: 'req_test',
  agent,
  agent_id: `agent_${agent}`,
  model: 'gpt-4o-mini',
  provider: 'openai',
  status,
  outcome,
  stream: false,
  input_tokens: 10,
  output_tokens: 20,
  cost_micros: cost,
  latency_ms: 1,
})
const start = () =>
  reduce(initialState('http://gw', T0), {
    type: 'snapshot',
    stats: stats([budget('alpha', 1_000_000, 10_000_000), budget('beta', 0, null)]),
    at: T0,
  })

describe('iron top state', () => {
  it('takes budgets from the snapshot and counts requests, errors, blocks and spend from events', () => {
    let s = start()
    s = reduce(s, { type: 'event', event: request('alpha', 500_000), at: T0 + 1_000 })
    s = reduce(s, { type: 'event', event: request('alpha', 0, 502, 'upstream_error'), at: T0 + 2_000 })
    s = reduce(s, { type: 'event', event: request('beta', 0, 402, 'budget_exceeded'), at: T0 + 3_000 })
    expect(s.agents.alpha).toMatchObject({
      spentMicros: 1_500_000,
      remainingMicros: 8_500_000,
      requests: 2,
      errors: 1,
      blocked: 0,
    })
    expect(s.agents.beta).toMatchObject({ requests: 1, errors: 0, blocked: 1, limitMicros: null })
    expect(s.totals).toEqual({ requests: 3, errors: 2, spendMicros: 500_000 })
    expect(s.feed[0]?.text).toContain('402 budget_exceeded')
    expect(s.feed[0]?.tone).toBe('warn')
  })

  it('names the gateway that served each request on a server stream (team gateways)', () => {
    let s = start()
    s = reduce(s, {
      type: 'event',
      event: { ...request('alpha', 1_000), gateway: { holder: 'gw_01jabcdefghk', host: 'build-01' } },
      at: T0 + 1_000,
    })
    expect(s.feed[0]?.text).toContain('gpt-4o-mini 200 ok $0.001 via build-01/defghk')
    s = reduce(s, {
      type: 'event',
      event: { ...request('alpha', 1_000), gateway: { holder: 'gw_01jzyxwvuts', host: null } },
      at: T0 + 2_000,
    })
    expect(s.feed[0]?.text).toMatch(/ via gateway xwvuts$/)
    s = reduce(s, { type: 'event', event: request('alpha', 1_000), at: T0 + 3_000 })
    expect(s.feed[0]?.text).not.toContain('via')
  })

  it('keeps a ten-minute spend history in buckets that move with time, and derives burn and run-out', () => {
    let s = start()
    s = reduce(s, { type: 'event', event: request('alpha', 600_000), at: T0 })
    s = reduce(s, { type: 'tick', now: T0 + BUCKET_MS })
    s = reduce(s, { type: 'event', event: request('alpha', 600_000), at: T0 + BUCKET_MS + 1 })
    expect(s.spend.slice(-2)).toEqual([600_000, 600_000])
    const alpha = visibleAgents(s).find((a) => a.name === 'alpha')!
    expect(alpha.burnPerHour).toBe(burnPerHour(s.agents.alpha!.buckets))
    expect(alpha.burnPerHour).toBe((1_200_000 / (2 * BUCKET_MS)) * 3_600_000)
    expect(alpha.exhaustsInS).toBe((alpha.remainingMicros! / alpha.burnPerHour) * 3600)
    s = reduce(s, { type: 'tick', now: T0 + BUCKETS * BUCKET_MS * 2 })
    expect(s.spend.every((b) => b === 0)).toBe(true)
    expect(requestsPerSecond(s)).toBe(0)
  })

  it('stays bounded whatever the number of events', () => {
    let s: TopState = start()
    const events = Array.from({ length: 20_000 }, (_, i) => ({
      event: request(`agent-${i % 50}`, 1),
      at: T0 + i,
    }))
    s = reduce(s, { type: 'events', events })
    expect(s.feed).toHaveLength(FEED_SIZE)
    expect(Object.keys(s.agents)).toHaveLength(52)
    for (const agent of Object.values(s.agents)) expect(agent.buckets).toHaveLength(BUCKETS)
    expect(s.totals.requests).toBe(20_000)
  })

  it('sorts, filters, selects, pauses, switches panels and opens help and details from keys', () => {
    let s = start()
    s = reduce(s, { type: 'event', event: request('beta', 5_000_000), at: T0 })
    expect(visibleAgents(s).map((a) => a.name)).toEqual(['beta', 'alpha'])
    s = reduce(s, { type: 'key', action: 'sort' })
    expect(s.sort).toBe('burn')
    for (let i = 0; i < 3; i++) s = reduce(s, { type: 'key', action: 'sort' })
    expect(s.sort).toBe('name')
    expect(visibleAgents(s).map((a) => a.name)).toEqual(['alpha', 'beta'])
    s = reduce(s, { type: 'key', action: 'down' })
    s = reduce(s, { type: 'key', action: 'down' })
    expect(s.selected).toBe(1)
    s = reduce(s, { type: 'key', action: 'filter' })
    for (const ch of 'alx') s = reduce(s, { type: 'filter-input', input: ch })
    s = reduce(s, { type: 'filter-input', input: 'backspace' })
    s = reduce(s, { type: 'filter-input', input: 'return' })
    expect(s).toMatchObject({ filter: 'al', filtering: false, selected: 0 })
    expect(visibleAgents(s).map((a) => a.name)).toEqual(['alpha'])
    s = reduce(s, { type: 'key', action: 'details' })
    expect(s.details).toBe(true)
    s = reduce(s, { type: 'key', action: 'close' })
    expect(s.details).toBe(false)
    s = reduce(reduce(s, { type: 'key', action: 'pause' }), { type: 'key', action: 'panel' })
    expect(s).toMatchObject({ paused: true, panel: 'feed' })
    s = reduce(s, { type: 'key', action: 'help' })
    expect(s.help).toBe(true)
    s = reduce(s, { type: 'key', action: 'filter' })
    s = reduce(s, { type: 'filter-input', input: 'escape' })
    expect(s).toMatchObject({ filter: '', filtering: false, help: false })
  })

  it('records alerts and connection state', () => {
    let s = start()
    s = reduce(s, {
      type: 'event',
      event: {
        type: 'alert',
        at: new Date(T0).toISOString(),
        agent: 'alpha',
        agent_id: 'agent_alpha',
        threshold_pct: 80,
        remaining_micros: 2_000_000,
      },
      at: T0,
    })
    expect(s.alerts[0]?.text).toBe('budget at 80% of $10.00: $2.00 left')
    // A firewall block is an alert too; a redaction is only a feed line.
    for (const action of ['redact', 'block'] as const) {
      s = reduce(s, {
        type: 'event',
        event: {
          type: 'safety',
          at: new Date(T0).toISOString(),
          agent: 'alpha',
          agent_id: 'agent_alpha',
          request_id: `req_${action}`,
          direction: 'input',
          action,
          categories: ['email'],
        },
        at: T0,
      })
    }
    expect(s.alerts.map((a) => a.text)).toEqual([
      'safety block (input): email',
      'budget at 80% of $10.00: $2.00 left',
    ])
    expect(s.feed[1]?.text).toBe('safety redact (input): email')
    s = reduce(s, { type: 'status', status: { state: 'reconnecting', inSeconds: 2, reason: 'fetch failed' } })
    expect(s.connection).toEqual({ state: 'reconnecting', inSeconds: 2, reason: 'fetch failed' })
  })
})

describe('purity', () => {
  it('never changes the state it is given', () => {
    const deepFreeze = <T>(value: T): T => {
      if (value && typeof value === 'object') {
        for (const v of Object.values(value)) deepFreeze(v)
        Object.freeze(value)
      }
      return value
    }
    const before = deepFreeze(start())
    const copy = JSON.stringify(before)
    const after = reduce(before, {
      type: 'events',
      events: [
        { event: request('alpha', 5), at: T0 },
        { event: request('gamma', 7), at: T0 + BUCKET_MS * 3 },
      ],
    })
    expect(JSON.stringify(before)).toBe(copy)
    expect(after.agents.gamma?.spentMicros).toBe(7)
  })
})
