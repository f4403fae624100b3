import { AsyncLocalStorage } from 'node:async_hooks'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { z } from 'zod'
import { IronError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { TrustedProxies } from '../core/trusted-proxies.js'
import type { LocalContext } from '../services/context.js'
import { createLocalControlPlane, type LocalControlPlane } from '../services/local/index.js'
import { type Principal, runAs } from '../services/principal.js'
import { schemaVersion } from '../store/db.js'
import { AUDIT_CHANNEL, CHANGES_CHANNEL, listenPostgres } from '../store/postgres-listen.js'
import { SessionsRepo } from '../store/users.js'
import { type Authenticator, authorize, bearerOf, CHALLENGE } from './auth.js'
import {
  errorBody,
  type FieldError,
  type FieldLocation,
  HttpError,
  issuesToFields,
  statusOf,
  validationError,
} from './errors.js'
import { EventStream, type EventStreamOptions } from './events.js'
import { COMMON_HEADERS, clientAddress, discardBody, readJsonBody, sendJson } from './http.js'
import { ServerMetrics } from './metrics.js'
import { openApiDocument } from './openapi.js'
import { paginate } from './pagination.js'
import type { AnyRoute, ServerFacilities } from './route.js'
import { Router } from './router.js'
import { ROUTES } from './routes/index.js'
import { startTeamGateways } from './team-gateways.js'

export interface ServeOptions {
  ctx: LocalContext
  /** The control plane on ctx's store (made from ctx when not given). */
  cp?: LocalControlPlane
  host: string
  port: number
  /** PEM certificate and key: HTTPS. */
  tls?: { cert: Buffer; key: Buffer }
  /** iron's version, for /api/health and the OpenAPI document. */
  version: string
  /** How long shutdown lets requests in flight finish. */
  drainMs?: number
  events?: EventStreamOptions
  /** How long a client may take to send its headers, and its body. */
  headersTimeoutMs?: number
  bodyTimeoutMs?: number
  /** The routes (the table in routes/index.ts); tests never pass another. */
  routes?: readonly AnyRoute[]
  /** Where bugs are reported (stderr). */
  log?: (line: string) => void
  /** How often team gateways' expired leases are reclaimed (default: a quarter of serve.lease_ttl, ≤ 30 s). */
  leaseReclaimMs?: number
  /** Proxies whose X-Forwarded-For is believed (default: config serve.trusted_proxies; none). */
  trustedProxies?: TrustedProxies
}

export interface RunningServer {
  url: string
  cp: LocalControlPlane
  metrics: ServerMetrics
  close(): Promise<void>
}

const MAX_URL_LENGTH = 8 * 1024
/** How soon after a change running gateways on the store are told to drop their caches. */
const NOTIFY_DELAY_MS = 100

/**
 * Start `iron serve`: the route table over one control plane on the store, each request authenticated by
 * its bearer secret and run as its principal.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { ctx } = options
  const cp = options.cp ?? createLocalControlPlane(ctx)
  const auth = (): Authenticator => cp.auth
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const routes = options.routes ?? ROUTES
  const trustedText = ctx.config.get('serve.trusted_proxies')
  const trusted =
    options.trustedProxies ??
    (typeof trustedText === 'string' ? TrustedProxies.parse(trustedText) : undefined)
  const router = new Router(routes)
  const metrics = new ServerMetrics()
  const sessions = new SessionsRepo(ctx.db())
  const events = new EventStream(cp, auth, options.events)
  let openapi: unknown
  const facilities: ServerFacilities = {
    version: options.version,
    store: ctx.store.kind === 'postgres' ? 'postgresql' : 'sqlite',
    schemaVersion: () => schemaVersion(ctx.db()),
    metrics: () =>
      metrics.render({ sessions: () => sessions.countLive(ctx.now()), eventWatchers: () => events.size }) +
      gateways.metrics(),
    openapi: () => {
      openapi ??= openApiDocument(routes, options.version)
      return openapi
    },
    events: (res, principal, secret, since) => events.add(res, principal, secret, since),
  }
  const notifier = changeNotifier(ctx, log)
  // The gateway routes on this store, and the reclaim of team gateways' expired leases.
  const gateways = await startTeamGateways({ ctx, cp, log, reclaimEveryMs: options.leaseReclaimMs })

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (gateways.serves(req, res)) return
    const requestId = newId('req')
    const started = performance.now()
    let label = 'unmatched'
    metrics.inFlight++
    res.on('close', () => {
      metrics.inFlight--
      metrics.observe(label, res.statusCode, (performance.now() - started) / 1000)
    })
    req.on('error', () => {})
    res.on('error', () => {})
    for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value)
    if (options.tls) res.setHeader('strict-transport-security', 'max-age=31536000')
    res.setHeader('x-request-id', requestId)
    void dispatch(req, res, requestId, (matched) => {
      label = matched
    }).catch((error: unknown) => fail(res, error, requestId, req))
  }

  const dispatch = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    matched: (label: string) => void,
  ): Promise<void> => {
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    if (url.length > MAX_URL_LENGTH)
      throw new HttpError(414, 'URI_TOO_LONG', `The URL is longer than ${MAX_URL_LENGTH} characters`)
    if (!url.startsWith('/')) throw new HttpError(400, 'INVALID_PATH', 'The request target must be a path')
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const { route, params } = router.match(method, path)
    matched(`${route.method} ${route.path}`)
    const head = method === 'HEAD'

    // The lease protocol's routes take an agent's IC token, which they check themselves.
    const secret = route.access === 'agent' ? undefined : bearerOf(req)
    const principal =
      route.access === 'open' || route.access === 'agent'
        ? undefined
        : authorize(auth(), secret, route.access)

    const problems: FieldError[] = []
    const parse = <T>(location: FieldLocation, schema: z.ZodType | undefined, value: unknown): T => {
      if (!schema) return value as T
      const result = schema.safeParse(value)
      if (result.success) return result.data as T
      problems.push(...issuesToFields(location, result.error.issues))
      return undefined as T
    }
    const parsedParams = parse<Record<string, unknown>>('params', route.params, params)
    const parsedQuery = parse<Record<string, unknown>>(
      'query',
      route.query,
      queryObject(q === -1 ? '' : url.slice(q + 1), route.query === undefined, problems),
    )
    let body: unknown
    if (method === 'GET' || method === 'HEAD') discardBody(req)
    else body = await readJsonBody(req, { timeoutMs: options.bodyTimeoutMs })
    if (route.precheck && body !== undefined) route.precheck(body)
    if (route.body) {
      // No body is an empty object; a body of null is not.
      body = parse('body', route.body, body === undefined ? {} : body)
    } else if (body !== undefined && !isEmptyObject(body)) {
      problems.push({ location: 'body', path: '', code: 'unexpected', message: 'this route takes no body' })
    }
    if (problems.length > 0) throw validationError(problems)

    const run = async () =>
      route.handler({
        cp,
        server: facilities,
        params: parsedParams,
        query: parsedQuery,
        body,
        principal,
        secret,
        req,
        res,
        requestId,
        client: clientAddress(req, trusted),
        head,
      })
    const value = principal ? await runAs(principal, run) : await run()
    if (route.mutates) notifier()
    if (route.kind === 'raw') return
    if (route.kind === 'list') {
      const items = value as Array<Record<string, unknown>>
      const orderKey = route.orderKey as (item: unknown) => Array<string | number>
      return sendJson(
        res,
        200,
        paginate(items, {
          limit: parsedQuery?.limit as number | undefined,
          cursor: parsedQuery?.cursor as string | undefined,
          key: orderKey,
          id: (item) => (typeof item.id === 'string' ? item.id : JSON.stringify(orderKey(item))),
        }),
        {},
        head,
      )
    }
    if (route.status === 204) {
      res.writeHead(204)
      return void res.end()
    }
    sendJson(res, route.status ?? 200, value, {}, head)
  }

  const fail = (res: ServerResponse, error: unknown, requestId: string, req: IncomingMessage) => {
    const status = statusOf(error)
    if (status >= 500 && !(error instanceof IronError))
      log(
        `iron serve: ${requestId} ${req.method} ${req.url?.split('?')[0]} from ${clientAddress(req, trusted)}: ${(error as Error)?.stack ?? error}`,
      )
    if (res.headersSent) {
      // A stream that had started cannot carry an error: cut it, so the client sees it incomplete.
      res.destroy()
      return
    }
    const headers: Record<string, string> = { ...(error instanceof HttpError ? error.headers : {}) }
    if (status === 401) headers['www-authenticate'] = CHALLENGE
    if (status === 429 && !headers['retry-after']) {
      const retry = (error as IronError).details?.retry_after_seconds
      if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry)))
    }
    sendJson(res, status, errorBody(error, requestId), headers, req.method === 'HEAD')
  }

  const headersTimeout = options.headersTimeoutMs ?? 15_000
  const serverOptions = {
    keepAliveTimeout: 65_000,
    headersTimeout,
    requestTimeout: 60_000,
    connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(headersTimeout / 3))),
    maxHeaderSize: 16 * 1024,
  }
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, handle)
    : createHttpServer(serverOptions, handle)
  // A request Node could not parse (bad syntax, headers past 16 KiB, too slow): answered in the same shape.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy()
    const [status, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'The request headers are larger than 16 KiB']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time']
          : [400, 'BAD_REQUEST', 'The request is not valid HTTP']
    const requestId = newId('req')
    const body = JSON.stringify(errorBody(new HttpError(status, code, message), requestId))
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `x-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // Once listening (so that a start that fails leaves no connection behind): on PostgreSQL, what other
  // replicas commit is heard at once: their audit events (for the event stream)
  // and their changes (a price table of their making). After a reconnect, the stream reads what it missed.
  let listener: Awaited<ReturnType<typeof listenPostgres>> | undefined
  if (ctx.store.kind === 'postgres') {
    try {
      listener = await listenPostgres(
        ctx.store.url,
        {
          [AUDIT_CHANNEL]: () => events.wake(),
          [CHANGES_CHANNEL]: (domain) => {
            if (domain === 'prices') cp.pricing.invalidate()
          },
        },
        () => {
          cp.pricing.invalidate()
          events.wake()
        },
      )
    } catch (error) {
      // Not fatal: the event stream's poll still reads what other replicas append.
      log(
        `iron serve: cannot LISTEN on the database (${(error as Error).message}); other replicas' events come with the poll`,
      )
    }
  }
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}`

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      events.close()
      server.close()
      server.closeIdleConnections()
      const deadline = Date.now() + (options.drainMs ?? 10_000)
      while ((metrics.inFlight > 0 || gateways.inFlight > 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      server.closeAllConnections()
      await gateways.close()
      await notifier.flush()
      await listener?.close()
      metrics.close()
    })()
    return closing
  }
  return { url, cp, metrics, close }
}

/** The query string as an object; a name given twice is kept as an array (and refused by its schema). */
function queryObject(text: string, noneExpected: boolean, problems: FieldError[]): Record<string, unknown> {
  const out: Record<string, string | string[]> = {}
  if (text === '') return out
  let params: URLSearchParams
  try {
    params = new URLSearchParams(text)
  } catch {
    problems.push({ location: 'query', path: '', code: 'invalid', message: 'not a valid query string' })
    return out
  }
  for (const [name, value] of params) {
    const known = out[name]
    out[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value]
  }
  if (noneExpected && Object.keys(out).length > 0) {
    problems.push({
      location: 'query',
      path: Object.keys(out)[0]!,
      code: 'unrecognized_keys',
      message: 'this route takes no query parameters',
    })
  }
  return out
}

const isEmptyObject = (value: unknown) =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0

/**
 * Tell the gateways running on this store that something changed (a revoked token must be refused at
 * once), as commands do when they end: after a change, batched over a short delay.
 */
function changeNotifier(ctx: LocalContext, log: (line: string) => void) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  const run = () => {
    timer = undefined
    running = running
      .then(() => ctx.notifyChanges())
      .catch((error: unknown) => log(`iron serve: could not notify gateways: ${(error as Error).message}`))
  }
  // Bound to the server's own context: a timer made in a request would run as that request's principal.
  const notify = AsyncLocalStorage.bind(() => {
    timer ??= setTimeout(run, NOTIFY_DELAY_MS)
    timer.unref()
  }) as (() => void) & { flush: () => Promise<void> }
  notify.flush = async () => {
    if (timer) {
      clearTimeout(timer)
      run()
    }
    await running
  }
  return notify
}

export type { Principal }
