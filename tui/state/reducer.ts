import type { GatewayStats, WatchStatus } from '../../src/client/gateway-watch.js'
import { formatMoney } from '../../src/core/money.js'
import { escapeControls } from '../../src/core/terminal-text.js'
import type { Budget } from '../../src/services/api.js'
import type { AlertEvent, GatewayEvent, GatewayEventType } from '../../src/services/gateway-events.js'
import type { KeyAction } from './keymap.js'

/** Spend history: 60 buckets of 10 s (ten minutes), for the sparkline and burn rates. */
export const BUCKET_MS = 10_000
export const BUCKETS = 60
export const FEED_SIZE = 100
export const ALERTS_SIZE = 10
export const SORTS = ['spend', 'burn', 'requests', 'errors', 'name'] as const
export type Sort = (typeof SORTS)[number]

export interface AgentState {
  name: string
  spentMicros: number
  limitMicros: number | null
  remainingMicros: number | null
  periodEnd: string | null
  requests: number
  errors: number
  blocked: number
  /** Spend per bucket, aligned with TopState.bucketStart. */
  buckets: number[]
}

export interface FeedItem {
  /** Increasing number, a stable key for the screen. */
  seq: number
  at: string
  kind: GatewayEventType
  agent: string
  text: string
  tone: 'ok' | 'warn' | 'error'
}

export interface TopState {
  source: string
  /** When the dashboard opened: requests, errors and blocks per agent are counted from then. */
  openedAt: number
  connection: WatchStatus
  uptimeS: number
  snapshotAt: number
  now: number
  paused: boolean
  sort: Sort
  filter: string
  filtering: boolean
  panel: 'agents' | 'feed'
  selected: number
  details: boolean
  help: boolean
  agents: Record<string, AgentState>
  feed: FeedItem[]
  alerts: FeedItem[]
  feedSeq: number
  totals: { requests: number; errors: number; spendMicros: number }
  /** Start of the newest bucket. */
  bucketStart: number
  /** Spend of all agents per bucket. */
  spend: number[]
  /** Requests per bucket. */
  requests: number[]
}

export type TopAction =
  | { type: 'snapshot'; stats: GatewayStats; at: number }
  | { type: 'event'; event: GatewayEvent; at: number }
  /** Events gathered between two refreshes, applied at once (one render for many events). */
  | { type: 'events'; events: Array<{ event: GatewayEvent; at: number }> }
  | { type: 'status'; status: WatchStatus }
  | { type: 'tick'; now: number }
  | { type: 'key'; action: KeyAction }
  | { type: 'filter-input'; input: string }

export function initialState(source: string, now: number): TopState {
  return {
    source,
    openedAt: now,
    connection: { state: 'connecting' },
    uptimeS: 0,
    snapshotAt: now,
    now,
    paused: false,
    sort: 'spend',
    filter: '',
    filtering: false,
    panel: 'agents',
    selected: 0,
    details: false,
    help: false,
    agents: {},
    feed: [],
    alerts: [],
    feedSeq: 0,
    totals: { requests: 0, errors: 0, spendMicros: 0 },
    bucketStart: floorBucket(now),
    spend: new Array(BUCKETS).fill(0),
    requests: new Array(BUCKETS).fill(0),
  }
}

const floorBucket = (t: number) => t - (t % BUCKET_MS)

/** Shift every bucket series so the newest bucket contains `now`. */
function advance(state: TopState, now: number): TopState {
  const start = floorBucket(now)
  const steps = Math.min(Math.floor((start - state.bucketStart) / BUCKET_MS), BUCKETS)
  if (steps <= 0) return state
  const shift = (series: number[]) => [...series.slice(steps), ...new Array(steps).fill(0)]
  const agents: Record<string, AgentState> = {}
  for (const [name, agent] of Object.entries(state.agents))
    agents[name] = { ...agent, buckets: shift(agent.buckets) }
  return { ...state, bucketStart: start, spend: shift(state.spend), requests: shift(state.requests), agents }
}

function agentOf(state: TopState, name: string): AgentState {
  return (
    state.agents[name] ?? {
      name,
      spentMicros: 0,
      limitMicros: null,
      remainingMicros: null,
      periodEnd: null,
      requests: 0,
      errors: 0,
      blocked: 0,
      buckets: new Array(BUCKETS).fill(0),
    }
  )
}

function fromBudget(agent: AgentState, budget: Budget): AgentState {
  return {
    ...agent,
    spentMicros: budget.spent_micros,
    limitMicros: budget.limit_micros,
    remainingMicros: budget.remaining_micros,
    periodEnd: budget.period_end,
  }
}

