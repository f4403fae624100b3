import { Readable } from 'node:stream'
import { errors, Pool } from 'undici'

export interface UpstreamRequest {
  url: URL
  headers: Record<string, string>
  body: string | Buffer
  signal: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
}

export interface UpstreamTimeouts {
  connectMs: number
  /** Until the response headers arrive (a non-streamed completion arrives whole, so this is long). */
  headersMs: number
  /** Between two chunks of the body. */
  bodyMs: number
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = { connectMs: 10_000, headersMs: 600_000, bodyMs: 300_000 }

/** Errors that happen before a byte of the request left: retrying cannot run the request twice. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT',
])

export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Whether the upstream never answered at all (connection), as opposed to failing mid-way. */
    readonly beforeResponse: boolean,
  ) {
    super(message)
  }
}

/** undici pools per upstream origin, with keep-alive, timeouts and one retry on connection failure. */
export class Upstreams {
  readonly #pools = new Map<string, Pool>()

  constructor(private readonly timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS) {}

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin)
    if (!pool) {
      pool = new Pool(origin, {
        connections: 4096,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connectTimeout: this.timeouts.connectMs,
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
      })
      this.#pools.set(origin, pool)
    }
    return pool
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const pool = this.#pool(request.url.origin)
    const options = {
      path: request.url.pathname + request.url.search,
      method: 'POST' as const,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await pool.request(options)
        return { status: response.statusCode, headers: response.headers, body: response.body }
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        if (attempt === 0 && CONNECT_ERRORS.has(code) && !request.signal.aborted) continue
        throw toUpstreamError(error)
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close().catch(() => pool.destroy())))
    this.#pools.clear()
  }
}

export function toUpstreamError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error
  const code = (error as { code?: string }).code ?? 'UPSTREAM_ERROR'
  const message = (error as Error).message ?? String(error)
  if (error instanceof errors.HeadersTimeoutError)
    return new UpstreamError('UPSTREAM_TIMEOUT', 'the provider did not answer in time', true)
  if (error instanceof errors.BodyTimeoutError)
    return new UpstreamError('UPSTREAM_TIMEOUT', 'the provider stopped sending', false)
  if (CONNECT_ERRORS.has(code))
    return new UpstreamError('UPSTREAM_UNREACHABLE', `cannot reach the provider (${code})`, true)
  return new UpstreamError('UPSTREAM_FAILED', `the provider connection failed (${code}: ${message})`, true)
}

/** A finished response made in-process (the mock provider), in the same form as a real one. */
export function localResponse(
  status: number,
  contentType: string,
  chunks: AsyncIterable<string> | string,
): UpstreamResponse {
  const body = typeof chunks === 'string' ? Readable.from([Buffer.from(chunks)]) : Readable.from(chunks)
  return { status, headers: { 'content-type': contentType }, body }
}
