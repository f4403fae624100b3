import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { warmUp as warmUpFirewall } from '../safety/index.js'
import type { GatewayControl } from '../services/gateway-control.js'
import { listenError } from '../services/gateway-lifecycle.js'
import { type HolderLookup, registerGateway } from '../services/gateways.js'
import { openaiChat } from './adapters/openai-chat.js'
import { Gateway } from './gateway.js'
import type { MockOptions } from './mock-upstream.js'
import { sendBody, sendJson } from './pipeline/respond.js'
import { loadTokenizers } from './tokenizer.js'

export interface StartGatewayOptions {
  /** The control plane's port: the local store (`LocalGatewayControl`), or a server in team mode. */
  control: GatewayControl
  host: string
  port: number
  /** Where gateway.json (URL and admin token, mode 0600) is written, for `iron top` and scripts. */
  dataDir: string
  maxBodyBytes?: number
  /** How long shutdown waits for requests in flight. */
  drainMs?: number
  mock?: MockOptions
  /** Benchmarks only: turn the firewall off to measure its cost. */
  firewall?: boolean
  /** How long this gateway's leases outlive its last heartbeat. */
  leaseTtlMs?: number
  /** How long a client may take to send its headers, and its whole request (slow clients are cut off). */
  headersTimeoutMs?: number
  requestTimeoutMs?: number
  /** Heartbeats in the store, to name the iron gateway that holds a taken port. */
  holders?: HolderLookup
  /** `POST /_iron/stop` (iron gateway stop) came: stop as on SIGTERM. By default the gateway closes. */
  onStopRequested?: () => void
}

export interface GatewayInfo {
  url: string
  pid: number
  holder: string
  started_at: string
  admin_token: string
  released_reservations: number
}

export interface RunningGateway extends GatewayInfo {
  gateway: Gateway
  close(): Promise<void>
}

/**
 * Start the gateway: load tokenizers and compile the firewall's detectors, release what a killed
 * predecessor left reserved, listen.
 */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  await loadTokenizers()
  warmUpFirewall()
  // Unique per run (two containers may share a host name and a PID): it names what this gateway holds.
  const holder = `gw:${hostname()}:${process.pid}:${Date.now()}:${randomBytes(3).toString('hex')}`
  let reregister: (() => void) | undefined
  const gateway = new Gateway({
    control: options.control,
    holder,
    maxBodyBytes: options.maxBodyBytes,
    mock: options.mock,
    firewall: options.firewall,
    leaseTtlMs: options.leaseTtlMs,
    onReclaimed: () => reregister?.(),
  })
  const released = await gateway.start()
  const adminToken = randomBytes(24).toString('base64url')
  let stopRequested = () => {}

  const headersTimeout = options.headersTimeoutMs ?? 15_000
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      headersTimeout,
      requestTimeout: options.requestTimeoutMs ?? 120_000,
      // How often Node checks those timeouts (its default, 30 s, would let a slow client linger that long).
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(headersTimeout / 3))),
    },
    (req, res) => {
      void dispatch(gateway, adminToken, req, res, stopRequested)
    },
  )
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy()
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    // Nothing was served: end the registration it has just made, and say what to do about the port.
    gateway.events.close()
    await gateway.flush()
    await gateway.upstreams.close()
    await options.control.close()
    throw await listenError(error as NodeJS.ErrnoException, {
      host: options.host,
      port: options.port,
      dataDir: options.dataDir,
      store: options.control.location,
      holders: options.holders,
    })
  }
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const info: GatewayInfo = {
    url: `http://${host}:${address.port}`,
    pid: process.pid,
    holder,
    started_at: new Date().toISOString(),
    admin_token: adminToken,
    released_reservations: released,
  }
  const registration = {
    url: info.url,
    pid: info.pid,
    host: hostname(),
    holder,
    started_at: info.started_at,
    admin_token: adminToken,
    store: options.control.location,
  }
  let unregister = registerGateway(options.dataDir, registration)
  // A command may have removed the registration while the store said this gateway had ended: write it again.
  reregister = () => {
    unregister = registerGateway(options.dataDir, registration)
  }

  let closing: Promise<void> | undefined
  stopRequested = () => (options.onStopRequested ? options.onStopRequested() : void close())
  const close = () => {
    closing ??= (async () => {
      gateway.events.close()
      server.close()
      server.closeIdleConnections()
      const deadline = Date.now() + (options.drainMs ?? 10_000)
      while (gateway.metrics.inFlight > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      server.closeAllConnections()
      await gateway.flush()
      await gateway.upstreams.close()
      await options.control.close()
      unregister()
    })()
    return closing
  }
  return { ...info, gateway, close }
}