/** The dashboard's state: pure, so every transition is tested without a terminal. */
export function reduce(state: TopState, action: TopAction): TopState {
  switch (action.type) {
    case 'status':
      return { ...state, connection: action.status }
    case 'tick':
      return advance({ ...state, now: action.now }, action.now)
    case 'snapshot': {
      const agents = { ...state.agents }
      for (const budget of action.stats.budgets) {
        const name = escapeControls(budget.agent_name)
        agents[name] = fromBudget(agentOf(state, name), budget)
      }
      return {
        ...state,
        agents,
        uptimeS: action.stats.uptime_s,
        snapshotAt: action.at,
        totals: {
          requests: action.stats.requests_total,
          errors: action.stats.errors_total,
          spendMicros: action.stats.spend_micros_total,
        },
      }
    }
    case 'event':
      return applyEvents(state, [{ event: action.event, at: action.at }])
    case 'events':
      return applyEvents(state, action.events)
    case 'key':
      return onKey(state, action.action)
    case 'filter-input': {
      if (action.input === 'escape') return { ...state, filtering: false, filter: '', selected: 0 }
      if (action.input === 'return') return { ...state, filtering: false }
      if (action.input === 'backspace') return { ...state, filter: state.filter.slice(0, -1), selected: 0 }
      return { ...state, filter: (state.filter + action.input).slice(0, 40), selected: 0 }
    }
  }
}

/**
 * Apply events to a copy of the state made once per batch (hundreds of events a second arrive between two
 * refreshes): the result is a new state, the input is never changed.
 */
function applyEvents(state: TopState, events: ReadonlyArray<{ event: GatewayEvent; at: number }>): TopState {
  let draft = writable(state)
  let owned = new Set<string>()
  const items: FeedItem[] = []
  const alerts: FeedItem[] = []
  for (const { event, at } of events) {
    if (floorBucket(at) > draft.bucketStart) {
      draft = writable(advance(draft, at))
      // advance() made new agent entries with new buckets: they are the draft's own.
      owned = new Set(Object.keys(draft.agents))
    }
    const item = applyEvent(draft, event, owned)
    items.push(item)
    // Both kinds of alert: a budget crossing a threshold, and the firewall blocking a request.
    if (item.kind === 'alert' || (event.type === 'safety' && event.action === 'block')) alerts.push(item)
  }
  draft.feed = [...items.reverse(), ...draft.feed].slice(0, FEED_SIZE)
  draft.alerts = [...alerts.reverse(), ...draft.alerts].slice(0, ALERTS_SIZE)
  return draft
}

function writable(state: TopState): TopState {
  return {
    ...state,
    agents: { ...state.agents },
    spend: [...state.spend],
    requests: [...state.requests],
    totals: { ...state.totals },
  }
}

/**
 * Count one event into the draft (whose top-level containers are its own); returns its feed line. Names and
 * text are kept with control characters escaped, as every other command shows them: Ink would drop them
 * silently, and `gpt-4\u0000o` would pass for gpt-4o.
 */
function applyEvent(draft: TopState, event: GatewayEvent, owned: Set<string>): FeedItem {
  const name = escapeControls(event.agent)
  const last = BUCKETS - 1
  draft.feedSeq++
  const item = { seq: draft.feedSeq, at: event.at, kind: event.type, agent: name }
  if (event.type === 'alert') return { ...item, text: alertText(draft.agents[name], event), tone: 'warn' }
  if (event.type === 'safety') {
    return {
      ...item,
      text: escapeControls(`safety ${event.action} (${event.direction}): ${event.categories.join(', ')}`),
      tone: 'error',
    }
  }
  const cost = event.cost_micros ?? 0
  const failed = event.status >= 400
  const blocked = event.outcome === 'budget_exceeded' || event.outcome === 'safety_blocked'
  draft.spend[last] = (draft.spend[last] ?? 0) + cost
  draft.requests[last] = (draft.requests[last] ?? 0) + 1
  draft.totals.requests++
  draft.totals.errors += failed ? 1 : 0
  draft.totals.spendMicros += cost
  if (event.agent_id !== null) {
    if (!owned.has(name)) {
      const current = agentOf(draft, name)
      draft.agents[name] = { ...current, buckets: [...current.buckets] }
      owned.add(name)
    }
    const agent = draft.agents[name]!
    agent.buckets[last] = (agent.buckets[last] ?? 0) + cost
    agent.spentMicros += cost
    if (agent.remainingMicros !== null) agent.remainingMicros = Math.max(agent.remainingMicros - cost, 0)
    agent.requests++
    agent.errors += failed && !blocked ? 1 : 0
    agent.blocked += blocked ? 1 : 0
  }
  return {
    ...item,
    text: escapeControls(
      `${event.model ?? '-'} ${event.status} ${event.outcome}${cost ? ` ${formatMoney(cost)}` : ''}${servedBy(event)}`,
    ),
    tone: blocked ? 'warn' : failed ? 'error' : 'ok',
  }
}

