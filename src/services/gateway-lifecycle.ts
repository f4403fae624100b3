import { ExitCode, IronError, notFound } from '../core/errors.js'
import {
  type GatewayRegistration,
  type GatewayState,
  type HolderLookup,
  registeredGateways,
  stateOf,
} from './gateways.js'
import { runsOwnGateways } from './run-gateways.js'

// The gateways of a store for people: what runs (`iron gateway status`), stopping them (`iron gateway stop`),
// and why one could not listen. Each is judged by its heartbeat in the store, never by its process id.

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
  /** It was the gateway an `iron run` started for itself (stopped only because `--url` named it). */
  run: boolean
}

/** A gateway an `iron run` started for itself, left running: it stops when its run ends. */
export interface RunGateway {
  url: string
  pid: number
  holder: string
  started_at: string
}

export interface GatewaysStopped {
  stopped: StoppedGateway[]
  /** Gateways of `iron run`s, left to their runs (`--url` stops one anyway). */
  left_running: RunGateway[]
}

/**
 * `iron gateway stop`: ask each running gateway on this store to stop, as SIGTERM would (stop accepting,
 * let requests in flight finish, return leases, flush), and wait until its heartbeat registration has
 * ended. The request goes to the gateway itself with its admin token, never as a signal to a process id,
 * which could name another process in another PID namespace.
 *
 * A gateway an `iron run` started for itself belongs to that run, as a pod belongs to its controller: it is
 * left running (and named), since stopping it would fail the run's command mid-way; it stops when its run
 * ends. Naming it with `url` stops it all the same.
 */
export async function stopGateways(
  dataDir: string,
  store: string,
  holders: HolderLookup,
  options: { timeoutMs: number; url?: string },
): Promise<GatewaysStopped> {
  const registered = registeredGateways(dataDir, store, holders).filter((g) => g.store === store)
  const running = registered.filter((g) => g.state === 'running')
  const isRuns = runsOwnGateways(dataDir, holders)
  const ofRuns = options.url ? [] : running.filter(isRuns)
  const chosen = options.url
    ? running.filter((g) => sameUrl(g.url, options.url!))
    : running.filter((g) => !isRuns(g))
  const leftRunning = ofRuns.map(({ url, pid, holder, started_at }) => ({ url, pid, holder, started_at }))
  if (chosen.length === 0) {
    const stalled = registered.filter((g) => g.state === 'not_responding')
    if (leftRunning.length > 0) {
      const [first] = leftRunning
      throw new IronError(
        'NO_GATEWAY_RUNNING',
        `No gateway but ${leftRunning.length === 1 ? "an iron run's own" : `${leftRunning.length} iron runs' own`} is running on the store ${store} (${leftRunning.map((g) => `${g.url}, pid ${g.pid}`).join('; ')}); it stops when its run ends`,
        {
          hint: `End the run (Ctrl-C, or kill -TERM the iron run), or stop its gateway anyway, failing the run's requests: iron gateway stop --url ${first!.url}`,
          exitCode: ExitCode.notFound,
          details: { left_running: leftRunning },
        },
      )
    }
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
  const stopped = await Promise.all(
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
      return {
        url: g.url,
        pid: g.pid,
        holder: g.holder,
        stopped_after_ms: Date.now() - started,
        run: isRuns(g),
      }
    }),
  )
  return { stopped, left_running: leftRunning }
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
