import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientAddressOf, type TrustedProxies } from '../core/trusted-proxies.js'
import { HttpError } from './errors.js'

/** HTTP plumbing of `iron serve`: bodies read within a size and a time, JSON in and out, common headers. */

export const MAX_BODY_BYTES = 1024 * 1024
export const BODY_TIMEOUT_MS = 10_000

/** Headers on every answer: nothing cached, nothing sniffed, nothing framed, no referrer; never CORS. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
}

/**
 * The request body: at most `limit` bytes (413 past it, decided from Content-Length before reading when it
 * is declared), and within `timeoutMs` (408 for a client that trickles). Only JSON is accepted (415).
 */
export async function readJsonBody(
  req: IncomingMessage,
  options: { limit?: number; timeoutMs?: number } = {},
): Promise<unknown> {
  const limit = options.limit ?? MAX_BODY_BYTES
  const encoding = String(req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase()
  if (encoding !== 'identity' && encoding !== '') {
    discardBody(req)
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `Bodies in ${encoding.slice(0, 40)} are not taken`, {
      hint: 'Send the JSON uncompressed (no Content-Encoding)',
      headers: { connection: 'close' },
    })
  }
  const raw = await readBody(req, limit, options.timeoutMs ?? BODY_TIMEOUT_MS)
  if (raw.length === 0) return undefined
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase()
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      type ? `The body is ${type}; iron serve takes JSON only` : 'The body has no Content-Type',
      { hint: 'Send Content-Type: application/json with a JSON body' },
    )
  }
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(String(req.headers['content-type']))?.[1]
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `The body's charset is ${charset}; use utf-8`, {
      hint: 'Send Content-Type: application/json; charset=utf-8',
    })
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(raw)
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpError(400, 'INVALID_JSON', `The body is not valid JSON: ${(error as Error).message}`, {
      hint: 'Send a JSON object, for example {"name": "support-bot"}',
    })
  }
}

function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, 'BODY_TOO_LARGE', `The body is larger than ${limit} bytes`, {
      hint: 'Send less at once',
      headers: { connection: 'close' },
    })
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) {
    req.resume()
    return Promise.reject(tooLarge())
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (error: HttpError | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('close', onClose)
      if (error) {
        // Read no more of it; the connection closes after the answer.
        req.pause()
        reject(error)
      } else {
        resolve(Buffer.concat(chunks, size))
      }
    }
    const timer = setTimeout(
      () =>
        finish(
          new HttpError(408, 'REQUEST_TIMEOUT', `The body did not arrive within ${timeoutMs / 1000}s`, {
            hint: 'Send the whole request at once',
            headers: { connection: 'close' },
          }),
        ),
      timeoutMs,
    )
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) finish(tooLarge())
      else chunks.push(chunk)
    }
    const onEnd = () => finish(undefined)
    const onClose = () =>
      finish(req.complete ? undefined : new HttpError(400, 'CLIENT_CLOSED', 'The client left mid-body'))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('close', onClose)
  })
}

/** Drop a body nobody reads (GET, or a route without one), so the connection can be reused. */
export function discardBody(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume()
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  head = false,
): void {
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers, head)
}

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
  head = false,
): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  })
  res.end(head ? undefined : body)
}

/** Wait until the socket takes more (back-pressure), or the client is gone. */
export function drained(res: ServerResponse): Promise<void> {
  if (!res.writableNeedDrain || res.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/**
 * The client's address (login rate limits, audit records, logs): the TCP peer, or, when the peer is one of
 * `trusted` (config serve.trusted_proxies), what X-Forwarded-For says past the trusted proxies. An untrusted
 * peer's forwarded headers are ignored: anyone can send them.
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies | undefined): string {
  return clientAddressOf(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted)
}
