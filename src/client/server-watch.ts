import type { Budget } from '../services/api.js'
import type { GatewayEvent } from '../services/gateway-events.js'
import { parseServerEvent } from '../services/server-events.js'
import { followWithBackoff, type GatewayStats, sseMessages, type WatchStatus } from './gateway-watch.js'
import type { HttpControlPlane } from './http-control-plane.js'

/** What `iron top --server --json` prints: the team's budgets as the server has them now. */
export interface ServerSnapshot {
  source: string
  at: string
  budgets: Budget[]
}

export async function serverSnapshot(cp: HttpControlPlane): Promise<ServerSnapshot> {
  return { source: cp.url, at: new Date().toISOString(), budgets: await cp.budgets.list() }
}

/** How long a burst of budget changes is gathered before the budgets are read again. */
const BUDGET_REFRESH_MS = 1_000

/**
 * Follow an `iron serve`'s `/api/v1/events` for `iron top`, as watchGateway follows a gateway: the budgets
 * on every (re)connection, then each request, safety and alert event, resuming after the last event seen.
 * The server has no gateway's counters, so the totals are what this watcher has seen since it opened, and
 * the budgets are read again after budget changes (set, adjust, an approved request) so limits stay current.
 */
export async function watchServer(
  cp: HttpControlPlane,
  handlers: {
    onSnapshot(stats: GatewayStats): void
    onEvent(event: GatewayEvent): void
    onStatus(status: WatchStatus): void
  },
  signal: AbortSignal,
): Promise<void> {
  const opened = Date.now()
  const totals = { requests_total: 0, errors_total: 0, spend_micros_total: 0 }
  const snapshot = async () =>
    handlers.onSnapshot({
      uptime_s: Math.round((Date.now() - opened) / 1000),
      ...totals,
      in_flight: 0,
      budgets: await cp.budgets.list(),
    })
  let refresh: NodeJS.Timeout | undefined
  const refreshSoon = () => {
    refresh ??= setTimeout(() => {
      refresh = undefined
      if (!signal.aborted) snapshot().catch(() => {})
    }, BUDGET_REFRESH_MS)
  }
  signal.addEventListener('abort', () => clearTimeout(refresh))

  let since: number | undefined
  await followWithBackoff(handlers.onStatus, signal, async (live) => {
    let reason: string | undefined
    await snapshot()
    const body = await cp.http.events('/api/v1/events', { since }, signal)
    live()
    for await (const message of sseMessages(body)) {
      if (message.id && /^\d+$/.test(message.id)) since = Number(message.id)
      const event = parseServerEvent(message.data)
      if (!event) {
        const end = endOf(message.data)
        if (end) reason = `the server ended the stream (${end})`
        continue
      }
      if (event.type === 'audit') {
        if (event.category === 'budget') refreshSoon()
        continue
      }
      if (event.type === 'request') {
        totals.requests_total++
        if (event.status >= 400) totals.errors_total++
        totals.spend_micros_total += event.cost_micros ?? 0
      }
      handlers.onEvent(event)
    }
    return reason
  })
}

/** The reason of the server's last word on a stream it closes (a session that expired or was revoked). */
function endOf(data: string): string | undefined {
  try {
    const value = JSON.parse(data) as { type?: unknown; reason?: unknown }
    return value.type === 'end' && typeof value.reason === 'string' ? value.reason : undefined
  } catch {
    return undefined
  }
}
