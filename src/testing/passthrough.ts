// A bare node:http pass-through proxy: the floor the gateway is compared against. It forwards method, path,
// headers and body to the upstream over a keep-alive undici Pool and streams the response back as it
// arrives (no response buffering; backpressure is passed on). It does nothing else.
//
//   const proxy = await startPassthrough({ upstream: mock.url })
//   ... requests to proxy.url ...
//   await proxy.close()
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { type Dispatcher, Pool } from 'undici'
import { listenOnLoopback } from './loopback.js'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and Host, which the upstream connection sets itself. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
])

export interface PassthroughOptions {
  /** Upstream base URL, e.g. http://127.0.0.1:9100 (a path prefix is kept). */
  upstream: string
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number
  /** Upstream connection limit (default null: one per concurrent request). */
  connections?: number | null
  /**
   * Read the whole request body before forwarding it, as a gateway that inspects the body must (default
   * true); false streams it through.
   */
  bufferRequest?: boolean
}

export interface Passthrough {
  url: string
  port: number
  close: () => Promise<void>
}

/** Starts the pass-through proxy. */
export async function startPassthrough(options: PassthroughOptions): Promise<Passthrough> {
  const target = new URL(options.upstream)
  const basePath = target.pathname.replace(/\/+$/, '')
  const bufferRequest = options.bufferRequest ?? true
  const pool = new Pool(target.origin, {
    connections: options.connections ?? null,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 300_000,
    bodyTimeout: 300_000,
  })

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer | Readable | null,
  ) {
    let controller: Dispatcher.DispatchController | null = null
    let done = false
    res.once('close', () => {
      if (!done && controller && !controller.aborted)
        controller.abort(new Error('client closed the connection'))
    })
    pool.dispatch(
      {
        path: basePath + (req.url ?? '/'),
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body,
      },
      {
        onRequestStart(c) {
          controller = c
          if (res.destroyed) c.abort(new Error('client closed the connection'))
        },
        onResponseStart(_c, statusCode, upstreamHeaders, statusMessage) {
          if (statusCode < 200) return
          const out: OutgoingHttpHeaders = {}
          for (const key in upstreamHeaders) if (!HOP.has(key)) out[key] = upstreamHeaders[key]
          res.writeHead(statusCode, statusMessage, out)
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause()
            res.once('drain', () => c.resume())
          }
        },
        onResponseEnd() {
          done = true
          res.end()
        },
        onResponseError(_c, error) {
          done = true
          if (res.headersSent) {
            res.destroy(error)
            return
          }
          const message = JSON.stringify({
            error: { message: `upstream error: ${error.message}`, type: 'proxy_error' },
          })
          res.writeHead(502, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(message),
          })
          res.end(message)
        },
      },
    )
  }

  const server = createServer({ requestTimeout: 0 }, (req, res) => {
    const headers: Record<string, string | string[] | undefined> = {}
    const incoming = req.headers
    for (const key in incoming) if (!HOP.has(key)) headers[key] = incoming[key]
    const hasBody = incoming['content-length'] !== undefined || incoming['transfer-encoding'] !== undefined
    if (!hasBody) return forward(req, res, headers, null)
    if (!bufferRequest) return forward(req, res, headers, req)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      headers['content-length'] = String(body.length)
      forward(req, res, headers, body)
    })
  })
  server.keepAliveTimeout = 75_000
  server.on('connection', (socket) => socket.setNoDelay(true))
  server.on('clientError', (_error, socket) => socket.destroy())

  await listenOnLoopback(server, options.port)
  const port = (server.address() as AddressInfo).port
  let closed: Promise<void> | null = null
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close() {
      closed ??= Promise.all([
        new Promise((resolve) => {
          server.close(() => resolve(undefined))
          server.closeAllConnections()
        }),
        pool.destroy(),
      ]).then(() => undefined)
      return closed
    },
  }
}
