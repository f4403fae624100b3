import { type Dispatcher, errors, Pool } from 'undici'

export interface UpstreamRequest {
  url: URL
  headers: Record<string, string>
  body: string | Buffer
  signal: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: UpstreamBody
}

/**
 * What `each` may answer for a chunk: nothing (go on), a promise (hold the upstream until it settles:
 * backpressure from the client), or false (stop: the rest is not wanted, and the upstream is cut).
 */
export type ChunkVerdict = undefined | false | Promise<void>

/** A response body, read once: chunk by chunk as it arrives (streams), or whole (JSON). */
export interface UpstreamBody {
  /** Calls `onChunk` for each chunk in order; resolves at the end (or on false), rejects if the body fails. */
  each(onChunk: (chunk: Buffer) => ChunkVerdict): Promise<void>
}

/** The whole body as text; rejects beyond `limit` bytes, or if the body fails. */
export async function readText(body: UpstreamBody, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  await body.each((chunk) => {
    size += chunk.length
    if (size > limit) throw new Error('the provider answered more than the gateway accepts')
    chunks.push(chunk)
    return undefined
  })
  return Buffer.concat(chunks, size).toString('utf8')
}

/**
 * A body fed by undici's dispatcher callbacks, without a Readable in between. What one socket read brings
 * (often several SSE events, each its own HTTP chunk) reaches the reader as one chunk, right after the
 * parser is done with it; chunks queue while the reader is not there yet or waits for the client.
 */
class DispatchedBody implements UpstreamBody {
  controller: Dispatcher.DispatchController | undefined
  #queue: Buffer[] = []
  #state: 'open' | 'ended' | 'failed' = 'open'
  #error: Error | undefined
  #onChunk: ((chunk: Buffer) => ChunkVerdict) | undefined
  #waiting = false
  #scheduled = false
  #settled = false
  #resolve: (() => void) | undefined
  #reject: ((error: Error) => void) | undefined

  each(onChunk: (chunk: Buffer) => ChunkVerdict): Promise<void> {
    if (this.#onChunk) return Promise.reject(new Error('the upstream body is read once'))
    return new Promise<void>((resolve, reject) => {
      this.#onChunk = onChunk
      this.#resolve = resolve
      this.#reject = reject
      this.#pump()
    })
  }

  push(chunk: Buffer): void {
    if (this.#settled) return
    this.#queue.push(chunk)
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(() => {
        this.#scheduled = false
        this.#pump()
      })
    }
  }

  end(): void {
    this.#state = 'ended'
    this.#pump()
  }

  fail(error: Error): void {
    this.#state = 'failed'
    this.#error = error
    this.#pump()
  }

  #pump(): void {
    if (!this.#onChunk) return
    if (!this.#waiting && !this.#settled && this.#queue.length > 0) {
      const queued = this.#queue
      this.#queue = []
      this.#deliver(queued.length === 1 ? queued[0]! : Buffer.concat(queued))
    }
    if (this.#waiting || this.#settled || this.#state === 'open' || this.#queue.length > 0) return
    this.#settled = true
    if (this.#state === 'failed') this.#reject!(this.#error!)
    else this.#resolve!()
  }

  #deliver(chunk: Buffer): void {
    let verdict: ChunkVerdict
    try {
      verdict = this.#onChunk!(chunk)
    } catch (error) {
      this.#stop(error as Error)
      return
    }
    if (verdict === false) this.#stop()
    else if (verdict) {
      this.#waiting = true
      this.controller?.pause()
      verdict.then(
        () => {
          this.#waiting = false
          this.controller?.resume()
          this.#pump()
        },
        (error: Error) => this.#stop(error),
      )
    }
  }

  /** The reader is done (or failed): settle it, drop what is queued, and cut the upstream if still open. */
  #stop(error?: Error): void {
    if (this.#settled) return
    this.#settled = true
    this.#queue = []
    if (this.#state === 'open' && this.controller && !this.controller.aborted)
      this.controller.abort(new Error('the gateway stopped reading'))
    if (error) this.#reject!(error)
    else this.#resolve!()
  }
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
    for (let attempt = 0; ; attempt++) {
      try {
        return await dispatch(pool, request)
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

/** One request through undici's dispatcher: resolves with the status and headers, the body to follow. */
function dispatch(pool: Pool, request: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => {
    const { signal } = request
    const body = new DispatchedBody()
    let started = false
    const onAbort = () => body.controller?.abort(new errors.RequestAbortedError())
    const done = () => signal.removeEventListener('abort', onAbort)
    pool.dispatch(
      {
        path: request.url.pathname + request.url.search,
        method: 'POST',
        headers: request.headers,
        body: request.body,
      },
      {
        onRequestStart(controller) {
          body.controller = controller
          if (signal.aborted) controller.abort(new errors.RequestAbortedError())
          else signal.addEventListener('abort', onAbort, { once: true })
        },
        onResponseStart(_controller, status, headers) {
          if (status < 200) return
          started = true
          resolve({ status, headers: headers as UpstreamResponse['headers'], body })
        },
        onResponseData(_controller, chunk) {
          body.push(chunk)
        },
        onResponseEnd() {
          done()
          body.end()
        },
        onResponseError(_controller, error) {
          done()
          if (started) body.fail(error)
          else reject(error)
        },
      },
    )
  })
}

/** A body made in-process (the mock provider): a whole text, or chunks as an async iterable yields them. */
class LocalBody implements UpstreamBody {
  constructor(private readonly chunks: AsyncIterable<string> | string) {}

  async each(onChunk: (chunk: Buffer) => ChunkVerdict): Promise<void> {
    if (typeof this.chunks === 'string') {
      await onChunk(Buffer.from(this.chunks))
      return
    }
    for await (const chunk of this.chunks) {
      const verdict = onChunk(Buffer.from(chunk))
      if (verdict === false) return
      if (verdict) await verdict
    }
  }
}

/** A finished response made in-process (the mock provider), in the same form as a real one. */
export function localResponse(
  status: number,
  contentType: string,
  chunks: AsyncIterable<string> | string,
): UpstreamResponse {
  return { status, headers: { 'content-type': contentType }, body: new LocalBody(chunks) }
}