/**
 * Which gateway served a request, on a server's stream (many gateways): its host, and a few characters of
 * its runtime id to tell two gateways of one host apart. A gateway's own stream names none.
 */
function servedBy(event: Extract<GatewayEvent, { type: 'request' }>): string {
  const gateway = event.gateway
  if (!gateway) return ''
  const runtime = gateway.holder.slice(-6)
  return gateway.host ? ` via ${gateway.host.slice(0, 24)}/${runtime}` : ` via gateway ${runtime}`
}

/**
 * An alert as a person can act on it: the threshold, the limit, and what is left. The gateway's figure
 * leaves out what its own lease holds unspent (for a small budget, often all of it: "$0.00 left"), so what
 * is left is the limit less the spend seen here, and at most the share above the threshold (the alert can
 * arrive before the request that crossed it).
 */
function alertText(agent: AgentState | undefined, event: AlertEvent): string {
  const pct = event.threshold_pct
  if (!agent || agent.limitMicros === null) {
    return event.remaining_micros
      ? `budget at ${pct}% (${formatMoney(event.remaining_micros)} left)`
      : `budget at ${pct}%`
  }
  const limit = agent.limitMicros
  const aboveThreshold = Math.floor((limit * (100 - pct)) / 100)
  const left = Math.max(Math.min(limit - agent.spentMicros, aboveThreshold), event.remaining_micros ?? 0, 0)
  return `budget at ${pct}% of ${formatMoney(limit)}: ${left > 0 ? `${formatMoney(left)} left` : 'nothing left'}`
}

function onKey(state: TopState, action: KeyAction): TopState {
  const visible = visibleAgents(state).length
  switch (action) {
    case 'help':
      return { ...state, help: !state.help }
    case 'close':
      return { ...state, help: false, details: false }
    case 'sort':
      return { ...state, sort: SORTS[(SORTS.indexOf(state.sort) + 1) % SORTS.length]!, selected: 0 }
    case 'filter':
      return { ...state, filtering: true, help: false }
    case 'pause':
      return { ...state, paused: !state.paused }
    case 'panel':
      return { ...state, panel: state.panel === 'agents' ? 'feed' : 'agents' }
    case 'details':
      return visible > 0 ? { ...state, details: !state.details } : state
    case 'up':
      return { ...state, selected: Math.max(state.selected - 1, 0) }
    case 'down':
      return { ...state, selected: Math.min(state.selected + 1, Math.max(visible - 1, 0)) }
    default:
      return state
  }
}

/** Spend per hour over the last ten minutes (or since the first event, if sooner). */
export function burnPerHour(buckets: number[]): number {
  const used = buckets.findIndex((b) => b > 0)
  if (used === -1) return 0
  const spanMs = (buckets.length - used) * BUCKET_MS
  return (buckets.reduce((a, b) => a + b, 0) / spanMs) * 3_600_000
}

export interface AgentView extends AgentState {
  burnPerHour: number
  usedPct: number | null
  exhaustsInS: number | null
}

export function visibleAgents(state: TopState): AgentView[] {
  const filter = state.filter.toLowerCase()
  const rows = Object.values(state.agents)
    .filter((a) => a.name.toLowerCase().includes(filter))
    .map((a): AgentView => {
      const burn = burnPerHour(a.buckets)
      return {
        ...a,
        burnPerHour: burn,
        usedPct: a.limitMicros ? Math.min((a.spentMicros / a.limitMicros) * 100, 999) : null,
        exhaustsInS: a.remainingMicros !== null && burn > 0 ? (a.remainingMicros / burn) * 3600 : null,
      }
    })
  const by: Record<Sort, (a: AgentView, b: AgentView) => number> = {
    spend: (a, b) => b.spentMicros - a.spentMicros,
    burn: (a, b) => b.burnPerHour - a.burnPerHour,
    requests: (a, b) => b.requests - a.requests,
    errors: (a, b) => b.errors + b.blocked - (a.errors + a.blocked),
    name: (a, b) => a.name.localeCompare(b.name),
  }
  return rows.sort((a, b) => by[state.sort](a, b) || a.name.localeCompare(b.name))
}

/** Requests per second over the last full 10-second bucket and the current one. */
export function requestsPerSecond(state: TopState): number {
  const elapsed = Math.max(state.now - state.bucketStart, 1)
  const recent = (state.requests[BUCKETS - 1] ?? 0) + (state.requests[BUCKETS - 2] ?? 0)
  return recent / ((BUCKET_MS + elapsed) / 1000)
}

/** Spend rate of all agents, per hour. */
export const spendPerHour = (state: TopState) => burnPerHour(state.spend)
