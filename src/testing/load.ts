// A closed-loop HTTP load driver on undici: `concurrency` workers each send requests back to back over a
// keep-alive Pool with one connection per worker, read every body to its end, and time each request with
// process.hrtime.bigint() (latency to the last body byte; TTFB to the first body byte).
//
//   const r = await runLoad({ url: mock.url, path: '/v1/chat/completions', body, concurrency: 16, requests: 5000 })
//   r.latency.p50, r.ttfb.p99, r.rps, r.errors
import { type Dispatcher, Pool } from 'undici'
import { type Summary, summarize } from './stats.js'

type Body = object | string | null | undefined

export interface LoadOptions {
  /** Target base URL: an origin, optionally with a path prefix (prepended to `path`). */
  url: string
  /** Request path (default '/'). */
  path?: string
  /** Default 'POST' when there is a body, else 'GET'. */
  method?: string
  /**
   * A JSON body (serialized once), a string sent as is, or a function of the request index (0-based,
   * warm-up included).
   */
  body?: Body | ((i: number) => Body)
  /** Extra request headers (content-type is set for bodies). */
  headers?: Record<string, string>
  /** Workers, and pool connections (default 1). */
  concurrency?: number
  /** Measured requests in total (after warm-up). Default 1000 unless durationMs. */
  requests?: number
  /** Measure for this long instead (bounded by maxRequests too). */
  durationMs?: number
  /** Hard bound on measured requests in duration mode (default 10_000_000). */
  maxRequests?: number
  /**
   * Streaming requests: object bodies get `stream: true` (unless they set `stream`) and
   * `accept: text/event-stream` is sent.
   */
  stream?: boolean
  /** Requests sent first, with the same concurrency, and discarded (default 0). */
  warmup?: number
  /** Headers and body timeout per request (default 30_000). */
  timeoutMs?: number
  /**
   * Validates each 2xx response (its whole body is then kept in memory); a false counts as an error under
   * statusCounts.check.
   */
  check?: (status: number, body: Buffer) => boolean
}

export interface LoadResult {
  /** Measured requests that completed (successfully or not). */
  count: number
  /** 2xx responses that passed `check`. */
  ok: number
  /** Non-2xx responses, network errors and failed checks. */
  errors: number
  /** By status code, or error code (e.g. ECONNRESET, check). */
  statusCounts: Record<string, number>
  /** The first few error messages. */
  errorSamples: string[]
  /** Completed requests per second over the measured phase. */
  rps: number
  /** Milliseconds to the last body byte, successful requests. */
  latency: Summary
  /** Milliseconds to the first body byte, successful requests. */
  ttfb: Summary
  /** Duration of the measured phase. */
  elapsedMs: number
  /** Response body bytes received in the measured phase. */
  bytes: number
}

interface Outcome {
  status: number
  start: bigint
  first: bigint
  end: bigint
  bytes: number
  chunks: Buffer[] | null
  error: Error | null
}

const NS_PER_MS = 1e6

/** One request over the pool; never rejects. */
function once(pool: Pool, options: Dispatcher.DispatchOptions, keepBody: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const r: Outcome = {
      status: 0,
      start: process.hrtime.bigint(),
      first: 0n,
      end: 0n,
      bytes: 0,
      chunks: keepBody ? [] : null,
      error: null,
    }
    pool.dispatch(options, {
      onRequestStart() {},
      onResponseStart(_controller, statusCode) {
        r.status = statusCode
      },
      onResponseData(_controller, chunk) {
        if (r.first === 0n) r.first = process.hrtime.bigint()
        r.bytes += chunk.length
        r.chunks?.push(chunk)
      },
      onResponseEnd() {
        r.end = process.hrtime.bigint()
        if (r.first === 0n) r.first = r.end
        resolve(r)
      },
      onResponseError(_controller, error) {
        r.end = process.hrtime.bigint()
        r.error = error
        resolve(r)
      },
    })
  })
}

