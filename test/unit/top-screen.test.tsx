import { afterEach, describe, expect, it } from 'vitest'
import type { GatewayStats } from '../../src/client/gateway-watch.js'
import type { Budget } from '../../src/services/api.js'
import type { GatewayEvent, RequestEvent } from '../../src/services/gateway-events.js'
import { TopScreen } from '../../tui/components/TopScreen.js'
import { runsOut } from '../../tui/format.js'
import { screenLayout } from '../../tui/state/layout.js'
import { initialState, reduce, type TopState, visibleAgents } from '../../tui/state/reducer.js'
import { renderInk } from '../helpers/ink.js'

const T0 = Date.parse('2026-11-24T12:00:00Z')

const budget = (name: string, limit: number | null, spent: number, remaining: number | null): Budget => ({
  agent_id: `agent_${name}`,
  agent_name: name,
  limit_micros: limit,
  period: 'monthly',
  timezone: 'UTC',
  on_insufficient: 'reject',
  alert_thresholds: [50, 80],
  period_start: '2026-11-01T00:00:00.000Z',
  period_end: '2026-12-01T00:00:00.000Z',
  spent_micros: spent,
  reserved_micros: 0,
  leased_micros: 0,
  remaining_micros: remaining,
  used_pct: null,
  updated_at: '2026-11-24T12:00:00.000Z',
})

const stats = (budgets: Budget[]): GatewayStats => ({
  uptime_s: 60,
  requests_total: 0,
  errors_total: 0,
  spend_micros_total: 0,
  in_flight: 0,
  budgets,
})

const request = (agent: string, cost: number, i = 0): RequestEvent => ({
  type: 'request',
  at: new Date(T0 + i).toISOString(),
  id: `req_${i}`,
  agent,
  agent_id: `agent_${agent}`,
  model: 'mock-small',
  provider: 'mock',
  status: 200,
  outcome: 'ok',
  stream: false,
  input_tokens: 10,
  output_tokens: 20,
  cost_micros: cost,
  latency_ms: 1,
})

const alert = (agent: string, pct: number, remaining: number): GatewayEvent => ({
  type: 'alert',
  at: new Date(T0).toISOString(),
  agent,
  agent_id: `agent_${agent}`,
  threshold_pct: pct,
  remaining_micros: remaining,
})

/** A dashboard that has seen a lot: three agents, a full feed, alerts, and (when asked) details open. */
function busy(details: boolean): TopState {
  let s = reduce(initialState('http://127.0.0.1:8788', T0), {
    type: 'snapshot',
    stats: stats([
      budget('support-bot', 1_000_000, 100_000, 900_000),
      budget('batch-job', null, 0, null),
      budget('triage', 5_000_000, 0, 5_000_000),
    ]),
    at: T0,
  })
  const events = Array.from({ length: 120 }, (_, i) => ({
    event: request(['support-bot', 'batch-job', 'triage'][i % 3]!, 40, i),
    at: T0 + i,
  }))
  s = reduce(s, { type: 'events', events })
  for (const pct of [50, 80, 95])
    s = reduce(s, { type: 'event', event: alert('support-bot', pct, 0), at: T0 })
  return details ? reduce(s, { type: 'key', action: 'details' }) : s
}

let app: ReturnType<typeof renderInk> | undefined
afterEach(() => app?.unmount())

