import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GatewayProvider } from '../services/gateway-control.js'

/** HTTP plumbing of the gateway: reading bodies within limits, credentials in and out, back-pressure. */

export function tokenFrom(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization
  if (authorization?.toLowerCase().startsWith('bearer ')) return authorization.slice(7).trim() || undefined
  const key = req.headers['x-api-key']
  return typeof key === 'string' && key.trim() ? key.trim() : undefined
}

/** Client headers the provider must not see: credentials, hop-by-hop and iron's own. */
const DROPPED_HEADERS = new Set([
  'authorization',
  'x-api-key',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-connection',
  'content-length',
  'cookie',
  'accept-encoding',
])

/** The client's headers (SDK metadata, beta flags, idempotency keys) with the provider's credentials swapped in. */
export function upstreamHeaders(
  provider: Pick<GatewayProvider, 'kind'>,
  key: string | null,
  req: IncomingMessage,
): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (
      value === undefined ||
      DROPPED_HEADERS.has(name) ||
      name.startsWith('x-iron-') ||
      name.startsWith('x-forwarded-')
    )
      continue
    headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  headers['content-type'] = 'application/json'
  if (provider.kind === 'anthropic') {
    headers['anthropic-version'] ??= '2023-06-01'
    if (key) headers['x-api-key'] = key
  } else if (key) {
    headers.authorization = `Bearer ${key}`
  }
  return headers
}

export function upstreamErrorCode(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; type?: unknown } }).error
    return String(error?.code ?? error?.type ?? 'upstream_error')
  } catch {
    return 'upstream_error'
  }
}

/** The request body, up to `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'aborted'> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    return Promise.resolve('too_large')
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (value: Buffer | 'too_large' | 'aborted') => {
      if (done) return
      done = true
      resolve(value)
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.pause()
        finish('too_large')
      } else {
        chunks.push(chunk)
      }
    })
    req.on('end', () => finish(Buffer.concat(chunks, size)))
    req.on('aborted', () => finish('aborted'))
    req.on('error', () => finish('aborted'))
    req.on('close', () => finish(req.complete ? Buffer.concat(chunks, size) : 'aborted'))
  })
}

export function drainOrClose(res: ServerResponse): Promise<void> {
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
