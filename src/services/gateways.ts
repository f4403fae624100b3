import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { atomicWriteFile } from '../config/atomic-write.js'
import { ExitCode, IronError, notFound } from '../core/errors.js'
import { HoldersRepo } from '../store/holders.js'
import type { LocalContext } from './context.js'

/** What a running gateway writes about itself in the data dir (mode 0600: the admin token is in it). */
export interface GatewayRegistration {
  url: string
  pid: number
  /** The machine it runs on (its pid means something only there); absent in files of older versions. */
  host?: string
  holder: string
  started_at: string
  admin_token: string
  store: string
}

export const GATEWAY_FILE = 'gateway.json'
const REGISTRY_DIR = 'gateways'
const NOTIFY_TIMEOUT_MS = 1_000

/** A registration's file name: its holder, which is unique per run (a PID is not, across containers). */
const fileOf = (holder: string) => `${holder.replace(/[^\w.-]/g, '_')}.json`

/**
 * Register a running gateway: `gateway.json` (the latest, for people, scripts and `iron top`) and one file
 * per gateway under `gateways/`, so that commands can tell every gateway on the store that it changed.
 * Returns the function that removes both (this gateway's own entries, never another's).
 */
export function registerGateway(dataDir: string, info: GatewayRegistration): () => void {
  const dir = join(dataDir, REGISTRY_DIR)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const own = join(dir, fileOf(info.holder))
  const latest = join(dataDir, GATEWAY_FILE)
  const text = `${JSON.stringify(info, null, 2)}\n`
  atomicWriteFile(own, text, 0o600)
  atomicWriteFile(latest, text, 0o600)
  return () => {
    rmSync(own, { force: true })
    try {
      if ((JSON.parse(readFileSync(latest, 'utf8')) as GatewayRegistration).holder === info.holder)
        rmSync(latest, { force: true })
    } catch {}
  }
}

/** What the store says of a holder: its heartbeat registration ended (stopped, or expired and reclaimed). */
export type HolderState = (holder: string) => 'live' | 'ended' | 'unknown'

/**
 * Gateways registered in the data dir. With the store's word on each (`state`), a registration whose
 * holder has ended is not running (its file is removed); a process id proves nothing, so it is not asked.
 */
export function runningGateways(dataDir: string, state?: HolderState): GatewayRegistration[] {
  const dir = join(dataDir, REGISTRY_DIR)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const found: GatewayRegistration[] = []
  for (const name of names) {
    if (!name.endsWith('.json')) continue
    const path = join(dir, name)
    try {
      const info = JSON.parse(readFileSync(path, 'utf8')) as GatewayRegistration
      if (state?.(info.holder) === 'ended') rmSync(path, { force: true })
      else found.push(info)
    } catch {}
  }
  return found
}

/**
 * Tell the gateways on a store that it changed (a token revoked, an agent suspended, a limit lowered), so
 * the change applies to their next request. Waits for each (up to a second); a gateway that does not
 * answer still notices within 100 ms on its own.
 */
export async function notifyGateways(dataDir: string, store: string, state?: HolderState): Promise<number> {
  const gateways = runningGateways(dataDir, state).filter((g) => g.store === store)
  const results = await Promise.all(
    gateways.map(async (g) => {
      try {
        const response = await fetch(`${g.url}/_iron/invalidate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${g.admin_token}` },
          signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
        })
        return response.ok
      } catch {
        return false
      }
    }),
  )
  return results.filter(Boolean).length
}

/** What the store knows of a holder's heartbeat (its row in the holders table). */
export interface HolderHeartbeat {
  renewed_at: number
  expires_at: number
  ended_at: number | null
}
export type HolderLookup = (holder: string) => HolderHeartbeat | undefined

/** The local store's heartbeats; none when there is no store yet (a status never creates one). */
export function localHolders(ctx: LocalContext): HolderLookup {
  if (!ctx.storeExists) return () => undefined
  const repo = new HoldersRepo(ctx.db())
  return (holder) => repo.get(holder)
}

/**
 * A registered gateway as its heartbeat in the store tells it: `running` (renewed within its TTL),
 * `not_responding` (its heartbeat ran out: killed or stalled; what it held comes back once reclaimed), or
 * `unknown` (its store is another one, whose heartbeats this store does not hold).
 */
export type GatewayState = 'running' | 'not_responding' | 'unknown'

export interface GatewayStatus {
  url: string
  pid: number
  host: string | null
  holder: string
  store: string
  started_at: string
  state: GatewayState
  /** Its last heartbeat, when its store is this one. */
  heartbeat_at: string | null
  /** From the gateway itself (`/_iron/stats`), when it answers: since it started. */
  requests_total: number | null
  in_flight: number | null
}

export interface GatewaysStatus {
  store: string
  gateways: GatewayStatus[]
  /** Stores of gateways registered in this data dir on other stores (`--db` tells which to look at). */
  other_stores: string[]
}

const STATS_TIMEOUT_MS = 1_000
const STOP_POLL_MS = 100