describe('iron top layout', () => {
  for (const [width, height] of [
    [160, 45],
    [80, 24],
  ] as const) {
    it(`keeps the title and the agents on a ${width}×${height} screen with the details panel open`, () => {
      app = renderInk(<TopScreen state={busy(true)} width={width} height={height} />)
      const lines = app.frame().split('\n')
      expect(lines.length).toBeLessThanOrEqual(height)
      expect(lines[0]).toContain('iron top')
      expect(lines.some((l) => l.includes('AGENT'))).toBe(true)
      expect(lines.some((l) => l.includes('support-bot') && l.includes('$0.10'))).toBe(true)
      // The panel is there, with as many of the agent's recent lines as fit.
      expect(lines.some((l) => l.includes('this period'))).toBe(true)
      expect(lines.some((l) => /│ \d\d:\d\d:\d\d /.test(l))).toBe(true)
      expect(lines.at(-1)).toContain('q quit')
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(width)
    })
  }

  it('never lays out more lines than the terminal has, whatever is shown', () => {
    for (let height = 16; height <= 60; height++) {
      for (const agents of [0, 1, 2, 5, 40]) {
        for (const alerts of [0, 1, 3, 10]) {
          for (const details of [false, true]) {
            const rows = screenLayout(height, { agents, alerts, details, recent: 5 })
            const used =
              6 +
              rows.agentRows +
              (rows.agentRows < agents ? 1 : 0) +
              (rows.alertRows ? rows.alertRows + 1 : 0) +
              (details ? 6 + rows.recentRows : 0) +
              rows.feedRows
            expect(used, JSON.stringify({ height, agents, alerts, details, rows })).toBeLessThanOrEqual(
              height,
            )
            expect(rows.agentRows).toBeGreaterThanOrEqual(1)
            expect(rows.feedRows).toBeGreaterThanOrEqual(1)
          }
        }
      }
    }
  })

  it('says what the counts cover: spend over the budget period, requests since top opened', () => {
    app = renderInk(<TopScreen state={busy(true)} width={100} height={30} />)
    const frame = app.frame()
    expect(frame).toContain('spend: this budget period · reqs, err, blk: since top opened at 12:00:00')
    expect(frame).toMatch(/since 12:00:00: 40 requests/)
  })
})

describe('iron top with a tiny budget', () => {
  // $0.001 with a gateway's lease holding all of it: the gateway's alerts say $0 is left.
  const tiny = () =>
    reduce(initialState('gw', T0), {
      type: 'snapshot',
      stats: stats([budget('tiny', 1_000, 0, 1_000), budget('spent', 1_000, 1_000, 0)]),
      at: T0,
    })

  it('shows when the budget runs out as now, under a second, or – where no projection means anything', () => {
    let s = reduce(tiny(), { type: 'event', event: request('tiny', 970), at: T0 })
    s = reduce(s, { type: 'event', event: request('spent', 0), at: T0 })
    app = renderInk(<TopScreen state={s} width={120} height={30} />)
    const row = (name: string) =>
      app!
        .frame()
        .split('\n')
        .find((l) => l.startsWith(name))
    expect(row('tiny')).toMatch(/\$0\.00097 .* <1s /)
    expect(row('spent')).toMatch(/ now /)
    expect(app.frame()).not.toContain('0ms')
    const view = Object.fromEntries(visibleAgents(s).map((a) => [a.name, a]))
    // $0.00003 left at $0.3492/h is 0.3 s: not "0ms".
    expect(runsOut(view.tiny!)).toBe('<1s')
    expect(runsOut(view.spent!)).toBe('now')
    expect(runsOut({ limitMicros: null, remainingMicros: null, exhaustsInS: null })).toBe('–')
    expect(runsOut({ limitMicros: 1_000, remainingMicros: 600, exhaustsInS: null })).toBe('–')
    expect(runsOut({ limitMicros: 1_000, remainingMicros: 600, exhaustsInS: 125.4 })).toBe('2m 5s')
  })

  it('says what is left of a sub-cent budget when it crosses a threshold, not $0.00', () => {
    let s = reduce(tiny(), { type: 'event', event: request('tiny', 550), at: T0 })
    s = reduce(s, { type: 'event', event: alert('tiny', 50, 0), at: T0 })
    expect(s.alerts[0]?.text).toBe('budget at 50% of $0.001: $0.00045 left')
    // The alert comes before the request that crossed it: what is left is at most the share above it.
    s = reduce(s, { type: 'event', event: alert('tiny', 95, 0), at: T0 })
    expect(s.alerts[0]?.text).toBe('budget at 95% of $0.001: $0.00005 left')
    s = reduce(s, { type: 'event', event: alert('spent', 100, 0), at: T0 })
    expect(s.alerts[0]?.text).toBe('budget at 100% of $0.001: nothing left')
    app = renderInk(<TopScreen state={s} width={120} height={30} />)
    expect(app.frame()).not.toContain('$0.00 left')
  })
})