/** Runs a closed-loop load and summarizes it. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url)
  const prefix = target.pathname.replace(/\/+$/, '')
  const path = prefix + (options.path ?? '/')
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1))
  const warmup = Math.max(0, Math.floor(options.warmup ?? 0))
  const durationMs = options.durationMs
  const requests =
    durationMs === undefined
      ? Math.max(1, Math.floor(options.requests ?? 1000))
      : Math.max(1, Math.floor(options.maxRequests ?? 10_000_000))
  const timeoutMs = options.timeoutMs ?? 30_000
  const stream = options.stream === true
  const check = options.check

  const headers: Record<string, string> = {
    ...(stream ? { accept: 'text/event-stream' } : {}),
    ...options.headers,
  }
  const serialize = (value: Body): string | null => {
    if (value === null || value === undefined) return null
    if (typeof value === 'string') return value
    const object =
      stream && (value as { stream?: unknown }).stream === undefined ? { ...value, stream: true } : value
    return JSON.stringify(object)
  }
  const bodyOption = options.body
  const fixedBody = typeof bodyOption === 'function' ? undefined : serialize(bodyOption)
  const hasBody = typeof bodyOption === 'function' || fixedBody !== null
  if (hasBody && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json'
  }
  const method = (options.method ?? (hasBody ? 'POST' : 'GET')) as Dispatcher.HttpMethod
  const fixedRequest: Dispatcher.DispatchOptions | null =
    fixedBody === undefined
      ? null
      : { path, method, headers, body: fixedBody, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
  const requestFor = (i: number): Dispatcher.DispatchOptions =>
    fixedRequest ?? {
      path,
      method,
      headers,
      body: serialize((bodyOption as (i: number) => Body)(i)),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    }

  const pool = new Pool(target.origin, {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  })

  let index = 0
  try {
    // Warm-up: same concurrency, results discarded (opens the connections, warms the JITs on both sides).
    if (warmup > 0) {
      let left = warmup
      const warm = async () => {
        while (left > 0) {
          left--
          await once(pool, requestFor(index++), false)
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, warmup) }, warm))
    }

    const latency: number[] = []
    const ttfb: number[] = []
    const statusCounts: Record<string, number> = {}
    const errorSamples: string[] = []
    let count = 0
    let ok = 0
    let bytes = 0
    let issued = 0
    const start = process.hrtime.bigint()
    const deadline = durationMs === undefined ? undefined : start + BigInt(Math.round(durationMs * NS_PER_MS))
    const noteError = (key: string, message: string) => {
      statusCounts[key] = (statusCounts[key] ?? 0) + 1
      if (errorSamples.length < 5) errorSamples.push(message)
    }

    const worker = async () => {
      while (issued < requests) {
        if (deadline !== undefined && process.hrtime.bigint() >= deadline) break
        issued++
        const r = await once(pool, requestFor(index++), check !== undefined)
        count++
        bytes += r.bytes
        if (r.error) {
          const code = (r.error as Error & { code?: string }).code ?? r.error.name ?? 'error'
          noteError(code, `${code}: ${r.error.message}`)
          continue
        }
        statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1
        if (r.status < 200 || r.status > 299) {
          if (errorSamples.length < 5) errorSamples.push(`HTTP ${r.status}`)
          continue
        }
        if (check && !check(r.status, Buffer.concat(r.chunks as Buffer[]))) {
          noteError('check', `check failed (HTTP ${r.status})`)
          continue
        }
        ok++
        latency.push(Number(r.end - r.start) / NS_PER_MS)
        ttfb.push(Number(r.first - r.start) / NS_PER_MS)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    const elapsedMs = Number(process.hrtime.bigint() - start) / NS_PER_MS
    return {
      count,
      ok,
      errors: count - ok,
      statusCounts,
      errorSamples,
      rps: count / (elapsedMs / 1000),
      latency: summarize(latency),
      ttfb: summarize(ttfb),
      elapsedMs,
      bytes,
    }
  } finally {
    await pool.close().catch(() => pool.destroy())
  }
}
