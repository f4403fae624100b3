import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { IronError } from '../core/errors.js'
import type { Budget } from '../services/api.js'
import { type GatewayEvent, parseGatewayEvent } from '../services/gateway-events.js'
import { GATEWAY_FILE, type GatewayRegistration } from '../services/gateways.js'

/** A gateway to watch: its URL and the admin token of its `/_iron/*` routes. */
export interface GatewaySource {
  url: string
  token: string
}

export interface GatewayStats {
  uptime_s: number
  requests_total: number
  errors_total: number
  spend_micros_total: number
  in_flight: number
  budgets: Budget[]
}

/** The local gateway, from `gateway.json` in the data dir, or the one at `url` with its token from there. */
export function locateGateway(dataDir: string, url?: string, token?: string): GatewaySource {
  let registration: GatewayRegistration | undefined
  try {
    registration = JSON.parse(readFileSync(join(dataDir, GATEWAY_FILE), 'utf8')) as GatewayRegistration
  } catch {}
  if (url) {
    const clean = url.replace(/\/+$/, '')
    const known = registration && registration.url === clean ? registration.admin_token : undefined
    const admin = token ?? known
    if (!admin) {
      throw new IronError('ADMIN_TOKEN_REQUIRED', `No admin token for ${clean}`, {
        exitCode: 4,
        hint: 'Pass --admin-token (from gateway.json in that gateway’s data dir), or set IRON_GATEWAY_ADMIN_TOKEN',
      })
    }
    return { url: clean, token: admin }
  }
  if (!registration) {
    throw new IronError('GATEWAY_NOT_FOUND', `No running gateway found in ${dataDir}`, {
      exitCode: 3,
      hint: 'Start one with: iron gateway start (or point at one with --gateway URL)',
    })
  }
  return { url: registration.url, token: token ?? registration.admin_token }
}

export async function fetchStats(source: GatewaySource, signal?: AbortSignal): Promise<GatewayStats> {
  let response: Response
  try {
    response = await fetch(`${source.url}/_iron/stats`, {
      headers: { authorization: `Bearer ${source.token}` },
      signal: signal ?? AbortSignal.timeout(5_000),
    })
  } catch (error) {
    throw new IronError(
      'GATEWAY_UNREACHABLE',
      `Cannot reach the gateway at ${source.url}: ${(error as Error).message}`,
      {
        hint: 'Is it running? Start one with: iron gateway start',
      },
    )
  }
  if (response.status === 401)
    throw new IronError('ADMIN_TOKEN_REJECTED', `The gateway at ${source.url} refused the admin token`, {
      exitCode: 4,
      hint: 'Use the token from its gateway.json',
    })
  if (!response.ok)
    throw new IronError('GATEWAY_ERROR', `The gateway at ${source.url} answered ${response.status}`)
  return (await response.json()) as GatewayStats
}

/** One server-sent event: its `data:` lines joined, and its `id:` if it had one. */
export interface SseMessage {
  id: string | undefined
  data: string
}

/** The messages of a `text/event-stream` body as they arrive (comments and blank keep-alives skipped). */
export async function* sseMessages(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    let end = buffer.indexOf('\n\n')
    while (end !== -1) {
      const lines = buffer.slice(0, end).split('\n')
      buffer = buffer.slice(end + 2)
      const field = (name: string) =>
        lines
          .filter((line) => line.startsWith(`${name}:`))
          .map((line) => line.slice(name.length + 1).replace(/^ /, ''))
      const data = field('data').join('\n')
      if (data) yield { id: field('id').at(-1), data }
      end = buffer.indexOf('\n\n')
    }
  }
}

export type WatchStatus =
  | { state: 'connecting' }
  | { state: 'live' }
  | { state: 'reconnecting'; inSeconds: number; reason: string }

/**
 * Follow `/_iron/events` until `signal` aborts: a stats snapshot on every (re)connection, then each event;
 * reconnects with backoff (1 s doubling to 15 s) and says so through `onStatus`.
 */
export async function watchGateway(
  source: GatewaySource,
  handlers: {
    onSnapshot(stats: GatewayStats): void
    onEvent(event: GatewayEvent): void
    onStatus(status: WatchStatus): void
  },
  signal: AbortSignal,
): Promise<void> {
  await followWithBackoff(handlers.onStatus, signal, async (live) => {
    handlers.onSnapshot(await fetchStats(source, signal))
    const response = await fetch(`${source.url}/_iron/events`, {
      headers: { authorization: `Bearer ${source.token}` },
      signal,
    })
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`)
    live()
    for await (const message of sseMessages(response.body as AsyncIterable<Uint8Array>)) {
      // An event this watcher cannot read (a newer gateway's kind, say) is skipped, not guessed at.
      const event = message.data ? parseGatewayEvent(message.data) : undefined
      if (event) handlers.onEvent(event)
    }
    return undefined
  })
}

/**
 * Run `follow` (one connection) until `signal` aborts, again after each end or failure with a backoff of
 * 1 s doubling to 15 s (back to 1 s once a connection went live), saying each state through `onStatus`.
 * `follow` returns why its connection ended when it knows better than "the connection ended".
 */
export async function followWithBackoff(
  onStatus: (status: WatchStatus) => void,
  signal: AbortSignal,
  follow: (live: () => void) => Promise<string | undefined>,
): Promise<void> {
  let backoff = 1_000
  while (!signal.aborted) {
    onStatus({ state: 'connecting' })
    let reason = 'the connection ended'
    try {
      reason =
        (await follow(() => {
          onStatus({ state: 'live' })
          backoff = 1_000
        })) ?? reason
    } catch (error) {
      if (signal.aborted) return
      reason = error instanceof IronError ? error.message : (error as Error).message
    }
    if (signal.aborted) return
    onStatus({ state: 'reconnecting', inSeconds: backoff / 1000, reason })
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, backoff)
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve(undefined)
      })
    })
    backoff = Math.min(backoff * 2, 15_000)
  }
}