/** A heartbeat's state; `ended` (stopped, or reclaimed after it ran out) means the registration is over. */
function stateOf(beat: HolderHeartbeat | undefined, now: number): GatewayState | 'ended' {
  if (!beat) return 'unknown'
  if (beat.ended_at !== null) return 'ended'
  return beat.expires_at > now ? 'running' : 'not_responding'
}

/**
 * The gateways registered in the data dir, judged by their heartbeat in `store` (never by a process id):
 * those on `store` and the other stores named. Registrations whose holder has ended are removed.
 */
export function registeredGateways(
  dataDir: string,
  store: string,
  holders: HolderLookup,
  now = Date.now(),
): Array<GatewayRegistration & { state: GatewayState; heartbeat_at: string | null }> {
  const found: Array<GatewayRegistration & { state: GatewayState; heartbeat_at: string | null }> = []
  const state: HolderState = (holder) => {
    const s = stateOf(holders(holder), now)
    return s === 'ended' ? 'ended' : s === 'unknown' ? 'unknown' : 'live'
  }
  for (const g of runningGateways(dataDir, state)) {
    const beat = g.store === store ? holders(g.holder) : undefined
    const s = stateOf(beat, now)
    if (s === 'ended') continue
    found.push({
      ...g,
      state: s,
      heartbeat_at: beat ? new Date(beat.renewed_at).toISOString() : null,
    })
  }
  return found.sort((a, b) => a.started_at.localeCompare(b.started_at))
}

/** `iron gateway status`: what runs on this store, where, since when, and how many requests it served. */
export async function gatewaysStatus(
  dataDir: string,
  store: string,
  holders: HolderLookup,
): Promise<GatewaysStatus> {
  const registered = registeredGateways(dataDir, store, holders)
  const gateways = await Promise.all(
    registered
      .filter((g) => g.store === store)
      .map(async ({ admin_token, ...g }): Promise<GatewayStatus> => {
        const stats = g.state === 'running' ? await askStats(g.url, admin_token) : undefined
        return {
          url: g.url,
          pid: g.pid,
          host: g.host ?? hostOfHolder(g.holder),
          holder: g.holder,
          store: g.store,
          started_at: g.started_at,
          state: g.state,
          heartbeat_at: g.heartbeat_at,
          requests_total: stats?.requests_total ?? null,
          in_flight: stats?.in_flight ?? null,
        }
      }),
  )
  const other = [...new Set(registered.filter((g) => g.store !== store).map((g) => g.store))]
  return { store, gateways, other_stores: other }
}

export interface StoppedGateway {
  url: string
  pid: number
  holder: string
  /** How long it took to drain and end its registration. */
  stopped_after_ms: number
}

/**
 * `iron gateway stop`: ask each running gateway on this store to stop, as SIGTERM would (stop accepting,
 * let requests in flight finish, return leases, flush), and wait until its heartbeat registration has
 * ended. The request goes to the gateway itself with its admin token, never as a signal to a process id,
 * which could name another process in another PID namespace.
 */
export async function stopGateways(
  dataDir: string,
  store: string,
  holders: HolderLookup,
  options: { timeoutMs: number; url?: string },
): Promise<StoppedGateway[]> {
  const registered = registeredGateways(dataDir, store, holders).filter((g) => g.store === store)
  const running = registered.filter((g) => g.state === 'running')
  const chosen = options.url ? running.filter((g) => sameUrl(g.url, options.url!)) : running
  if (chosen.length === 0) {
    const stalled = registered.filter((g) => g.state === 'not_responding')
    throw notFound(
      'NO_GATEWAY_RUNNING',
      options.url
        ? `No gateway is running at ${options.url} on the store ${store}`
        : `No gateway is running on the store ${store}`,
      stalled.length > 0
        ? `${stalled.length} registered gateway(s) stopped renewing their heartbeat (killed or stalled); what they held comes back on its own`
        : options.url && running.length > 0
          ? `Running: ${running.map((g) => g.url).join(', ')}`
          : 'See what runs with: iron gateway status',
    )
  }
  return Promise.all(
    chosen.map(async (g) => {
      const started = Date.now()
      await askToStop(g)
      const deadline = started + options.timeoutMs
      while (stateOf(holders(g.holder), Date.now()) === 'running') {
        if (Date.now() > deadline)
          throw new IronError(
            'GATEWAY_STOP_TIMEOUT',
            `The gateway at ${g.url} (pid ${g.pid}) is still stopping after ${Math.round(options.timeoutMs / 1000)}s`,
            {
              hint: 'It lets requests in flight finish first (gateway start --drain-timeout); wait longer with --timeout',
            },
          )
        await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS))
      }
      return { url: g.url, pid: g.pid, holder: g.holder, stopped_after_ms: Date.now() - started }
    }),
  )
}

/**
 * Why a gateway could not listen, said so that it can be fixed: the port is taken (by an iron gateway,
 * when the registry knows one there), not allowed, or the address is not this machine's.
 */