async function dispatch(
  gateway: Gateway,
  adminToken: string,
  req: IncomingMessage,
  res: ServerResponse,
  stop: () => void,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!
  // A client that resets its connection is not an error of the gateway's.
  req.on('error', () => {})
  res.on('error', () => {})
  try {
    if (path.startsWith('/_iron/')) return await internal(gateway, adminToken, path, req, res, stop)
    if (path.startsWith('/v1/')) return await gateway.handle(req, res, path)
    sendJson(
      res,
      404,
      openaiChat.error(404, 'not_found', `No route ${path}; the gateway serves /v1/... and /_iron/...`),
    )
  } catch (error) {
    // A bug, not bad input: answer in the API's shape and keep serving.
    process.stderr.write(
      `iron gateway: unexpected error on ${req.method} ${path}: ${(error as Error).stack ?? error}\n`,
    )
    if (!res.headersSent && !res.destroyed) {
      sendJson(
        res,
        500,
        openaiChat.error(500, 'gateway_error', 'The gateway failed on this request; it is logged'),
      )
    } else if (!res.destroyed) {
      res.end()
    }
  }
}

/** The internal routes and the one method each answers (anything else is 405 with Allow). */
const INTERNAL_METHODS: Readonly<Record<string, string>> = {
  '/_iron/health': 'GET',
  '/_iron/metrics': 'GET',
  '/_iron/stats': 'GET',
  '/_iron/events': 'GET',
  '/_iron/invalidate': 'POST',
  '/_iron/stop': 'POST',
}

/**
 * `/_iron/health` is open (a liveness probe has no token); `metrics`, `stats`, `events`, `invalidate` and
 * `stop` need the admin token written to gateway.json.
 */
async function internal(
  gateway: Gateway,
  adminToken: string,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  stop: () => void,
): Promise<void> {
  const allowed = INTERNAL_METHODS[path]
  if (!allowed) return sendJson(res, 404, { error: { code: 'not_found', message: `No route ${path}` } })
  if (req.method !== allowed) {
    res.setHeader('allow', allowed)
    return sendJson(res, 405, {
      error: { code: 'method_not_allowed', message: `Use ${allowed} for ${path}` },
    })
  }
  const given =
    String(req.headers.authorization ?? '').replace(/^Bearer\s+/i, '') ||
    String(req.headers['x-iron-admin-token'] ?? '')
  const expected = Buffer.from(adminToken)
  const actual = Buffer.from(given)
  const admin = actual.length === expected.length && timingSafeEqual(actual, expected)
  const uptime = Math.round((Date.now() - gateway.metrics.startedAt) / 1000)
  if (path === '/_iron/health') {
    // Which gateway this is (its holder names the host and process) only for the one holding the token.
    return sendJson(res, 200, {
      status: 'ok',
      uptime_s: uptime,
      in_flight: gateway.metrics.inFlight,
      ...(admin ? { holder: gateway.holder } : {}),
    })
  }
  if (!admin) {
    return sendJson(res, 401, {
      error: {
        code: 'admin_token_required',
        message: 'Send the admin token from gateway.json in the data dir as Authorization: Bearer <token>',
      },
    })
  }
  switch (path) {
    case '/_iron/metrics': {
      const budgets = await gateway.control.budgets()
      const text = gateway.metrics.render(
        budgets.map((b) => ({ agent: b.agent_name, micros: b.remaining_micros })),
      )
      return sendBody(res, 200, text, 'text/plain; version=0.0.4')
    }
    case '/_iron/stats':
      return sendJson(res, 200, {
        uptime_s: uptime,
        requests_total: gateway.metrics.totalRequests,
        errors_total: gateway.metrics.totalErrors,
        spend_micros_total: gateway.metrics.totalSpend,
        in_flight: gateway.metrics.inFlight,
        event_watchers: gateway.events.size,
        budgets: await gateway.control.budgets(),
      })
    case '/_iron/events':
      return gateway.events.add(res)
    case '/_iron/invalidate':
      // A command changed the store: drop caches now rather than at the next periodic check.
      gateway.invalidate()
      res.writeHead(204)
      return void res.end()
    case '/_iron/stop':
      // Answer first: stopping closes the server, and the caller waits for the heartbeat to end.
      sendJson(res, 202, { status: 'stopping', holder: gateway.holder })
      return void setImmediate(stop)
    default:
      return sendJson(res, 404, { error: { code: 'not_found', message: `No route ${path}` } })
  }
}
