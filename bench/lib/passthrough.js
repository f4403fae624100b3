// A bare node:http pass-through proxy: the floor the gateway is compared against. It forwards method, path,
// headers and body to the upstream over a keep-alive undici Pool and streams the response back as it
// arrives (no response buffering; backpressure is passed on). It does nothing else.
//
//   const proxy = await startPassthrough({ upstream: mock.url })
//   ... requests to proxy.url ...
//   await proxy.close()
import { createServer } from 'node:http'
import { Pool } from 'undici'
import { listenOnLoopback } from './serve.js'

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

/**
 * @typedef {object} PassthroughOptions
 * @property {string} upstream Upstream base URL, e.g. http://127.0.0.1:9100 (a path prefix is kept).
 * @property {number} [port] Port on 127.0.0.1 (default 0: any free port).
 * @property {number | null} [connections] Upstream connection limit (default null: one per concurrent request).
 * @property {boolean} [bufferRequest] Read the whole request body before forwarding it, as a gateway that
 *   inspects the body must (default true); false streams it through.
 */

/**
 * Starts the pass-through proxy.
 * @param {PassthroughOptions} options
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function startPassthrough(options) {
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

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {Record<string, string | string[] | undefined>} headers
   * @param {Buffer | import('node:stream').Readable | null} body
   */
  function forward(req, res, headers, body) {
    /** @type {any} */
    let controller = null
    let done = false
    res.once('close', () => {
      if (!done && controller && !controller.aborted)
        controller.abort(new Error('client closed the connection'))
    })
    pool.dispatch(
      { path: basePath + (req.url ?? '/'), method: req.method ?? 'GET', headers, body },
      {
        onRequestStart(c) {
          controller = c
          if (res.destroyed) c.abort(new Error('client closed the connection'))
        },
        onResponseStart(_c, statusCode, upstreamHeaders, statusMessage) {
          if (statusCode < 200) return
          /** @type {Record<string, string | string[]>} */
          const out = {}
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
    /** @type {Record<string, string | string[] | undefined>} */
    const headers = {}
    const incoming = req.headers
    for (const key in incoming) if (!HOP.has(key)) headers[key] = incoming[key]
    const hasBody = incoming['content-length'] !== undefined || incoming['transfer-encoding'] !== undefined
    if (!hasBody) return forward(req, res, headers, null)
    if (!bufferRequest) return forward(req, res, headers, req)
    /** @type {Buffer[]} */
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      headers['content-length'] = String(body.length)
      forward(req, res, headers, body)
    })
  })
  server.keepAliveTimeout = 75_000
  server.on('connection', (socket) => socket.setNoDelay(true))
  server.on('clientError', (_error, socket) => socket.destroy())

  await listenOnLoopback(server, options.port)
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  let closed = null
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
