import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import { Gateway } from '../gateway/gateway.js'
import { loadTokenizers } from '../gateway/tokenizer.js'
import { warmUp as warmUpFirewall } from '../safety/index.js'
import type { LocalContext } from '../services/context.js'
import { LocalGatewayControl } from '../services/local/gateway-control.js'
import type { LocalControlPlane } from '../services/local/index.js'
import { COMMON_HEADERS } from './http.js'

/**
 * What `iron serve` does for gateways: it serves the gateway routes (`/v1/...`) itself, on its own store
 * (the same pipeline as `iron gateway start`, for teams that keep provider keys on the server only), and it
 * gives back what team gateways' expired leases did not report (a timer here; each protocol call also
 * reclaims on demand).
 */
export interface TeamGateways {
  /** Whether the request is the gateway's (`/v1/...`): then it is answered, by the gateway. */
  serves(req: IncomingMessage, res: ServerResponse): boolean
  /** Gateway requests in flight (shutdown waits for them). */
  readonly inFlight: number
  /** The gateway's Prometheus metrics (`iron_requests_total`, …), for the server's `/metrics`. */
  metrics(): string
  /** Stop: return the in-process gateway's leases, end its heartbeat, stop reclaiming. */
  close(): Promise<void>
}

export interface TeamGatewaysOptions {
  ctx: LocalContext
  cp: LocalControlPlane
  log: (line: string) => void
  /** How often expired leases are reclaimed (default: a quarter of serve.lease_ttl, at most 30 s). */
  reclaimEveryMs?: number
}

export async function startTeamGateways(options: TeamGatewaysOptions): Promise<TeamGateways> {
  const { ctx, cp, log } = options
  await loadTokenizers()
  warmUpFirewall()
  const control = new LocalGatewayControl(ctx)
  // Unique per run, as `iron gateway start` names its own: a local gateway on this store.
  const holder = `gw:${hostname()}:${process.pid}:${Date.now()}:${randomBytes(3).toString('hex')}`
  const gateway = new Gateway({
    control,
    holder,
    leaseTtlMs: Number(ctx.config.get('gateway.lease_ttl')) * 1000,
  })
  await gateway.start()

  const every = options.reclaimEveryMs ?? Math.min(30_000, Math.max(1_000, cp.remoteLeases.ttlMs / 4))
  let reclaiming = false
  const timer = setInterval(() => {
    if (reclaiming) return
    reclaiming = true
    cp.remoteLeases
      .reclaimExpired()
      .catch((error: unknown) =>
        log(`iron serve: reclaiming expired leases failed: ${(error as Error).message}`),
      )
      .finally(() => {
        reclaiming = false
      })
  }, every)
  timer.unref()

  let closing: Promise<void> | undefined
  return {
    serves(req, res) {
      const path = (req.url ?? '/').split('?')[0]!
      if (!path.startsWith('/v1/')) return false
      for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value)
      gateway.handle(req, res, path).catch((error: unknown) => {
        log(`iron serve: the gateway failed on ${req.method} ${path}: ${(error as Error)?.stack ?? error}`)
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
      return true
    },
    get inFlight() {
      return gateway.metrics.inFlight
    },
    metrics() {
      // Budgets have their own routes on the server: the gateway's counters, latency and spend only.
      return gateway.metrics.render([])
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer)
        gateway.events.close()
        await gateway.flush()
        await gateway.upstreams.close()
        await control.close()
      })()
      return closing
    },
  }
}
