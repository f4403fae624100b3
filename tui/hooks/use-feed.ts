import { type Dispatch, useEffect, useRef } from 'react'
import type { GatewayStats, WatchStatus } from '../../src/client/gateway-watch.js'
import type { GatewayEvent } from '../../src/services/gateway-events.js'
import type { TopAction } from '../state/reducer.js'

export interface FeedHandlers {
  onSnapshot(stats: GatewayStats): void
  onEvent(event: GatewayEvent): void
  onStatus(status: WatchStatus): void
}

/** Where events come from: the gateway (watchGateway) in the CLI, a fake in tests. */
export type Subscribe = (handlers: FeedHandlers, signal: AbortSignal) => Promise<void>

/**
 * Subscribe to the source and refresh every `intervalMs`: events are gathered between
 * refreshes and applied in one action, so the screen redraws at the refresh rate, not per event.
 */
export function useFeed(subscribe: Subscribe, dispatch: Dispatch<TopAction>, intervalMs: number): void {
  const pending = useRef<Array<{ event: GatewayEvent; at: number }>>([])
  useEffect(() => {
    const controller = new AbortController()
    void subscribe(
      {
        onSnapshot: (stats) => dispatch({ type: 'snapshot', stats, at: Date.now() }),
        onEvent: (event) => {
          // Bounded: a burst beyond what one refresh can show is summarised by the counters anyway.
          if (pending.current.length < 10_000) pending.current.push({ event, at: Date.now() })
        },
        onStatus: (status) => dispatch({ type: 'status', status }),
      },
      controller.signal,
    )
    return () => controller.abort()
  }, [subscribe, dispatch])

  useEffect(() => {
    const timer = setInterval(() => {
      const events = pending.current
      pending.current = []
      if (events.length) dispatch({ type: 'events', events })
      dispatch({ type: 'tick', now: Date.now() })
    }, intervalMs)
    return () => clearInterval(timer)
  }, [dispatch, intervalMs])
}
