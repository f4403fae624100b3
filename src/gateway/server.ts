import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { warmUp as warmUpFirewall } from '../safety/index.js'
import type { LocalContext } from '../services/context.js'
import { registerGateway } from '../services/gateways.js'
import { startCheckpointer } from '../store/checkpointer.js'
import { errorBody } from './apis.js'
import { Gateway } from './gateway.js'
import type { MockOptions } from './mock-upstream.js'
import { loadTokenizers } from './tokenizer.js'

export interface StartGatewayOptions {
  ctx: LocalContext
  host: string
  port: number
  /** Where gateway.json (URL and admin token, mode 0600) is written, for `iron top` and scripts. */
  dataDir: string
  maxBodyBytes?: number
  /** How long shutdown waits for requests in flight. */
  drainMs?: number
  mock?: MockOptions
  /** Benchmarks only: turn the per-request audit events off to measure their cost. */
  audit?: boolean
  /** Benchmarks only: turn the firewall off to measure its cost. */
  firewall?: boolean
  /** How long this gateway's leases outlive its last heartbeat. */
  leaseTtlMs?: number
  /** How long a client may take to send its headers, and its whole request (slow clients are cut off). */
  headersTimeoutMs?: number
  requestTimeoutMs?: number
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
    ctx: options.ctx,
    holder,
    maxBodyBytes: options.maxBodyBytes,
    mock: options.mock,
    audit: options.audit,
    firewall: options.firewall,
    leaseTtlMs: options.leaseTtlMs,
    onReclaimed: () => reregister?.(),
  })
  const released = gateway.start()
  const checkpointer = startCheckpointer(options.ctx.db(), options.ctx.dbPath)
  const adminToken = randomBytes(24).toString('base64url')

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
      void dispatch(gateway, adminToken, req, res)
    },
  )
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
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
    holder,
    started_at: info.started_at,
    admin_token: adminToken,
    store: options.ctx.dbPath,
  }
  let unregister = registerGateway(options.dataDir, registration)
  // A command may have removed the registration while the store said this gateway had ended: write it again.
  reregister = () => {
    unregister = registerGateway(options.dataDir, registration)
  }

  let closing: Promise<void> | undefined
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
      await checkpointer.stop()
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
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!
  // A client that resets its connection is not an error of the gateway's.
  req.on('error', () => {})
  res.on('error', () => {})
  try {
    if (path.startsWith('/_iron/')) return await internal(gateway, adminToken, path, req, res)
    if (path.startsWith('/v1/')) return await gateway.handle(req, res, path)
    json(
      res,
      404,
      errorBody('openai', {
        status: 404,
        code: 'not_found',
        message: `No route ${path}; the gateway serves /v1/... and /_iron/...`,
      }),
    )
  } catch (error) {
    // A bug, not bad input: answer in the API's shape and keep serving.
    process.stderr.write(
      `iron gateway: unexpected error on ${req.method} ${path}: ${(error as Error).stack ?? error}\n`,
    )
    if (!res.headersSent && !res.destroyed) {
      json(
        res,
        500,
        errorBody(path.includes('/messages') ? 'anthropic' : 'openai', {
          status: 500,
          code: 'gateway_error',
          message: 'The gateway failed on this request; it is logged',
        }),
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
}

/** `/_iron/health|metrics|stats|events`, for the admin token written to gateway.json. */
async function internal(
  gateway: Gateway,
  adminToken: string,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const allowed = INTERNAL_METHODS[path]
  if (!allowed) return json(res, 404, { error: { code: 'not_found', message: `No route ${path}` } })
  if (req.method !== allowed) {
    res.setHeader('allow', allowed)
    return json(res, 405, {
      error: { code: 'method_not_allowed', message: `Use ${allowed} for ${path}` },
    })
  }
  const given =
    String(req.headers.authorization ?? '').replace(/^Bearer\s+/i, '') ||
    String(req.headers['x-iron-admin-token'] ?? '')
  const expected = Buffer.from(adminToken)
  const actual = Buffer.from(given)
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return json(res, 401, {
      error: {
        code: 'admin_token_required',
        message: 'Send the admin token from gateway.json in the data dir as Authorization: Bearer <token>',
      },
    })
  }
  const uptime = Math.round((Date.now() - gateway.metrics.startedAt) / 1000)
  switch (path) {
    case '/_iron/health':
      return json(res, 200, {
        status: 'ok',
        holder: gateway.holder,
        uptime_s: uptime,
        in_flight: gateway.metrics.inFlight,
      })
    case '/_iron/metrics': {
      const budgets = await gateway.cp.budgets.list()
      const text = gateway.metrics.render(
        budgets.map((b) => ({ agent: b.agent_name, micros: b.remaining_micros })),
      )
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4',
        'content-length': Buffer.byteLength(text),
      })
      return void res.end(text)
    }
    case '/_iron/stats':
      return json(res, 200, {
        uptime_s: uptime,
        requests_total: gateway.metrics.totalRequests,
        errors_total: gateway.metrics.totalErrors,
        spend_micros_total: gateway.metrics.totalSpend,
        in_flight: gateway.metrics.inFlight,
        event_watchers: gateway.events.size,
        budgets: await gateway.cp.budgets.list(),
      })
    case '/_iron/events':
      return gateway.events.add(res)
    case '/_iron/invalidate':
      // A command changed the store: drop caches now rather than at the next periodic check.
      gateway.invalidate()
      res.writeHead(204)
      return void res.end()
    default:
      return json(res, 404, { error: { code: 'not_found', message: `No route ${path}` } })
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