export async function listenError(
  error: NodeJS.ErrnoException,
  where: { host: string; port: number; dataDir: string; store: string; holders?: HolderLookup },
): Promise<IronError> {
  const { host, port } = where
  const another = `iron gateway start --port ${port === 0 ? 8789 : port + 1}`
  if (error.code === 'EADDRINUSE') {
    // Registered there with a current heartbeat, or (another store's) answering as the holder it registered as.
    let owner: (GatewayRegistration & { state: GatewayState }) | undefined
    for (const g of registeredGateways(where.dataDir, where.store, where.holders ?? (() => undefined))) {
      if (portOf(g.url) !== port || g.state === 'not_responding') continue
      if (g.state === 'running' || (await answersAs(g))) {
        owner = g
        break
      }
    }
    const db = owner && owner.store !== where.store ? ` --db ${owner.store}` : ''
    const message = owner
      ? `Port ${port} is taken by the iron gateway at ${owner.url} (pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}, since ${owner.started_at}${owner.store !== where.store ? `, store ${owner.store}` : ''})`
      : `Port ${port} on ${host} is taken by another program`
    return new IronError('PORT_IN_USE', message, {
      hint: owner
        ? `Point agents at that one (iron gateway status${db}), stop it first (iron gateway stop${db}), or start another on a free port: ${another} (--port 0 picks one)`
        : `Start the gateway on another port: ${another} (--port 0 picks one), or set one for good: iron config set gateway.port <port>`,
      exitCode: ExitCode.failure,
      details: {
        host,
        port,
        gateway: owner
          ? { url: owner.url, pid: owner.pid, started_at: owner.started_at, store: owner.store }
          : null,
      },
    })
  }
  if (error.code === 'EACCES')
    return new IronError('PORT_NOT_ALLOWED', `This user may not listen on port ${port} of ${host}`, {
      hint: `Ports below 1024 need privileges; use a higher one: iron gateway start --port 8788`,
    })
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
    return new IronError('INVALID_HOST', `${host} is not an address of this machine`, {
      hint: 'Listen on 127.0.0.1 (this machine only) or 0.0.0.0 (every interface): iron gateway start --host 127.0.0.1',
    })
  return new IronError(
    'GATEWAY_LISTEN_FAILED',
    `The gateway could not listen on ${host}:${port}: ${error.message}`,
    {
      cause: error,
    },
  )
}

async function askStats(
  url: string,
  adminToken: string,
): Promise<{ requests_total: number; in_flight: number } | undefined> {
  try {
    const response = await fetch(`${url}/_iron/stats`, {
      headers: { authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(STATS_TIMEOUT_MS),
    })
    if (!response.ok) return undefined
    const stats = (await response.json()) as { requests_total?: unknown; in_flight?: unknown }
    return typeof stats.requests_total === 'number' && typeof stats.in_flight === 'number'
      ? { requests_total: stats.requests_total, in_flight: stats.in_flight }
      : undefined
  } catch {
    return undefined
  }
}

/** The gateway at a registration's URL is the one registered there (not another program on its port). */
async function answersAs(g: GatewayRegistration): Promise<boolean> {
  try {
    const response = await fetch(`${g.url}/_iron/health`, {
      headers: { authorization: `Bearer ${g.admin_token}` },
      signal: AbortSignal.timeout(STATS_TIMEOUT_MS),
    })
    return response.ok && ((await response.json()) as { holder?: unknown }).holder === g.holder
  } catch {
    return false
  }
}

async function askToStop(g: GatewayRegistration): Promise<void> {
  let status: number
  try {
    const response = await fetch(`${g.url}/_iron/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.admin_token}` },
      signal: AbortSignal.timeout(STATS_TIMEOUT_MS * 5),
    })
    await response.body?.cancel()
    status = response.status
  } catch (error) {
    throw new IronError(
      'GATEWAY_UNREACHABLE',
      `The gateway at ${g.url} did not answer (${(error as Error).message}), though its heartbeat is current`,
      {
        hint: `Stop it where it runs (pid ${g.pid}${g.host ? ` on ${g.host}` : ''}): kill -TERM ${g.pid}`,
        cause: error,
      },
    )
  }
  if (status !== 202)
    throw new IronError('GATEWAY_STOP_REFUSED', `The gateway at ${g.url} refused to stop (HTTP ${status})`, {
      hint: `It may be of an older iron; stop it where it runs (pid ${g.pid}): kill -TERM ${g.pid}`,
    })
}

function portOf(url: string): number | undefined {
  try {
    return Number(new URL(url).port) || undefined
  } catch {
    return undefined
  }
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return a === b
  }
}

/** Registrations from before `host` was written: the holder id says where it ran (`gw:<host>:<pid>:…`). */
function hostOfHolder(holder: string): string | null {
  const parts = holder.split(':')
  return parts.length >= 3 && parts[0] === 'gw' ? parts.slice(1, -3).join(':') || null : null
}
